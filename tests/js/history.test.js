import assert from "node:assert/strict";
import { test } from "node:test";

import { LiveAuthorship, authoredPieces, authorshipAfter } from "../../editor/static/editor/history.js";
import { authoredRanges } from "../../editor/static/editor/cursors.js";
import { codePointLength, codePointToUtf16, normalize } from "../../editor/static/editor/ot.js";
import { docToViewPosition, viewOf } from "../../editor/static/editor/textarea.js";

test("pieces follow the runs, counted in code points", () => {
  assert.deepEqual(authoredPieces("😀ab cd", [[3, "user:1"], [3, "session:x"]]), [
    { text: "😀ab", author: "user:1" },
    { text: " cd", author: "session:x" },
  ]);
});

test("text the runs do not cover has no author; runs past the end are cut", () => {
  assert.deepEqual(authoredPieces("abcd", [[2, "a"]]), [
    { text: "ab", author: "a" },
    { text: "cd", author: null },
  ]);
  assert.deepEqual(authoredPieces("ab", [[5, "a"], [1, "b"]]), [{ text: "ab", author: "a" }]);
  assert.deepEqual(authoredPieces("", []), []);
});

test("authorship follows an operation: inserts are their author's, deletes take text away", () => {
  const runs = [[3, "a"], [2, "b"]]; // "abc" by a, "de" by b
  assert.deepEqual(authorshipAfter(runs, [1, "😀x", 2, -1, 1], "c"), [[1, "a"], [2, "c"], [2, "a"], [1, "b"]]);
  assert.deepEqual(authorshipAfter([], ["hi"], "a"), [[2, "a"]]);
  assert.deepEqual(authorshipAfter([[2, "a"]], [-2], "b"), []);
  assert.deepEqual(authorshipAfter([[1, "a"], [1, "b"]], [-1, 1, "z"], "b"), [[2, "b"]]); // neighbours merge
});

test("an operation that does not cover the authorship is an error, not a guess", () => {
  assert.throws(() => authorshipAfter([[2, "a"]], [3], "b"), /more/);
  assert.throws(() => authorshipAfter([[2, "a"]], [1], "b"), /fewer/);
});

test("authorship after random edits is each character's inserter", () => {
  const random = seeded(7);
  for (let round = 0; round < 200; round++) {
    let chars = []; // [character, author]
    let runs = [];
    for (let step = 0; step < 20; step++) {
      const author = `session:${random(3)}`;
      const op = [];
      let next = [];
      let i = 0;
      while (i < chars.length) {
        const size = 1 + random(3);
        const kind = random(3);
        const taken = chars.slice(i, i + size);
        if (kind === 0) op.push(-taken.length);
        else {
          op.push(taken.length);
          next.push(...taken);
        }
        if (random(2)) {
          const typed = "xyz".slice(0, 1 + random(3));
          op.push(typed);
          next.push(...[...typed].map((c) => [c, author]));
        }
        i += size;
      }
      if (!op.length || random(4) === 0) {
        op.push("w");
        next.push(["w", author]);
      }
      runs = authorshipAfter(runs, normalize(op), author);
      chars = next;
      const expected = [];
      for (const [, who] of chars) {
        if (expected.length && expected[expected.length - 1][1] === who) expected[expected.length - 1][0]++;
        else expected.push([1, who]);
      }
      assert.deepEqual(runs, expected);
    }
  }
});

function seeded(seed) {
  let state = seed;
  return (n) => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return state % n;
  };
}

test("live authorship: unknown until seeded; revisions since the question are brought forward", () => {
  const live = new LiveAuthorship();
  live.jump(10); // first snapshot at 10: "abc", unknown
  assert.equal(live.wanted, true);
  live.expect(); // the page asks for revision 10
  assert.equal(live.wanted, false);
  live.revision(11, [3, "d"], "s2", { name: "Bo", color: "#00f" });
  live.revision(12, ["x", 4], "s1", { name: "Al", color: "#f00" });
  assert.equal(live.runs, null);
  const seeded = live.seed({ rev: 10, authorship: [[3, "user:1"]], authors: { "user:1": { name: "Cy", color: "#0f0" } } });
  assert.equal(seeded, true);
  assert.deepEqual(live.runs, [[1, "session:s1"], [3, "user:1"], [1, "session:s2"]]);
  live.revision(13, [5, "!"], "s1", null);
  assert.deepEqual(live.runs, [[1, "session:s1"], [3, "user:1"], [1, "session:s2"], [1, "session:s1"]]);
  // Our pending edit, typed by us, on top.
  assert.deepEqual(live.visible([[6, "?"]], "s1"), [[1, "session:s1"], [3, "user:1"], [1, "session:s2"], [2, "session:s1"]]);
  assert.deepEqual(
    live.tally(live.visible([], "s1")).map(({ name, characters }) => [name, characters]),
    [["Cy", 3], ["Al", 2], ["Bo", 1]],
  );
});

