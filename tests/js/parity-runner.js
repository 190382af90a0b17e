// Reads cases as JSON on stdin and answers with what the browser's ot.js
// computes for them, so tests/test_js_parity.py can compare with ot.py.
import {
  apply,
  compose,
  fromDiff,
  invert,
  transform,
  transformIndex,
} from "../../editor/static/editor/ot.js";

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const cases = JSON.parse(Buffer.concat(chunks).toString("utf8"));
const results = cases.map(({ text, a, b, c, other, index }) => ({
  applied: apply(text, a),
  transformed: transform(a, b),
  composed: compose(a, c),
  index: transformIndex(index, a),
  ownIndex: transformIndex(index, a, true),
  diff: fromDiff(text, other),
  inverted: invert(a, text),
}));
process.stdout.write(JSON.stringify(results));
