// Wires the page together: the protocol client, the socket, the textarea and
// the presence display.

import { EditorClient } from "./client.js";
import { CursorOverlay, renderPeople } from "./cursors.js";
import { textCounts } from "./counts.js";
import { authoredPieces, coveredLength } from "./history.js";
import { baseLength, codePointLength, fromDiff, isNoop, targetLength, utf16ToCodePoint } from "./ot.js";
import { enhanceShareLink } from "./share.js";
import { ReconnectingSocket, Status } from "./socket.js";
import { TextareaAdapter, viewToDocPosition } from "./textarea.js";
import { FallbackSocket, Transport } from "./transport.js";
import { UndoManager, caretAfter } from "./undo.js";

const NAME_KEY = "editor.name";

const config = JSON.parse(document.getElementById("editor-config").textContent);
const statusElement = document.getElementById("status");
const unsentElement = document.getElementById("unsent");
const peopleElement = document.getElementById("people");
const peopleList = document.getElementById("people-list");
const messageElement = document.getElementById("message");
const readOnlyElement = document.getElementById("read-only");
const nameInput = document.getElementById("name");
const textarea = document.getElementById("editor");
// What we may do: our role (viewer, editor, owner) and an operator's lock.
let mode = { readOnly: false, role: "editor", locked: false };
let started = false;

function showStatus(status) {
  // Which transport carries it, when it is not a WebSocket (socket.js, transport.js).
  const fallback = socket?.transport !== undefined && socket.transport !== Transport.WEBSOCKET;
  const shown = fallback && (status === Status.LIVE || status === Status.DELAYED);
  statusElement.textContent = shown ? `${status} · fallback` : status;
  statusElement.dataset.status = status;
  statusElement.dataset.transport = socket?.transport ?? Transport.WEBSOCKET;
  textarea.dataset.status = status;
  showUnsent();
}

/** Typing not yet acknowledged while the connection is not live: it is kept, and sent later. */
function showUnsent() {
  const status = statusElement.dataset.status;
  const connected = status === Status.LIVE || status === Status.DELAYED;
  unsentElement.hidden = connected || client.pending.length === 0;
}

/** "1 word", "2,000 words". */
const counted = (count, one, many) => `${count.toLocaleString("en")} ${count === 1 ? one : many}`;

function showMessage(text) {
  messageElement.textContent = text;
  messageElement.hidden = !text;
}

function showMode(readOnly, { role = "editor", locked = readOnly } = {}) {
  mode = { readOnly, role, locked };
  readOnlyElement.textContent = locked
    ? "This document is read-only: an operator has locked it."
    : "You can view this document, not edit it.";
  readOnlyElement.hidden = !readOnly || role === "none"; // "none": the message says why
  textarea.readOnly = readOnly || !started || closedForGood;
}

// Closed for good (an operator's Disconnect, no right to the document, no such document):
// the text stays, read-only, with the reason and a button to connect again.
const closedElement = document.getElementById("closed");
const closedReason = document.getElementById("closed-reason");
const reconnectButton = document.getElementById("reconnect");
let closedForGood = false;
let lastError = null; // the last error frame: why the server closed, if it said

function showClosedForGood() {
  closedForGood = true;
  const why = lastError?.message;
  closedReason.textContent = why ? `Disconnected: ${why}.`.replace(/\.\.$/, ".") : "Disconnected.";
  closedElement.hidden = false;
  showMode(mode.readOnly, mode);
  renderPresence();
}

reconnectButton.addEventListener("click", () => {
  if (lastError?.code === "forbidden") {
    location.reload(); // what it may see is decided anew, text and all
    return;
  }
  closedForGood = false;
  lastError = null;
  closedElement.hidden = true;
  showMessage("");
  showMode(mode.readOnly, mode);
  socket.reconnect();
  textarea.focus();
});

function storedName() {
  try {
    return localStorage.getItem(NAME_KEY);
  } catch {
    return null; // storage disabled: a generated name each visit
  }
}

function rememberName(name) {
  try {
    localStorage.setItem(NAME_KEY, name);
  } catch {
    // storage disabled
  }
}

const socketUrl = () => {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const params = new URLSearchParams(client.resumeQuery());
  const name = client.name ?? storedName();
  if (name && !config.user) params.set("name", name);
  const query = params.toString();
  return `${scheme}//${location.host}${config.socketPath}${query ? `?${query}` : ""}`;
};

