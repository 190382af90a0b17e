// The browser's OT module: examples, and properties over seeded random Unicode edits.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import {
  advanceCodePoints,
  apply,
  codePointLength,
  codePointToUtf16,
  compose,
  fromDiff,
  invert,
  normalize,
  replacementOp,
  targetLength,
  transform,
  transformIndex,
  utf16ToCodePoint,
} from "../../editor/static/editor/ot.js";
import { randomOperation, randomText, seededRandom } from "./random.js";

describe("code points", () => {
  test("count astral characters once", () => {
    assert.equal(codePointLength("a😀b"), 3);
    assert.equal(codePointLength("👍🏽"), 2); // a thumb and a skin tone
    assert.equal(codePointLength("e\u0301"), 2); // a combining mark is its own code point
    assert.equal(codePointLength("\r\n"), 2);
  });

  test("convert between UTF-16 indices and code-point positions", () => {
    const text = "a😀b";
    assert.equal(utf16ToCodePoint(text, 3), 2);
    assert.equal(codePointToUtf16(text, 2), 3);
    assert.equal(advanceCodePoints(text, 1, 1), 3);
    assert.throws(() => advanceCodePoints(text, 0, 4), /past the end/);
  });
});

describe("operations", () => {
  test("apply counts code points", () => {
    assert.equal(apply("a😀b", [2, "!", 1]), "a😀!b");
    assert.equal(apply("a😀b", [1, -1, 1]), "ab");
  });

  test("apply refuses an operation of the wrong length", () => {
    assert.throws(() => apply("0123456789", [12]), /spans 12 characters but the document has 10/);
  });

  test("normalize merges neighbours and puts inserts before deletes", () => {
    assert.deepEqual(normalize([1, 1, "a", "b", -1, -1]), [2, "ab", -2]);
    assert.deepEqual(normalize([1, -1, "a", 1]), [1, "a", -1, 1]);
  });

  test("insert ties go to the first operation", () => {
    const [aPrime, bPrime] = transform([1, "A", 1], [1, "B", 1]);
    assert.equal(apply(apply("xy", [1, "A", 1]), bPrime), "xABy");
    assert.equal(apply(apply("xy", [1, "B", 1]), aPrime), "xABy");
  });

  test("transformIndex moves a caret as ot.py does", () => {
    assert.equal(transformIndex(3, [1, "xx", 4]), 5);
    assert.equal(transformIndex(3, [3, "xx", 2]), 3);
    assert.equal(transformIndex(3, [1, -3, 1]), 1);
    assert.equal(transformIndex(3, [4, -1]), 3);
  });

  test("replacementOp never cuts a surrogate pair", () => {
    // "😀" and "😁" share their high surrogate: a UTF-16 diff would split them.
    const op = replacementOp("a😀", "a😁", 2, 0);
    assert.deepEqual(op, [1, "😁", -1]);
    assert.equal(apply("a😀", fromDiff("a😀", "a😁")), "a😁");
  });

  test("fromDiff keeps the common suffix a shared high surrogate hides, as ot.py does", () => {
    // Found by the twins' parity test: a snapshot rebased a pending edit over ["😁😀", -1].
    assert.deepEqual(fromDiff("😀", "😁😀"), ["😁", 1]);
    assert.deepEqual(fromDiff("x😀y", "x😁😀y"), [1, "😁", 2]);
  });
});

describe("properties over random edits", () => {
  const random = seededRandom(20261125);

  test("transform converges", () => {
    for (let n = 0; n < 2000; n++) {
      const text = randomText(random);
      const a = randomOperation(random, text);
      const b = randomOperation(random, text);
      const [aPrime, bPrime] = transform(a, b);
      assert.equal(
        apply(apply(text, a), bPrime),
        apply(apply(text, b), aPrime),
        JSON.stringify({ text, a, b }),
      );
    }
  });

  test("compose matches sequential apply", () => {
    for (let n = 0; n < 2000; n++) {
      const text = randomText(random);
      const a = randomOperation(random, text);
      const middle = apply(text, a);
      const b = randomOperation(random, middle);
      assert.equal(apply(text, compose(a, b)), apply(middle, b), JSON.stringify({ text, a, b }));
    }
  });

  test("invert undoes", () => {
    for (let n = 0; n < 2000; n++) {
      const text = randomText(random);
      const op = randomOperation(random, text);
      assert.equal(apply(apply(text, op), invert(op, text)), text);
    }
  });

  test("fromDiff round trips and target lengths hold", () => {
    for (let n = 0; n < 2000; n++) {
      const before = randomText(random);
      const after = randomText(random);
      const op = fromDiff(before, after);
      assert.equal(apply(before, op), after);
      assert.equal(targetLength(op), codePointLength(after));
    }
  });
});
