// Draws other people's carets and selections over the textarea, and lists
// who is on the document.
//
// A textarea cannot style parts of its text, so a layer with the same box,
// font and wrapping lies over it: transparent text, with coloured marks for
// selections and a coloured bar with a name for each caret. It follows the
// textarea's scrolling and size.

import { advanceCodePoints, codePointLength, codePointToUtf16 } from "./ot.js";
import { docToViewPosition, viewOf } from "./textarea.js";

const MIRRORED_STYLES = [
  "fontFamily",
  "fontSize",
  "fontWeight",
  "fontStyle",
  "fontVariant",
  "letterSpacing",
  "lineHeight",
  "tabSize",
  "textTransform",
  "wordSpacing",
  "textIndent",
  "textAlign",
  "paddingTop",
  "paddingRight",
  "paddingBottom",
  "paddingLeft",
];

/**
 * Where to draw: each person's caret and selection as UTF-16 offsets in the
 * textarea's value (its view of `text`), sorted by position.
 */
export function caretMarks(text, people) {
  const view = viewOf(text);
  const length = codePointLength(text);
  // Positions come from other people: one past the end (a bug, a lie) is drawn at the end.
  const toView = (position) => codePointToUtf16(view, docToViewPosition(text, Math.min(position, length)));
  return people
    .filter((person) => person.caret)
    .map((person) => ({ ...person, start: toView(person.caret[0]), end: toView(person.caret[1]) }))
    .sort((a, b) => a.end - b.end);
}

// A caret's name shows while its person moves or types, then fades out over the rest of
// LABEL_MS (CSS: caret-label-fade), so that labels do not cover the text for long; hovering
// the caret shows it again.
export const LABEL_MS = 3000;

export class CursorOverlay {
  constructor(textarea, { now = () => performance.now() } = {}) {
    this.now = now;
    this.moved = new Map(); // session -> {seq, at}: when their caret last moved
    const document = textarea.ownerDocument;
    this.textarea = textarea;
    this.layer = document.createElement("div");
    this.layer.className = "cursor-layer";
    this.layer.setAttribute("aria-hidden", "true");
    textarea.after(this.layer);
    textarea.addEventListener("scroll", () => this.followScroll());
    new ResizeObserver(() => this.place()).observe(textarea);
    this.place();
  }

  /** Match the textarea's text box: same place, size (without scrollbar), font and padding. */
  place() {
    const area = this.textarea;
    const style = getComputedStyle(area);
    for (const name of MIRRORED_STYLES) this.layer.style[name] = style[name];
    this.layer.style.left = `${area.offsetLeft + area.clientLeft}px`;
    this.layer.style.top = `${area.offsetTop + area.clientTop}px`;
    this.layer.style.width = `${area.clientWidth}px`;
    this.layer.style.height = `${area.clientHeight}px`;
    this.followScroll();
  }

  /** When this person's caret last moved: their person frames count up (`seq`) as they do. */
  movedAt(person, now) {
    const known = this.moved.get(person.session);
    if (known && known.seq === person.seq) return known.at;
    this.moved.set(person.session, { seq: person.seq, at: now });
    return now;
  }

  followScroll() {
    this.layer.scrollTop = this.textarea.scrollTop;
    this.layer.scrollLeft = this.textarea.scrollLeft;
  }

  /**
   * Draw `people` ({session, name, color, caret: [start, end] in code points of `text`}), and,
   * if given, `authors`: who wrote the text ({runs: authorship runs of `text`, colorOf(key)}),
   * each author's text tinted in their colour.
   */
  render(text, people, authors = null) {
    const document = this.layer.ownerDocument;
    const view = viewOf(text);
    const marks = caretMarks(text, people);
    const written = authors ? authoredRanges(text, authors.runs) : [];
    const cuts = [
      ...new Set([0, view.length, ...marks.flatMap((mark) => [mark.start, mark.end]), ...written.map((r) => r.end)]),
    ].sort((a, b) => a - b);
    const fragment = document.createDocumentFragment();
    let range = 0;
    const now = this.now();
    for (let i = 0; i < cuts.length; i++) {
      for (const mark of marks.filter((m) => m.end === cuts[i]))
        fragment.append(caretElement(document, mark, now - this.movedAt(mark, now)));
      if (i + 1 === cuts.length) break;
      let piece = document.createTextNode(view.slice(cuts[i], cuts[i + 1]));
      const selecting = marks.find((m) => m.start <= cuts[i] && cuts[i + 1] <= m.end && m.start < m.end);
      if (selecting) {
        const highlight = document.createElement("mark");
        highlight.style.backgroundColor = `${selecting.color}40`;
        highlight.append(piece);
        piece = highlight;
      }
      while (range < written.length && written[range].end <= cuts[i]) range++;
      const author = written[range]?.author;
      const color = author !== undefined && authors.colorOf(author);
      if (color) {
        const tint = document.createElement("span");
        tint.className = "authored";
        tint.dataset.author = author ?? "";
        tint.style.backgroundColor = `${color}33`;
        tint.append(piece);
        piece = tint;
      }
      fragment.append(piece);
    }
    // A final line break only makes a new line if something follows it.
    fragment.append("\u200b");
    this.layer.replaceChildren(fragment);
    this.followScroll();
  }
}

