// Seeded random documents and operations for the property tests.
import { codePointLength, normalize } from "../../editor/static/editor/ot.js";

/** A small deterministic PRNG (mulberry32), so a failing case repeats. */
export function seededRandom(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const PIECES = ["a", "b", " ", "\n", "\r\n", "\r", "😀", "👍🏽", "𝄞", "é", "e\u0301", "漢", "字", "\u200d"];

export function randomText(random, maxPieces = 12) {
  let text = "";
  const count = Math.floor(random() * (maxPieces + 1));
  for (let i = 0; i < count; i++) text += PIECES[Math.floor(random() * PIECES.length)];
  return text;
}

export function randomOperation(random, text) {
  const components = [];
  let remaining = codePointLength(text);
  while (remaining > 0 || random() < 0.3) {
    const kind = random();
    if (kind < 0.3) {
      const inserted = randomText(random, 3);
      if (inserted) components.push(inserted);
    } else if (remaining > 0) {
      const count = 1 + Math.floor(random() * remaining);
      components.push(kind < 0.7 ? count : -count);
      remaining -= count;
    }
    if (remaining === 0 && random() < 0.5) break;
  }
  return normalize(components);
}
