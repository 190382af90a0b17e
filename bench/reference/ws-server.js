// Reference relay on the plain `ws` library (single process, no protocol on
// top of WebSocket).
//
// Clients connect to ws://127.0.0.1:PORT/?room=<room> (default "default");
// every message a client sends is relayed verbatim (same bytes, same
// text/binary type) to every other open client in the same room.
//
// Env: PORT (default 3000), QUIET=1 (no per-connection log lines).
// Stdout: exactly "listening <port>" once the port is bound.
import { WebSocketServer, WebSocket } from "ws";

const HOST = "127.0.0.1";
const PORT = Number.parseInt(process.env.PORT || "3000", 10);
const QUIET = process.env.QUIET === "1";
const PID = process.pid;

/** @type {Map<string, Set<WebSocket>>} */
const rooms = new Map();
let nextId = 1;

const wss = new WebSocketServer({
  host: HOST,
  port: PORT,
  perMessageDeflate: false,
});

wss.on("connection", (ws, req) => {
  let room = "default";
  try {
    const r = new URL(req.url || "/", "http://localhost").searchParams.get(
      "room",
    );
    if (r) room = r;
  } catch {
    // malformed URL: keep the default room
  }
  const id = nextId++;

  let members = rooms.get(room);
  if (!members) {
    members = new Set();
    rooms.set(room, members);
  }
  members.add(ws);
  if (!QUIET) console.log(`connect room=${room} id=${id} pid=${PID}`);

  ws.on("message", (data, isBinary) => {
    for (const other of members) {
      if (other !== ws && other.readyState === WebSocket.OPEN) {
        other.send(data, { binary: isBinary });
      }
    }
  });

  ws.on("error", () => {
    // 'close' follows; nothing else to do
  });

  ws.on("close", (code) => {
    members.delete(ws);
    if (members.size === 0 && rooms.get(room) === members) rooms.delete(room);
    if (!QUIET) {
      console.log(`disconnect room=${room} id=${id} pid=${PID} code=${code}`);
    }
  });
});

wss.on("listening", () => {
  console.log(`listening ${wss.address().port}`);
});

wss.on("error", (err) => {
  console.error(`server error: ${err && err.message}`);
  process.exit(1);
});

let shuttingDown = false;
function shutdown() {
  if (shuttingDown) return;
  shuttingDown = true;
  setTimeout(() => process.exit(0), 3000).unref();
  // Since ws 8, close() does not close existing connections.
  for (const client of wss.clients) client.terminate();
  wss.close(() => process.exit(0));
}
process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);
