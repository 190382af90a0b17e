// Other people's carets, kept in step with the text (presence.js and caretMarks).
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { caretMarks } from "../../editor/static/editor/cursors.js";
import { Presence } from "../../editor/static/editor/presence.js";

function person(session, caret, rev, seq = 1, name = session) {
  return { type: "person", session, seq, name, color: "#123456", caret, rev };
}

describe("Presence", () => {
  test("a caret on the current revision is taken as it is", () => {
    const presence = new Presence();
    presence.startOver(5);
    presence.update(person("a", [2, 4], 5));
    assert.deepEqual(presence.people.get("a").caret, [2, 4]);
  });

  test("carets follow every revision; the author's own insert pushes its caret along", () => {
    const presence = new Presence();
    presence.startOver(0);
    presence.update(person("a", [3, 3], 0));
    presence.update(person("b", [3, 3], 0));
    presence.revision(1, [3, "xy", 2], "a"); // a typed at its caret
    assert.deepEqual(presence.people.get("a").caret, [5, 5]);
    assert.deepEqual(presence.people.get("b").caret, [3, 3]);
    presence.revision(2, ["!", 7], "c"); // someone inserts before both
    assert.deepEqual(presence.people.get("a").caret, [6, 6]);
    assert.deepEqual(presence.people.get("b").caret, [4, 4]);
  });

  test("a caret about an older revision is brought forward through recent history", () => {
    const presence = new Presence();
    presence.startOver(0);
    presence.revision(1, ["ab", 5], "x");
    presence.revision(2, [2, -1, 4], "x");
    presence.update(person("a", [5, 5], 0));
    assert.deepEqual(presence.people.get("a").caret, [6, 6]);
  });

  test("a caret about a revision not reached yet waits for it", () => {
    const presence = new Presence();
    presence.startOver(0);
    presence.update(person("a", [1, 1], 1));
    assert.equal(presence.people.get("a").caret, null);
    assert.equal(presence.people.get("a").name, "a", "the name is shown at once");
    presence.revision(1, ["Z", 3], "a");
    assert.deepEqual(presence.people.get("a").caret, [1, 1]);
  });

  test("a caret older than the history kept is dropped, not guessed", () => {
    const presence = new Presence();
    presence.startOver(0);
    for (let rev = 1; rev <= 250; rev++)
      presence.revision(
        rev,
        [rev - 1, "x"].filter((c) => c !== 0),
        "x",
      );
    presence.update(person("a", [0, 0], 10));
    assert.equal(presence.people.get("a").caret, null);
  });

  test("an older frame arriving late does not undo a newer one", () => {
    const presence = new Presence();
    presence.startOver(0);
    presence.update(person("a", [4, 4], 0, 7, "New name"));
    presence.update(person("a", null, null, 3, "Old name"));
    assert.equal(presence.people.get("a").name, "New name");
    assert.deepEqual(presence.people.get("a").caret, [4, 4]);
  });

  test("leaving removes the person, and a late frame about them does not bring them back", () => {
    const presence = new Presence();
    presence.startOver(0);
    presence.update(person("a", null, null));
    presence.leave("a");
    presence.update(person("a", [1, 1], 0, 9));
    assert.equal(presence.people.size, 0);
  });

  test("our own earlier connection, still half open, is not shown as someone else", () => {
    const presence = new Presence();
    presence.startOver(0, null);
    presence.startOver(0, "our-old-session");
    presence.update(person("our-old-session", null, null, 5, "Me"));
    assert.equal(presence.people.size, 0);
  });

  test("a snapshot's jump moves carets and drops those still waiting", () => {
    const presence = new Presence();
    presence.startOver(10);
    presence.update(person("a", [2, 2], 10));
    presence.update(person("b", [0, 0], 14)); // waits for revision 14
    presence.jump(20, ["xyz", 5]);
    assert.deepEqual(presence.people.get("a").caret, [5, 5]);
    assert.equal(presence.people.get("b").caret, null);
    presence.revision(21, [8, "!"], "c");
    assert.equal(presence.people.get("b").caret, null, "the frame about 14 is not replayed after the jump");
  });

  test("visible carets also move through our own pending edits", () => {
    const presence = new Presence();
    presence.startOver(0);
    presence.update(person("a", [3, 5], 0));
    const [shown] = presence.visible([
      ["ab", 6],
      [8, "!"],
    ]);
    assert.deepEqual(shown.caret, [5, 7]);
    assert.deepEqual(presence.people.get("a").caret, [3, 5], "the stored caret stays on the server's text");
  });
});

describe("Presence roles", () => {
  test("a person frame's role is kept (a viewer is shown as one); older servers send none: editor", () => {
    const presence = new Presence();
    presence.startOver(1, "me");
    presence.update({ type: "person", session: "v", seq: 1, name: "Vi", color: "#123456", caret: null, rev: null, role: "viewer" });
    presence.update({ type: "person", session: "e", seq: 1, name: "Ed", color: "#654321", caret: null, rev: null });
    assert.equal(presence.people.get("v").role, "viewer");
    assert.equal(presence.people.get("e").role, "editor");
  });
});

describe("caretMarks", () => {
  test("places carets in the textarea's UTF-16 value, through emoji and CRLF", () => {
    const text = "😀\r\nab";
    const marks = caretMarks(text, [
      { session: "a", name: "A", color: "#111111", caret: [3, 5] },
      { session: "b", name: "B", color: "#222222", caret: null },
    ]);
    // The view is "😀\nab": the document's position 3 ("a") is UTF-16 index 3 in it.
    assert.deepEqual(
      marks.map((m) => [m.session, m.start, m.end]),
      [["a", 3, 5]],
    );
  });

  test("a caret past the end of the text is drawn at the end instead of breaking the page", () => {
    const marks = caretMarks("abc", [{ session: "a", name: "A", color: "#111111", caret: [0, 5000] }]);
    assert.deepEqual([marks[0].start, marks[0].end], [0, 3]);
  });
});
