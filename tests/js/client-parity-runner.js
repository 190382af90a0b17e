// Reads sessions as JSON on stdin (one list of events per session) and plays
// each through the browser's EditorClient, answering with what it shows, holds
// and sends after every event, so tests/test_client_parity.py can compare with
// the Python twin, editor/ot/client.py.
//
// Events: {kind: "edit", op}, {kind: "receive", frame}, {kind: "connect",
// frames} (the server's first frames on a new socket), {kind: "disconnect"},
// {kind: "timer"} (the gap timer, if one is running, runs out).
import { EditorClient } from "../../editor/static/editor/client.js";
import { apply } from "../../editor/static/editor/ot.js";

function play(events) {
  const observations = [];
  let sent = [];
  let resyncs = 0; // onResync calls since the socket last closed
  let shown = ""; // the view, kept only through the hooks
  let ids = 0;
  const timers = new Map(); // fake timers: they run out only on a "timer" event
  let nextTimer = 1;
  const client = new EditorClient(
    {
      send: (frame) => {
        sent.push(JSON.parse(JSON.stringify(frame)));
        return true;
      },
      onReset: (text) => (shown = text),
      onRemoteOp: (op) => (shown = apply(shown, op)),
      onResync: () => resyncs++,
      newId: () => `me:${++ids}`,
    },
    {
      setTimer: (callback) => {
        timers.set(nextTimer, callback);
        return nextTimer++;
      },
      clearTimer: (timer) => timers.delete(timer),
      now: () => 0,
    },
  );
  for (const event of events) {
    sent = [];
    try {
      switch (event.kind) {
        case "edit":
          shown = apply(shown, event.op); // a local edit is already in the view
          client.localEdit(event.op);
          break;
        case "receive":
          client.receive(event.frame);
          break;
        case "connect":
          for (const frame of event.frames) client.receive(frame);
          break;
        case "disconnect":
          client.disconnected();
          resyncs = 0;
          break;
        case "timer":
          for (const [timer, callback] of [...timers]) {
            timers.delete(timer);
            callback();
          }
          break;
        default:
          throw new Error(`unknown event ${event.kind}`);
      }
    } catch (error) {
      observations.push({ threw: String(error.stack ?? error) });
      break;
    }
    observations.push({
      text: client.text,
      shown,
      serverText: client.serverText,
      rev: client.rev,
      state: client.state,
      outstanding: client.outstanding && [client.outstanding.id, client.outstanding.op],
      buffer: client.buffer,
      early: [...client.early.keys()].sort((a, b) => a - b),
      hasGap: client.hasGap,
      gapTimer: timers.size > 0, // only the gap timer: no getCaret hook, so no caret timer
      live: client.live,
      session: client.session,
      query: client.resumeQuery(),
      resync: resyncs > 0,
      sent,
    });
  }
  return observations;
}

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const sessions = JSON.parse(Buffer.concat(chunks).toString("utf8"));
process.stdout.write(JSON.stringify(sessions.map(play)));