/** Our selection in code points of the document (what the protocol counts). */
function caretInDocument() {
  const view = textarea.value;
  return [textarea.selectionStart, textarea.selectionEnd].map((index) =>
    viewToDocPosition(adapter.text, utf16ToCodePoint(view, index)),
  );
}

function renderPresence() {
  // Drawing must never take the connection down: errors here are only logged.
  try {
    // Closed for good, nobody else is known to be here: their carets and names go.
    overlay.render(adapter.text, closedForGood ? [] : client.visiblePeople(), shownAuthorship());
    if (client.session) {
      const others = closedForGood ? [] : [...client.presence.people.values()];
      const people = renderPeople(
        peopleList,
        {
          session: client.session,
          person: client.person,
          name: client.name,
          color: client.color,
          signedIn: Boolean(config.user),
          role: mode.role,
        },
        others,
      );
      // The count the page shows is the list it shows (people, not tabs): the server's
      // count of sessions can include a dying connection for a while.
      peopleElement.textContent = `${counted(people, "person", "people")} here`;
      peopleElement.dataset.count = people;
    }
  } catch (error) {
    console.error("could not draw presence", error);
  }
}

const client = new EditorClient(
  {
    send: (frame) => socket.send(frame),
    onReset: (text) => {
      undo.reset();
      adapter.reset(text);
      const first = !started;
      started = true;
      showMode(mode.readOnly, mode);
      // Ready to type on arrival, unless the person is already busy elsewhere on the page.
      if (first && !textarea.readOnly && document.activeElement === document.body) textarea.focus();
      showCounts();
    },
    // A refused edit is taken back: its inverse, transformed over itself, would undo nothing
    // of it and insert it again, so the stacks start over.
    onTakeBack: () => undo.reset(),
    onRemoteOp: (op, text) => {
      undo.transform(op);
      adapter.applyRemote(op, text);
      showCounts();
    },
    onResync: () => socket.restart(),
    onPeople: () => renderPresence(),
    onMode: showMode,
    onRelay: (carried) => showStatus(carried ? Status.LIVE : Status.DELAYED),
    getCaret: caretInDocument,
    onError: (error) => {
      lastError = error;
      showMessage(`${error.message} (${error.code})`);
      // No right to the document (any more): the socket closes for good.
      if (error.code === "forbidden") {
        showMode(true, { role: "none", locked: false });
        adapter.reset(""); // what it may no longer see is not left on the screen
      }
    },
  },
  { maxFrameBytes: config.maxFrameBytes, maxOpComponents: config.maxOpComponents },
);

// Undo and redo take back our own edits only (undo.js): typing is recorded, everything
// else that changes the text is transformed into the stacks.
const undo = new UndoManager();

const adapter = new TextareaAdapter(textarea, {
  onEdit: (op, { before, typed }) => {
    showMessage("");
    if (typed) undo.record(op, before);
    else undo.transform(op); // the lone-"\r" rewrite: ours, but nothing to take back
    client.localEdit(op);
    renderPresence();
    showUnsent();
    showCounts();
  },
  canAccept: (op) => {
    // As the server: only growing past the limit is refused (a document over a lowered
    // limit may still shrink).
    if (targetLength(op) > config.maxDocumentChars && targetLength(op) > baseLength(op)) {
      showMessage(`The document is limited to ${config.maxDocumentChars} characters.`);
      return false;
    }
    if (!client.canTake(op)) {
      showMessage("That is too much text to send at once; paste it in smaller parts.");
      return false;
    }
    return true;
  },
});

const overlay = new CursorOverlay(textarea);

/** An edit of ours that the page makes (an undo, a redo, a restore): shown, caret at its
 * end, and sent like typing. */
function makeOwnEdit(op) {
  showMessage("");
  adapter.applyOwn(op, caretAfter(op));
  client.localEdit(op);
  renderPresence();
  showCounts();
}

// The footer: how long the text is (counted at most every COUNT_MS: a long document is not
// counted at every keystroke), and the text to download.
const countsElement = document.getElementById("counts");
const COUNT_MS = 250;
let countTimer = null;

