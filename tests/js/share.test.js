import assert from "node:assert/strict";
import { test } from "node:test";

import { failureText, isPlainClick } from "../../editor/static/editor/share.js";

const click = { button: 0, ctrlKey: false, metaKey: false, shiftKey: false, altKey: false };

test("only a plain left click opens the dialog: a modified or middle click opens the page", () => {
  assert.equal(isPlainClick(click), true);
  for (const other of [{ button: 1 }, { ctrlKey: true }, { metaKey: true }, { shiftKey: true }, { altKey: true }]) {
    assert.equal(isPlainClick({ ...click, ...other }), false, JSON.stringify(other));
  }
});

test("an answer without the sharing page says why, by its status", () => {
  assert.match(failureText(0), /could not be reached/);
  assert.match(failureText(404), /gone already|no longer share/);
  assert.match(failureText(403), /reload the page/);
  assert.match(failureText(500), /error 500/);
  assert.match(failureText(400), /error 400/);
  // A 200 that is not the sharing page: the login page, once signed out.
  assert.match(failureText(200), /signed in/);
});
