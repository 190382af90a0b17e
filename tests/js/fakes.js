// Stand-ins for the browser's WebSocket, shared by the socket and transport tests: each
// instance is recorded; the test opens and closes it.

export class FakeWebSocket {
  static instances = [];

  constructor(url) {
    this.url = url;
    this.readyState = 0;
    this.sent = [];
    this.closedWith = null;
    FakeWebSocket.instances.push(this);
  }

  open() {
    this.readyState = 1;
    this.onopen();
  }

  send(data) {
    this.sent.push(JSON.parse(data));
  }

  close(code = 1006) {
    if (this.readyState === 3) return;
    this.readyState = 3;
    this.closedWith = code;
    this.onclose({ code });
  }
}
