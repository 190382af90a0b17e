// Reference "tutorial stack": a Socket.IO relay server.
//
// Every client joins the room named by its handshake query (?room=...,
// default "default"); each "key" event is relayed to every other socket in
// that room. With REDIS_URL set, rooms are shared between processes through
// @socket.io/redis-adapter (node-redis pub + sub.duplicate()).
//
// Env: PORT (default 3000), REDIS_URL (unset = in-memory adapter),
// REDIS_PREFIX (redis adapter `key`, default "socket.io"), QUIET=1 (no
// per-connection log lines).
//
// Stdout: "adapter=redis" | "adapter=memory", then exactly "listening <port>"
// once the port is bound.
import { createServer } from "node:http";
import { Server } from "socket.io";

const HOST = "127.0.0.1";
const PORT = Number.parseInt(process.env.PORT || "3000", 10);
const QUIET = process.env.QUIET === "1";
const REDIS_URL = process.env.REDIS_URL || "";
const REDIS_PREFIX = process.env.REDIS_PREFIX || "socket.io";
const PID = process.pid;

// Nothing fancy is served: Socket.IO handles /socket.io/ itself, everything
// else gets a 404.
const httpServer = createServer((req, res) => {
  res.writeHead(404, { "content-type": "text/plain" });
  res.end("not found\n");
});

const io = new Server(httpServer, {
  transports: ["websocket"], // no HTTP long-polling
  perMessageDeflate: false,
  serveClient: false,
});

const redisClients = [];
if (REDIS_URL) {
  const { createClient } = await import("redis");
  const { createAdapter } = await import("@socket.io/redis-adapter");
  const pubClient = createClient({ url: REDIS_URL });
  const subClient = pubClient.duplicate();
  for (const [name, client] of [
    ["pub", pubClient],
    ["sub", subClient],
  ]) {
    // node-redis throws on an 'error' event without a listener; it
    // reconnects on its own, so just report.
    client.on("error", (err) => {
      console.error(`redis ${name} error: ${err && err.message}`);
    });
    redisClients.push(client);
  }
  await Promise.all([pubClient.connect(), subClient.connect()]);
  io.adapter(createAdapter(pubClient, subClient, { key: REDIS_PREFIX }));
  console.log("adapter=redis");
} else {
  console.log("adapter=memory");
}

io.on("connection", (socket) => {
  const q = socket.handshake.query.room;
  const room = typeof q === "string" && q !== "" ? q : "default";
  socket.join(room);
  if (!QUIET) console.log(`connect room=${room} id=${socket.id} pid=${PID}`);

  socket.on("key", (payload) => {
    socket.to(room).emit("key", payload);
  });

  socket.on("disconnect", (reason) => {
    if (!QUIET) {
      console.log(
        `disconnect room=${room} id=${socket.id} pid=${PID} reason=${reason}`,
      );
    }
  });
});

httpServer.listen(PORT, HOST, () => {
  console.log(`listening ${httpServer.address().port}`);
});

let shuttingDown = false;
async function shutdown() {
  if (shuttingDown) return;
  shuttingDown = true;
  // Never hang on shutdown.
  setTimeout(() => process.exit(0), 3000).unref();
  try {
    await new Promise((resolve) => io.close(() => resolve()));
  } catch {
    // ignore
  }
  await Promise.allSettled(redisClients.map((c) => c.quit()));
  process.exit(0);
}
process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);