function showCounts() {
  if (countTimer !== null) return;
  countTimer = setTimeout(() => {
    countTimer = null;
    const { characters, words } = textCounts(adapter.text);
    countsElement.textContent = `${counted(characters, "character", "characters")}, ${counted(words, "word", "words")}`;
  }, COUNT_MS);
}

document.getElementById("download").addEventListener("click", (event) => {
  const link = event.currentTarget;
  URL.revokeObjectURL(link.href); // the last download's, if any
  link.href = URL.createObjectURL(new Blob([adapter.text], { type: "text/plain;charset=utf-8" }));
});

// Share (for whoever may manage the document): its page in a dialog over the text (share.js).
enhanceShareLink(document.getElementById("share"), document.getElementById("share-dialog"));

/** An edit the page makes for us that Ctrl+Z takes back whole (a restore, a revert). */
function makeUndoableEdit(op) {
  undo.record(op, adapter.text);
  undo.close();
  makeOwnEdit(op);
}

/** Undo (or redo) our last edit group. */
function undoOrRedo(redo) {
  if (textarea.readOnly) return;
  const next = redo ? undo.nextRedo : undo.nextUndo;
  if (next === null || !adapter.canAccept(next)) return;
  makeOwnEdit(redo ? undo.redo(adapter.text) : undo.undo(adapter.text));
}

// The browser's own undo knows nothing of collaborators (and setting the value empties
// it): the shortcuts and the Edit menu's undo events come here instead.
textarea.addEventListener("keydown", (event) => {
  const key = event.key.toLowerCase();
  const command = event.ctrlKey || event.metaKey;
  if (command && !event.altKey && (key === "z" || (key === "y" && !event.shiftKey))) {
    event.preventDefault();
    undoOrRedo(key === "y" || event.shiftKey);
  } else if (event.key.startsWith("Arrow") || ["Home", "End", "PageUp", "PageDown"].includes(event.key)) {
    undo.close(); // typing elsewhere starts a new group
  }
});
textarea.addEventListener("beforeinput", (event) => {
  if (event.inputType === "historyUndo" || event.inputType === "historyRedo") {
    event.preventDefault();
    undoOrRedo(event.inputType === "historyRedo");
  }
});
textarea.addEventListener("mousedown", () => undo.close());

const socket = new ReconnectingSocket(socketUrl, {
  onFrame: (frame) => {
    try {
      client.receive(frame);
    } catch (error) {
      // Our state no longer matches the server's: start again from a snapshot.
      console.error(error);
      client.resync();
      socket.restart();
      return;
    }
    if (frame.type === "snapshot" || frame.type === "resume") {
      showStatus(Status.LIVE);
      if (!config.user) {
        nameInput.value = frame.name;
        rememberName(frame.name);
      }
    }
    if (frame.type === "op" || frame.type === "ack" || frame.type === "snapshot") renderPresence();
    if (frame.type === "ack" || frame.type === "snapshot" || frame.type === "resume") showUnsent();
    if (frame.type === "diff") showChanges(frame);
    if (frame.type === "history") {
      showRevision(frame);
      if (client.authorship.seed(frame)) renderPresence();
    }
    if (frame.type === "revert") receiveRevert(frame);
    else if (revertHeld !== null && client.rev >= revertHeld.rev) receiveRevert(revertHeld);
    if (frame.type === "error" && frame.id === undefined && !historyPanel.hidden) historyRefused(frame);
    askAuthorship();
    if (!historyPanel.hidden && ["op", "ack", "batch", "snapshot"].includes(frame.type)) followHead();
  },
  onClose: () => client.disconnected(),
  onStatus: (status) => {
    showStatus(status);
    if (status === Status.DISCONNECTED) showClosedForGood();
  },
  onTransport: () => showStatus(statusElement.dataset.status),
}, {
  FallbackClass: FallbackSocket,
  probeUrl: () => `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}${config.probePath}`,
  probeIntervalMs: config.probeSeconds * 1000,
  firstProbeMs: Math.min(5000, config.probeSeconds * 1000),
});

for (const event of ["select", "keyup", "mouseup", "focus"]) {
  textarea.addEventListener(event, () => client.caretMoved());
}
document.addEventListener("selectionchange", () => {
  if (document.activeElement === textarea) client.caretMoved();
});

