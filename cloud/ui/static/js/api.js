// The page's side of the server: log-in, JSON calls with the CSRF token, and one shared
// WebSocket to /ui/api/v1/stream whose channels the pages subscribe to.
let csrf = null;
// Who is logged in ({name, role}): pages show admin-only forms to admins (the server checks).
export const me = { name: null, role: null };

export class HttpError extends Error {
  constructor(status, body) {
    super(body.detail || `HTTP ${status}`);
    this.status = status;
  }
}

async function call(method, path, body) {
  const headers = {};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET") headers["X-CSRF-Token"] = csrf || "";
  const response = await fetch(path, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new HttpError(response.status, data);
  return data;
}

export async function whoami() {
  const answer = await call("GET", "/ui/session");
  if (!answer.logged_in) return null;
  return remember(answer);
}

function remember(answer) {
  csrf = answer.csrf;
  me.name = answer.name;
  me.role = answer.role;
  return answer;
}

export async function login(key) {
  return remember(await call("POST", "/ui/login", { key }));
}

export const logout = () => call("POST", "/ui/logout", {});
export const get = (path) => call("GET", "/ui/api/v1" + path);
export const post = (path, body) => call("POST", "/ui/api/v1" + path, body);
export const put = (path, body) => call("PUT", "/ui/api/v1" + path, body);
export const href = (path) => "/ui/api/v1" + path;

// One WebSocket for the whole page. Subscriptions survive reconnects: they are re-sent.
export class Live {
  constructor(onState) {
    this.handlers = new Map(); // channel -> Set of functions
    this.rates = new Map();
    this.onState = onState;
    this.delay = 500;
    this.dropped = 0;
    this.connect();
  }

  connect() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    this.ws = new WebSocket(`${scheme}//${location.host}/ui/api/v1/stream`);
    this.ws.onopen = () => {
      this.delay = 500;
      this.onState("live");
      for (const channel of this.handlers.keys()) this.send(channel);
    };
    this.ws.onmessage = (event) => this.dispatch(JSON.parse(event.data));
    this.ws.onclose = () => {
      if (this.closed) return;
      this.onState("reconnecting");
      setTimeout(() => this.connect(), this.delay);
      this.delay = Math.min(this.delay * 2, 10000);
    };
  }

  send(channel, op = "subscribe") {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    const command = { op, channel };
    if (op === "subscribe" && this.rates.has(channel)) command.rate_hz = this.rates.get(channel);
    this.ws.send(JSON.stringify(command));
  }

  dispatch(message) {
    if (message.type === "dropped") {
      this.dropped = message.total;
      this.onState(`live (${message.total} messages dropped while this tab was slow)`);
      return;
    }
    if (message.type === "error") {
      console.warn("stream:", message.detail);
      return;
    }
    // Replies to our own commands carry the channel too, but no data.
    if (message.type === "subscribed" || message.type === "unsubscribed") return;
    const handlers = this.handlers.get(message.channel);
    if (handlers) for (const fn of handlers) fn(message);
  }

  // Returns the function that unsubscribes.
  subscribe(channel, fn, rateHz) {
    if (!this.handlers.has(channel)) {
      this.handlers.set(channel, new Set());
      if (rateHz) this.rates.set(channel, rateHz);
      this.send(channel);
    }
    this.handlers.get(channel).add(fn);
    return () => {
      const set = this.handlers.get(channel);
      if (!set) return;
      set.delete(fn);
      if (set.size === 0) {
        this.handlers.delete(channel);
        this.rates.delete(channel);
        this.send(channel, "unsubscribe");
      }
    };
  }

  close() {
    this.closed = true;
    this.ws.close();
  }
}
