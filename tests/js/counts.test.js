import assert from "node:assert/strict";
import { test } from "node:test";

import { textCounts } from "../../editor/static/editor/counts.js";

test("characters are code points and words are runs of anything but white space", () => {
  assert.deepEqual(textCounts(""), { characters: 0, words: 0 });
  assert.deepEqual(textCounts("  \n\t "), { characters: 5, words: 0 });
  assert.deepEqual(textCounts("hello, 😀 world\r\nnext\u00a0line"), { characters: 25, words: 5 });
  assert.deepEqual(textCounts("漢字"), { characters: 2, words: 1 });
});
