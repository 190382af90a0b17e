// Wires the page together: the protocol client, the socket and the textarea.

import { EditorClient } from "./client.js";
import { ReconnectingSocket, Status } from "./socket.js";
import { TextareaAdapter } from "./textarea.js";
import { codePointLength, targetLength } from "./ot.js";

const config = JSON.parse(document.getElementById("editor-config").textContent);
const statusElement = document.getElementById("status");
const peopleElement = document.getElementById("people");
const messageElement = document.getElementById("message");
const textarea = document.getElementById("editor");

function showStatus(status) {
  statusElement.textContent = status;
  statusElement.dataset.status = status;
  textarea.dataset.status = status;
}

function showMessage(text) {
  messageElement.textContent = text;
  messageElement.hidden = !text;
}

const socketUrl = () => {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}${config.socketPath}${client.resumeQuery()}`;
};

const client = new EditorClient(
  {
    send: (frame) => socket.send(frame),
    onReset: (text) => {
      adapter.reset(text);
      textarea.readOnly = false;
    },
    onRemoteOp: (op, text) => adapter.applyRemote(op, text),
    onResync: () => socket.restart(),
    onPresence: ({ people }) => {
      peopleElement.textContent = `${people} ${people === 1 ? "person" : "people"} here`;
      peopleElement.dataset.count = people;
    },
    onError: (error) => showMessage(`${error.message} (${error.code})`),
  },
  { maxFrameBytes: config.maxFrameBytes },
);

const adapter = new TextareaAdapter(textarea, {
  onEdit: (op) => {
    showMessage("");
    client.localEdit(op);
  },
  canAccept: (op) => {
    if (targetLength(op) > config.maxDocumentChars) {
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
    if (frame.type === "snapshot" || frame.type === "resume") showStatus(Status.LIVE);
  },
  onClose: () => client.disconnected(),
  onStatus: showStatus,
});

socket.start();
window.addEventListener("pagehide", () => socket.stop());

// For tests and debugging: the client's state, read-only.
window.editor = { client, socket, codePointLength };