if (config.user) {
  nameInput.value = config.user;
  nameInput.disabled = true;
  nameInput.title = "Signed in: you appear under your user name";
} else {
  nameInput.addEventListener("change", () => {
    // Cut in code points, as the server counts (an emoji is one, not two UTF-16 units).
    const spaced = nameInput.value.trim().replace(/\s+/g, " ");
    const name = Array.from(spaced).slice(0, config.maxNameLength).join("");
    if (!name) {
      nameInput.value = client.name ?? "";
      return;
    }
    rememberName(name);
    client.rename(name);
    renderPresence();
  });
}

// The timeslider: any revision, read-only and coloured by author, without touching the live
// text; "Restore" makes the live text that revision's, as an edit of ours (so undoable).
const historyPanel = document.getElementById("history");
const historyToggle = document.getElementById("history-toggle");
const historySlider = document.getElementById("history-rev");
const historyLabel = document.getElementById("history-label");
const historyText = document.getElementById("history-text");
const historyRestore = document.getElementById("history-restore");
const historyMarks = document.getElementById("history-marks");
const historyVersions = document.getElementById("history-versions");
const historyCompare = document.getElementById("history-compare");
const historyFrom = document.getElementById("history-from");
const versionName = document.getElementById("version-name");
const versionSave = document.getElementById("version-save");
let shownRevision = null; // the last history frame shown
let askTimer = null;

// At most one question every ASK_MS (the server counts them as fetches: 5 a second), the
// last position asked once the slider rests.
const ASK_MS = 300;
let askedAt = 0;

function showSliderLabel() {
  historyLabel.textContent = `revision ${historySlider.value} of ${historySlider.max}`;
}

/** What the panel asks for: the slider's revision, or the changes from `from` to it. */
function wantedFrame() {
  const rev = Number(historySlider.value);
  if (!historyCompare.checked) return { type: "history", rev };
  const from = Math.max(0, Math.floor(Number(historyFrom.value)) || 0);
  return { type: "diff", from: Math.min(from, rev), to: Math.max(from, rev) };
}

function askRevision() {
  clearTimeout(askTimer);
  askTimer = setTimeout(
    () => {
      askedAt = Date.now();
      socket.send(wantedFrame());
    },
    Math.max(0, askedAt + ASK_MS - Date.now()),
  );
}

/** The slider reaches the head; it stays at the head if it was there, showing the head. */
function followHead() {
  const atHead = historySlider.value === historySlider.max;
  if (client.rev === null || String(client.rev) === historySlider.max) return;
  historySlider.max = String(client.rev);
  if (atHead) {
    historySlider.value = historySlider.max;
    askRevision();
  }
  showSliderLabel();
}

function showRevision(frame) {
  if (historyPanel.hidden) return; // the answer to the author colours' question
  const wanted = wantedFrame();
  if (wanted.type !== "history" || wanted.rev !== frame.rev) return; // the slider moved on meanwhile
  showSliderLabel();
  const pieces = authoredPieces(frame.text, frame.authorship).map(({ text, author }) =>
    authorPiece("span", text, author, frame.authors, (who) =>
      who ? `written by ${who.name}` : "written before the history",
    ),
  );
  pieces.forEach((piece) => piece.classList.add("authored"));
  showInPanel(frame, pieces);
  showVersions(frame.versions);
}

/** A diff frame: what changed from one revision to the other, each change in its author's
 * colour (inserted text tinted, deleted text struck through). */
function showChanges(frame) {
  const wanted = wantedFrame();
  if (wanted.type !== "diff" || wanted.from !== frame.from || wanted.to !== frame.to) return;
  const atEnd = frame.to === Number(historySlider.value); // the slider's revision is the later one
  let text = "";
  const pieces = frame.changes.map((change) => {
    if (change.kind === "keep" || change.kind === (atEnd ? "insert" : "delete")) text += change.text;
    if (change.kind === "keep") return document.createTextNode(change.text);
    const done = change.kind === "insert" ? "inserted" : "deleted";
    const tag = change.kind === "insert" ? "ins" : "del";
    return authorPiece(tag, change.text, change.author, frame.authors, (who) => `${done} by ${who?.name ?? "someone"}`, "#888888");
  });
  historyLabel.textContent = `changes from revision ${frame.from} to ${frame.to} (of ${historySlider.max})`;
  showInPanel({ rev: Number(historySlider.value), text }, pieces);
}

