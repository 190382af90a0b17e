// The footer's counts of the text. Pure: no DOM.

import { codePointLength } from "./ot.js";

/** Characters (code points, as the document's limit counts them) and words (runs of
 * anything but white space) in `text`. */
export function textCounts(text) {
  return { characters: codePointLength(text), words: text.match(/\S+/gu)?.length ?? 0 };
}