test("live authorship: a seed from before a jump, or about a revision not reached, is not used", () => {
  const live = new LiveAuthorship();
  live.jump(5);
  live.expect();
  live.jump(9); // a snapshot: the text changed in ways no revision says
  assert.equal(live.wanted, true);
  live.expect();
  assert.equal(live.seed({ rev: 5, authorship: [[2, "user:1"]], authors: {} }), false);
  assert.equal(live.seed({ rev: 12, authorship: [[2, "user:1"]], authors: {} }), false);
  assert.equal(live.seed({ rev: 9, authorship: [[2, "user:1"]], authors: {} }), true);
  assert.deepEqual(live.runs, [[2, "user:1"]]);
});

test("live authorship: revisions are kept only while a seed is awaited, and not without end", () => {
  const live = new LiveAuthorship({ most: 2 });
  live.jump(0);
  live.revision(1, ["a"], "s", null);
  assert.equal(live.since, null); // nobody asked
  live.expect();
  live.revision(2, [1, "b"], "s", null);
  live.revision(3, [2, "c"], "s", null);
  assert.equal(live.wanted, false);
  live.revision(4, [3, "d"], "s", null);
  assert.equal(live.wanted, true); // the answer is too far behind: ask again
});

test("a signed-in user is one author over their sessions; people not signed in are each session", () => {
  const live = new LiveAuthorship();
  live.authors.set("user:1", { name: "al", color: "#f00", signedIn: true });
  live.authors.set("session:a", { name: "al", color: "#f00", signedIn: true }); // al, typing live
  live.authors.set("session:g1", { name: "Eager Gecko", color: "#0f0", signedIn: false });
  live.authors.set("session:g2", { name: "Eager Gecko", color: "#0f0", signedIn: false }); // another guest
  const tally = live.tally([[2, "user:1"], [1, null], [3, "session:a"], [1, "session:g1"], [2, "session:g2"], [1, "session:x"]]);
  assert.deepEqual(
    tally.map(({ name, characters, keys }) => [name, characters, [...keys]]),
    [
      ["al", 5, ["user:1", "session:a"]],
      ["Eager Gecko", 2, ["session:g2"]],
      ["before the history", 1, [null]],
      ["Eager Gecko", 1, ["session:g1"]],
      ["someone", 1, ["session:x"]], // not named yet: asked for again
    ],
  );
  live.runs = [[1, "session:x"]];
  assert.equal(live.unnamed, true);
  live.authors.set("session:x", { name: "api", color: "#00f", signedIn: true });
  assert.equal(live.unnamed, false);
});

test("a seed asked for while the authorship is known replaces it, revisions since replayed", () => {
  const live = new LiveAuthorship();
  live.jump(1);
  live.expect();
  assert.equal(live.seed({ rev: 1, authorship: [[2, "session:x"]], authors: {} }), true);
  live.expect(); // asked again: who is session:x?
  live.revision(2, [2, "!"], "s", { name: "Me", color: "#000", signedIn: false });
  assert.deepEqual(live.runs, [[2, "session:x"], [1, "session:s"]]);
  const answer = { rev: 1, authorship: [[2, "user:7"]], authors: { "user:7": { name: "ops", color: "#111", signed_in: true } } };
  assert.equal(live.seed(answer), true);
  assert.deepEqual(live.runs, [[2, "user:7"], [1, "session:s"]]);
  assert.equal(live.since, null);
});

test("authored ranges end where each author's text ends in the textarea's view (UTF-16)", () => {
  assert.deepEqual(authoredRanges("😀ab", [[1, "a"], [2, "b"]]), [
    { end: 2, author: "a" },
    { end: 4, author: "b" },
  ]);
  // A lone "\r" is a line break in the view: "a\r\nb" shows as "a\nb".
  assert.deepEqual(authoredRanges("a\r\nb", [[3, "a"], [1, "b"]]), [
    { end: 2, author: "a" },
    { end: 3, author: "b" },
  ]);
  assert.deepEqual(authoredRanges("ab", [[5, "a"]]), [{ end: 2, author: "a" }]);
});

test("authored ranges agree with mapping each end on its own, around every kind of line end", () => {
  const random = seeded(11);
  const pieces = ["a", "\r\n", "\r", "\n", "😀", "é"];
  for (let round = 0; round < 500; round++) {
    let text = "";
    for (let i = random(12); i > 0; i--) text += pieces[random(pieces.length)];
    const length = codePointLength(text);
    const runs = [];
    for (let covered = 0; covered < length; ) {
      const size = 1 + random(3);
      runs.push([size, `a${runs.length}`]);
      covered += size;
    }
    const view = viewOf(text);
    const expected = [];
    let position = 0;
    for (const [size, author] of runs) {
      position = Math.min(length, position + size);
      expected.push({ end: codePointToUtf16(view, docToViewPosition(text, position)), author });
    }
    assert.deepEqual(authoredRanges(text, runs), expected, JSON.stringify(text));
  }
});
