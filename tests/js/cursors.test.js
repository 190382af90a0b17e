// The people list's pure parts (cursors.js): one entry per person, its label, initials, and
// the label ink on a person's colour.
import { test } from "node:test";
import assert from "node:assert/strict";

import { groupPeople, initials, inkOn, personLabel } from "../../editor/static/editor/cursors.js";

const me = { session: "s1", person: "p1", name: "Eager Gecko", role: "editor" };

test("one person's tabs are one entry, counted, ours first", () => {
  const others = [
    { session: "s3", person: "p2", name: "Ada", role: "editor" },
    { session: "s2", person: "p1", name: "Eager Gecko", role: "editor" },
    { session: "s4", person: "p1", name: "Eager Gecko", role: "editor" },
  ];
  const entries = groupPeople(me, others);
  assert.deepEqual(
    entries.map((entry) => [entry.person, entry.sessions]),
    [
      ["p1", ["s1", "s2", "s4"]],
      ["p2", ["s3"]],
    ],
  );
  assert.deepEqual(entries.map(personLabel), ["Eager Gecko (you) · 3 tabs", "Ada"]);
});

test("someone else's two tabs are one entry; a frame without a person is its session's own", () => {
  const others = [
    { session: "s5", person: "p3", name: "Bob", role: "viewer" },
    { session: "s6", person: "p3", name: "Bob", role: "viewer" },
    { session: "s7", name: "Old server", role: "editor" },
  ];
  const labels = groupPeople(me, others).map(personLabel);
  assert.deepEqual(labels, ["Eager Gecko (you)", "Bob (viewer) · 2 tabs", "Old server"]);
});

test("initials take the first and last words, by code point", () => {
  assert.equal(initials("Eager Gecko"), "EG");
  assert.equal(initials("Ada Augusta King Lovelace"), "AL");
  assert.equal(initials("ada"), "A");
  assert.equal(initials("😀 smile"), "😀S");
  assert.equal(initials(" "), "?");
});

test("label ink is whichever of black and white reads better on the colour", () => {
  assert.equal(inkOn("#8700ff"), "#fff");
  assert.equal(inkOn("#e17800"), "#000");
  assert.equal(inkOn("#000000"), "#fff");
  assert.equal(inkOn("#ffffff"), "#000");
  // Around the luminance where the two contrasts are equal (about 0.18): #767676 has 4.54:1
  // with white and 4.62:1 with black.
  assert.equal(inkOn("#767676"), "#000");
  assert.equal(inkOn("#747474"), "#fff");
});

test("one person's tabs under different names show every name, ours first", () => {
  const others = [
    { session: "s2", person: "p1", name: "Zed", role: "editor" },
    { session: "s3", person: "p2", name: "Bob", role: "editor" },
    { session: "s4", person: "p2", name: "Amy", role: "editor" },
    { session: "s5", person: "p2", name: "Bob", role: "editor" },
  ];
  const labels = groupPeople(me, others).map(personLabel);
  assert.deepEqual(labels, ["Eager Gecko / Zed (you) · 2 tabs", "Amy / Bob · 3 tabs"]);
});
