// A minimal EventSource over fetch for tests (Node 20 has none): named
// events, lastEventId, and reconnection with Last-Event-ID after the stream
// ends or breaks, as a browser does.
export class TestEventSource {
  static CONNECTING = 0;
  static OPEN = 1;
  static CLOSED = 2;
  readyState = 0;
  onopen = null;
  onerror = null;
  connections = 0;
  #listeners = new Map();
  #lastEventId = '';
  #abort = new AbortController();

  // giveUp: on a dropped connection, close instead of reconnecting, as a
  // browser does when it is offline.
  constructor(url, { retryMs = 50, giveUp = false } = {}) {
    this.url = url;
    this.retryMs = retryMs;
    this.giveUp = giveUp;
    this.#loop();
  }

  addEventListener(type, fn) {
    if (!this.#listeners.has(type)) this.#listeners.set(type, []);
    this.#listeners.get(type).push(fn);
  }

  close() {
    this.readyState = 2;
    this.#abort.abort();
  }

  async #loop() {
    while (this.readyState !== 2) {
      try {
        const headers = this.#lastEventId ? { 'last-event-id': this.#lastEventId } : {};
        const response = await fetch(this.url, { headers, signal: this.#abort.signal });
        this.connections++;
        this.readyState = 1;
        this.onopen?.({});
        await this.#read(response.body);
      } catch {
        // a dropped connection: reconnect below
      }
      if (this.readyState === 2) return;
      if (this.giveUp) {
        this.readyState = 2;
        this.onerror?.({});
        return;
      }
      this.readyState = 0;
      this.onerror?.({});
      await new Promise((r) => setTimeout(r, this.retryMs));
    }
  }

  async #read(body) {
    const decoder = new TextDecoder();
    let buffer = '';
    for await (const bytes of body) {
      buffer += decoder.decode(bytes, { stream: true });
      let end;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        this.#dispatch(buffer.slice(0, end));
        buffer = buffer.slice(end + 2);
      }
    }
  }

  #dispatch(block) {
    let type = 'message';
    const data = [];
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'event') type = value;
      else if (field === 'data') data.push(value);
      else if (field === 'id') this.#lastEventId = value;
    }
    if (data.length === 0) return; // a cursor: only moves lastEventId
    const event = { type, data: data.join('\n'), lastEventId: this.#lastEventId };
    for (const fn of this.#listeners.get(type) ?? []) fn(event);
  }
}
