import assert from "node:assert/strict";
import { test } from "node:test";

import { authoredPieces } from "../../editor/static/editor/history.js";

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