/**
 * Authorship runs (code points of `text`) as [{end, author}] in UTF-16 offsets of its view.
 * One walk over the text: the view is the text with each "\r\n" one "\n" (a lone "\r" a
 * "\n", the same length), a position inside a pair counting as before it (docToViewPosition).
 */
export function authoredRanges(text, runs) {
  const length = codePointLength(text);
  const crlf = text.includes("\r");
  const ranges = [];
  let position = 0; // code points
  let index = 0; // UTF-16, in `text`
  let scanned = 0; // every "\r\n" starting before this, and ending before the last end, counted
  let pairs = 0;
  for (const [size, author] of runs) {
    const next = Math.min(length, position + size);
    index = advanceCodePoints(text, index, next - position);
    position = next;
    let end = index;
    if (crlf) {
      if (text.charCodeAt(index - 1) === 13 && text.charCodeAt(index) === 10) end = index - 1;
      for (; scanned + 1 < end; scanned++) {
        if (text.charCodeAt(scanned) === 13 && text.charCodeAt(scanned + 1) === 10) pairs++;
      }
      end -= pairs;
    }
    ranges.push({ end, author });
  }
  return ranges;
}

function caretElement(document, mark, sinceMoved) {
  const caret = document.createElement("span");
  caret.className = "remote-caret";
  caret.dataset.session = mark.session;
  caret.dataset.position = mark.caret[1];
  caret.style.borderColor = mark.color;
  const label = document.createElement("span");
  label.className = "remote-caret-label";
  label.style.backgroundColor = mark.color;
  label.style.color = inkOn(mark.color);
  // Drawn anew at every change of the text: the fade goes on from where it was.
  label.style.animationDelay = `${-Math.min(sinceMoved, LABEL_MS)}ms`;
  label.textContent = mark.name;
  caret.append(label);
  return caret;
}

/**
 * One entry per person, us first, then the others by name: the tabs of one person (the
 * server gives all the tabs of one browser, or of one signed-in user, the same `person`)
 * are one entry, which counts them in `sessions`.
 */
export function groupPeople(me, people) {
  const entries = new Map();
  for (const person of [me, ...[...people].sort((a, b) => a.name.localeCompare(b.name))]) {
    const key = person.person ?? person.session;
    const entry = entries.get(key);
    if (!entry) {
      entries.set(key, { ...person, you: person === me, sessions: [person.session], names: [person.name] });
    } else {
      entry.sessions.push(person.session);
      // Tabs may go by different names (renamed in one, or storage off): every name shows.
      if (!entry.names.includes(person.name)) entry.names.push(person.name);
    }
  }
  return [...entries.values()];
}

/** "Eager Gecko (you, viewer) · 3 tabs": what the list says of one entry of groupPeople. */
export function personLabel(entry) {
  const notes = [entry.you ? "you" : "", entry.role === "viewer" ? "viewer" : ""].filter(Boolean);
  const names = (entry.names ?? [entry.name]).join(" / ");
  const name = notes.length ? `${names} (${notes.join(", ")})` : names;
  return entry.sessions.length > 1 ? `${name} · ${entry.sessions.length} tabs` : name;
}

/** "EG" for "Eager Gecko": what a phone shows of a person in the collapsed list. */
export function initials(name) {
  const words = name.split(/\s+/).filter(Boolean);
  const ends = words.length > 1 ? [words[0], words.at(-1)] : words;
  return ends.map((word) => [...word][0].toUpperCase()).join("") || "?";
}

/** Black or white, whichever has the higher WCAG contrast on `color` ("#rrggbb"). */
export function inkOn(color) {
  const [r, g, b] = [1, 3, 5].map((at) => {
    const channel = parseInt(color.slice(at, at + 2), 16) / 255;
    return channel <= 0.04045 ? channel / 12.92 : ((channel + 0.055) / 1.055) ** 2.4;
  });
  const luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b;
  return 1.05 / (luminance + 0.05) >= (luminance + 0.05) / 0.05 ? "#fff" : "#000";
}

/** The list of people on the document (groupPeople); returns how many people it shows. */
export function renderPeople(list, me, people) {
  const document = list.ownerDocument;
  const entries = groupPeople(me, people);
  const items = entries.map((entry) => {
    const item = document.createElement("li");
    item.dataset.session = entry.session;
    item.dataset.tabs = entry.sessions.length;
    item.dataset.initials = initials(entry.name);
    item.style.setProperty("--person-color", entry.color);
    item.style.setProperty("--person-ink", inkOn(entry.color));
    const label = document.createElement("span");
    label.className = "person-name"; // on a phone, shown once the list is opened
    label.textContent = personLabel(entry);
    item.append(label);
    item.dataset.role = entry.role ?? "editor";
    if (entry.signedIn) {
      item.title = "signed in";
      item.classList.add("signed-in");
    }
    return item;
  });
  list.replaceChildren(...items);
  return entries.length;
}
