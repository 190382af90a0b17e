// The timeslider's text: an old revision shown in pieces, each with who wrote it, from the
// server's `history` frame (docs/protocol.md). Pure: no DOM.

import { codePointLength, codePointToUtf16 } from "./ot.js";

/**
 * [{text, author}] of `text` cut by `authorship` ([[length in code points, author], ...],
 * covering it in order). Runs past the end are cut short; text past the runs has no author.
 */
export function authoredPieces(text, authorship) {
  const pieces = [];
  let start = 0; // UTF-16
  let position = 0; // code points
  const total = codePointLength(text);
  for (const [length, author] of authorship) {
    const end = codePointToUtf16(text, Math.min(total, position + length));
    if (end > start) pieces.push({ text: text.slice(start, end), author });
    position += length;
    start = end;
    if (start >= text.length) break;
  }
  if (start < text.length) pieces.push({ text: text.slice(start), author: null });
  return pieces;
}