/** A piece of the panel's text by `author` (a key of `authors`), in their colour. */
function authorPiece(tag, text, author, authors, describe, unknownColor = "transparent") {
  const piece = document.createElement(tag);
  const who = authors[author];
  piece.textContent = text;
  piece.dataset.author = author ?? "";
  piece.style.setProperty("--author-color", who?.color ?? unknownColor);
  piece.title = describe(who);
  return piece;
}

/** Show `pieces` in the panel, the text of `revision` ({rev, text}) being what Restore gives. */
function showInPanel(revision, pieces) {
  shownRevision = revision;
  historyText.replaceChildren(...pieces);
  historyRestore.disabled = versionSave.disabled = textarea.readOnly;
  playNext();
}

/** The named versions: marks on the slider, and buttons that go to them. */
function showVersions(versions) {
  historyMarks.replaceChildren(
    ...versions.map((version) => Object.assign(document.createElement("option"), { value: version.rev, label: version.name })),
  );
  historyVersions.replaceChildren(
    ...versions.map((version) => {
      const item = document.createElement("li");
      const go = document.createElement("button");
      go.type = "button";
      go.textContent = `${version.name} (revision ${version.rev})`;
      go.title = `saved by ${version.by}`;
      go.addEventListener("click", () => {
        stopPlaying();
        goToRevision(version.rev);
      });
      item.append(go);
      return item;
    }),
  );
}

/** Move the slider to `rev` (within its range) and show that revision. */
function goToRevision(rev) {
  historySlider.value = String(Math.max(Number(historySlider.min), Math.min(Number(historySlider.max), rev)));
  showSliderLabel();
  askRevision();
}

/** An error answering the panel: the history starts later (the slider starts there), the
 * question was over the fetch budget (asked again), or play stops. */
function historyRefused(frame) {
  if (frame.code === "history-forgotten" && Number.isInteger(frame.start)) {
    historySlider.min = String(frame.start);
    if (Number(historySlider.value) < frame.start) goToRevision(frame.start);
  } else if (frame.code === "rate-limited" && playing !== null) {
    clearTimeout(playing.timer);
    playing.timer = setTimeout(() => goToRevision(Number(historySlider.value)), frame.retry_after ?? PLAY_MS);
  } else {
    stopPlaying();
  }
}

// Play: the revisions one step at a time up to the head, each shown before the next is
// asked for; a step is a hundredth of the way, so a long history plays in about 30 s.
const historyPlay = document.getElementById("history-play");
const PLAY_MS = ASK_MS;
let playing = null; // {step, timer}

function stopPlaying() {
  if (playing === null) return;
  clearTimeout(playing.timer);
  playing = null;
  historyPlay.textContent = "Play";
  historyPlay.setAttribute("aria-pressed", "false");
}

function playNext() {
  if (playing === null) return;
  clearTimeout(playing.timer);
  if (historySlider.value === historySlider.max) {
    stopPlaying();
    return;
  }
  playing.timer = setTimeout(() => {
    if (playing !== null) goToRevision(Number(historySlider.value) + playing.step);
  }, PLAY_MS);
}

historyPlay.addEventListener("click", () => {
  if (playing !== null) {
    stopPlaying();
    return;
  }
  const fromStart = historySlider.value === historySlider.max; // at the end: from the start again
  const start = Number(fromStart ? historySlider.min : historySlider.value);
  playing = { step: Math.max(1, Math.ceil((Number(historySlider.max) - start) / 100)), timer: null };
  historyPlay.textContent = "Pause";
  historyPlay.setAttribute("aria-pressed", "true");
  if (fromStart) goToRevision(start); // its answer plays on
  else playNext();
});
document.getElementById("history-back").addEventListener("click", () => {
  stopPlaying();
  goToRevision(Number(historySlider.value) - 1);
});
document.getElementById("history-forward").addEventListener("click", () => {
  stopPlaying();
  goToRevision(Number(historySlider.value) + 1);
});

// On a phone the people are a row of initials until opened (editor.css); the button
// shows only there.
const peopleToggle = document.getElementById("people-toggle");
function togglePeople() {
  const open = peopleList.closest("aside").classList.toggle("people-open");
  peopleToggle.setAttribute("aria-expanded", String(open));
  peopleToggle.textContent = open ? "Hide names" : "Show names";
}
peopleToggle.addEventListener("click", togglePeople);
peopleList.addEventListener("click", () => {
  if (getComputedStyle(peopleToggle).display !== "none") togglePeople();
});

