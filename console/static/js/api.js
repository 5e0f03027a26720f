// The console's only link to SeaChat: the public GraphQL API, over HTTP
// (JSON, and multipart for uploads) and over a websocket for subscriptions
// (the graphql-transport-ws protocol). Integrators can copy this file.

const endpoint = new URL('../graphql', location.href);

/** GraphQLError is a failed operation; code is extensions.code (API.md, Errors). */
export class GraphQLError extends Error {
  constructor(message, code) {
    super(message);
    this.code = code || 'INTERNAL';
  }
}

let token = '';
let onUnauthenticated = () => {};

/** setToken sets the bearer token every request carries. */
export function setToken(t) { token = t; }

/** onSignedOut registers what to do when the server refuses the token. */
export function onSignedOut(fn) { onUnauthenticated = fn; }

async function send(body, headers = {}) {
  let res;
  try {
    res = await fetch(endpoint, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}`, ...headers },
      body,
    });
  } catch {
    throw new GraphQLError('SeaChat cannot be reached: check your connection and try again.', 'NETWORK_ERROR'); // a client-side code, not a server one
  }
  let out;
  try {
    out = await res.json();
  } catch {
    throw new GraphQLError(`SeaChat answered HTTP ${res.status}.`, 'INTERNAL');
  }
  if (out.errors?.length) {
    const e = out.errors[0];
    const err = new GraphQLError(e.message, e.extensions?.code);
    if (err.code === 'UNAUTHENTICATED') onUnauthenticated(err);
    throw err;
  }
  return out.data;
}

/** gql runs a query or mutation and returns its data; errors throw GraphQLError. */
export function gql(query, variables = {}) {
  return send(JSON.stringify({ query, variables }), { 'Content-Type': 'application/json' });
}

/**
 * upload runs an operation with one Upload variable, as the GraphQL
 * multipart request spec describes: the operations, a map from file part to
 * variable path, then the file.
 */
export function upload(query, variables, name, file) {
  const form = new FormData();
  form.append('operations', JSON.stringify({ query, variables: { ...variables, [name]: null } }));
  form.append('map', JSON.stringify({ 0: [`variables.${name}`] }));
  form.append('0', file, file.name);
  return send(form);
}

/**
 * Live is one websocket carrying every subscription of the page. It
 * reconnects with backoff, subscribes again, and calls onReconnect so the
 * page can refetch what it missed while offline.
 */
export class Live {
  constructor({ onState = () => {}, onReconnect = () => {} } = {}) {
    this.subs = new Map(); // id → {payload, next}
    this.onState = onState;
    this.onReconnect = onReconnect;
    this.nextId = 1;
    this.retry = 0;
    this.closed = false;
    this.connect();
  }

  /** subscribe starts a subscription; next gets each event's data. It returns a stop function. */
  subscribe(query, variables, next) {
    const id = String(this.nextId++);
    this.subs.set(id, { payload: { query, variables }, next });
    if (this.acked) this.send({ id, type: 'subscribe', payload: { query, variables } });
    return () => {
      if (this.subs.delete(id) && this.acked) this.send({ id, type: 'complete' });
    };
  }

  close() {
    this.closed = true;
    clearTimeout(this.timer);
    this.ws?.close(1000, 'signed out');
  }

  send(msg) {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(msg));
  }

  connect() {
    const url = new URL(endpoint);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    const ws = new WebSocket(url, 'graphql-transport-ws');
    this.ws = ws;
    this.acked = false;
    this.onState('connecting');
    ws.onopen = () => this.send({ type: 'connection_init', payload: { authorization: `Bearer ${token}` } });
    ws.onmessage = (ev) => {
      let msg;
      try { msg = JSON.parse(ev.data); } catch { return; }
      switch (msg.type) {
        case 'connection_ack': {
          const again = this.everAcked; // a reconnection: the page may have missed events
          this.acked = this.everAcked = true;
          this.retry = 0;
          for (const [id, s] of this.subs) this.send({ id, type: 'subscribe', payload: s.payload });
          this.onState('live');
          if (again) this.onReconnect();
          break;
        }
        case 'ping':
          this.send({ type: 'pong' });
          break;
        case 'next':
          this.subs.get(msg.id)?.next(msg.payload.data, msg.payload.errors);
          break;
        case 'error':
          console.warn('subscription error', msg.payload);
          break;
      }
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.acked = false;
      if (ev.code === 4403 || ev.code === 4401) {
        this.onState('offline');
        onUnauthenticated(new GraphQLError(ev.reason || 'The token was refused.', 'UNAUTHENTICATED'));
        return;
      }
      if (this.closed) return;
      this.onState('reconnecting');
      const wait = Math.min(15000, 500 * 2 ** this.retry++) * (0.75 + Math.random() / 2);
      this.timer = setTimeout(() => this.connect(), wait);
    };
  }
}