historyToggle.addEventListener("click", () => {
  historyPanel.hidden = !historyPanel.hidden;
  historyToggle.setAttribute("aria-expanded", String(!historyPanel.hidden));
  if (historyPanel.hidden) {
    stopPlaying();
    return;
  }
  historySlider.value = historySlider.max = String(client.rev ?? 0);
  followHead();
  askRevision();
});
for (const control of [historyCompare, historyFrom]) {
  control.addEventListener("change", () => {
    if (control === historyFrom) historyCompare.checked = true; // choosing where from means comparing
    askRevision();
  });
}
historySlider.addEventListener("input", () => {
  stopPlaying();
  showSliderLabel();
  askRevision();
});
versionSave.addEventListener("click", () => {
  // Cut in code points, as the server counts.
  const name = Array.from(versionName.value.trim().replace(/\s+/g, " ")).slice(0, config.maxVersionName).join("");
  if (!name || textarea.readOnly) return;
  socket.send({ type: "save-version", rev: Number(historySlider.value), name });
  versionName.value = "";
});
historyRestore.addEventListener("click", () => {
  if (textarea.readOnly || shownRevision === null) return;
  const op = fromDiff(adapter.text, shownRevision.text);
  if (adapter.canAccept(op)) makeUndoableEdit(op);
});

// Author colours: the live text tinted in the colour of whoever wrote each character (the
// client keeps the authorship in step once a `history` frame has said who wrote the text so
// far), and the authors listed with how much of the text is theirs. The choice is remembered.
const COLOURS_KEY = "editor.authorColours";
const authorsToggle = document.getElementById("authors-toggle");
const authorsSection = document.getElementById("authors");
const authorsList = document.getElementById("authors-list");
const ASK_AUTHORSHIP_MS = 1000; // at most one question a second (the server counts fetches)
const ASK_NAMES_MS = 3000; // and about names the page lacks, one every three seconds
const AUTHORSHIP_ANSWER_MS = 5000;
let authorshipTimer = null;
let showAuthors = false;
let authorshipAskedAt = -Infinity;

function colorOf(key) {
  return key === null ? null : (client.authorship.authors.get(key)?.color ?? null);
}

/** What the overlay tints, or null (colours off, or not known yet). */
function shownAuthorship() {
  if (!showAuthors) return null;
  const runs = client.visibleAuthorship();
  if (runs === null) return null;
  if (coveredLength(runs) !== codePointLength(adapter.text)) {
    // Out of step with the text (a bug, not a state): forget it and ask again.
    console.error("authorship out of step with the text");
    client.authorship.jump(client.rev);
    return null;
  }
  renderAuthors(runs);
  return { runs, colorOf };
}

let authorsShown = ""; // who the list shows, in order: rebuilt only when that changes

function renderAuthors(runs) {
  const canRevert = !textarea.readOnly;
  const tally = client.authorship.tally(runs);
  const shown = JSON.stringify([canRevert, tally.map((author) => [author.name, author.color, [...author.keys]])]);
  if (shown === authorsShown) {
    // The same people in the same order: only the counts change (a button being clicked
    // while others type stays the one under the pointer).
    tally.forEach((author, index) => {
      const item = authorsList.children[index];
      item.dataset.characters = author.characters;
      item.firstChild.title = charactersTitle(author.characters);
    });
    return;
  }
  authorsShown = shown;
  revertRange.hidden = !canRevert;
  authorsList.replaceChildren(
    ...tally.map((author) => {
      const item = document.createElement("li");
      item.style.setProperty("--person-color", author.color ?? "transparent");
      const name = document.createElement("span");
      name.textContent = author.name;
      name.title = charactersTitle(author.characters);
      item.dataset.characters = author.characters;
      item.append(name);
      const keys = revertedKeys(author);
      if (canRevert && keys.length) {
        const revert = document.createElement("button");
        revert.type = "button";
        revert.className = "revert";
        revert.textContent = "Revert";
        revert.setAttribute("aria-label", `Revert ${author.name}'s edits`);
        revert.addEventListener("click", () => askRevert(author.name, keys));
        item.append(" ", revert);
      }
      return item;
    }),
  );
}

/** The keys a revert of this author names: a signed-in user's (all their sessions), else
 * their sessions'. */
function revertedKeys(author) {
  const keys = [...author.keys].filter((key) => key !== null);
  const users = keys.filter((key) => key.startsWith("user:"));
  return users.length ? users : keys;
}

const charactersTitle = (count) => counted(count, "character", "characters");

// Revert one author: the server says which edit would take their edits back (a `revert`
// frame, on its head); the page makes it its own, like a restore, so Ctrl+Z takes it back.
const revertRange = document.getElementById("revert-range");
const revertSince = document.getElementById("revert-since");
let revertAsked = null; // {name, authors}: whose edits we asked to take back (the last asked)
let revertHeld = null; // the answer, about a revision not reached yet

function askRevert(name, keys) {
  if (textarea.readOnly) return;
  if (keys.length > config.mostAuthorsReverted) {
    showMessage(`${name} typed in too many sessions to revert at once.`);
    return;
  }
  const minutes = Number(revertSince.value);
  const frame = { type: "revert", authors: keys };
  if (minutes) frame.since = new Date(Date.now() - minutes * 60_000).toISOString();
  if (socket.send(frame)) revertAsked = { name, authors: JSON.stringify(keys) };
}

function receiveRevert(frame) {
  const asked = revertAsked;
  if (asked === null || JSON.stringify(frame.authors) !== asked.authors) return; // not the last asked
  const op = client.rebased(frame.op, frame.rev);
  if (op === null && frame.rev > client.rev) {
    revertHeld = frame; // the revisions before it are on their way
    return;
  }
  revertAsked = revertHeld = null;
  if (op === null) {
    showMessage("The document changed too much meanwhile to revert; try again.");
  } else if (isNoop(op)) {
    showMessage(`Nothing of ${asked.name}'s to revert.`);
  } else if (op.length > client.maxOpComponents) {
    showMessage("Too many separate changes to revert at once; choose a shorter time.");
  } else if (!textarea.readOnly && adapter.canAccept(op)) {
    makeUndoableEdit(op);
  }
}

/**
 * Ask who wrote the text at our revision, when colours are on and the page does not know (or
 * has text by someone it cannot name: the admin's, the API's, someone who left). A question
 * unanswered in AUTHORSHIP_ANSWER_MS (an error, a lost frame, a new connection) is asked again;
 * a timer comes back here when it is too soon, so a quiet document is not left waiting.
 */
function askAuthorship() {
  clearTimeout(authorshipTimer);
  const authorship = client.authorship;
  if (!showAuthors || client.rev === null || !client.live) return;
  const waited = Date.now() - authorshipAskedAt;
  const later = (ms) => {
    authorshipTimer = setTimeout(askAuthorship, ms);
  };
  if (authorship.since !== null) {
    if (waited < AUTHORSHIP_ANSWER_MS) return later(AUTHORSHIP_ANSWER_MS - waited);
    authorship.giveUp();
  }
  if (authorship.runs !== null && !authorship.unnamed) return;
  const soonest = authorship.runs === null ? ASK_AUTHORSHIP_MS : ASK_NAMES_MS;
  if (waited < soonest) return later(soonest - waited);
  authorshipAskedAt = Date.now();
  if (socket.send({ type: "history", rev: client.rev })) {
    authorship.expect();
    later(AUTHORSHIP_ANSWER_MS);
  }
}

function showAuthorColours(on) {
  showAuthors = on;
  authorsToggle.setAttribute("aria-pressed", String(on));
  authorsSection.hidden = !on;
  textarea.classList.toggle("authors-shown", on);
  try {
    localStorage.setItem(COLOURS_KEY, on ? "1" : "");
  } catch {
    // storage disabled
  }
  askAuthorship();
  renderPresence();
}

authorsToggle.addEventListener("click", () => showAuthorColours(!showAuthors));
try {
  showAuthors = Boolean(localStorage.getItem(COLOURS_KEY));
} catch {
  // storage disabled
}

socket.start();
window.addEventListener("pagehide", () => socket.stop());
if (showAuthors) showAuthorColours(true);

// For tests and debugging: the client's state, read-only.
window.editor = { client, socket, undo, codePointLength };
