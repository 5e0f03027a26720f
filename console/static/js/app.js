// The console's shell: sign-in, the header, hash routing, and the one live
// connection whose events every view listens to.

import { gql, setToken, onSignedOut, Live } from './api.js';
import { h, put, toast, errorLine, busy } from './dom.js';
import * as inbox from './inbox.js';
import * as setup from './setup.js';

const main = document.getElementById('main');
const header = document.querySelector('header.top');
const tokenKey = 'seachat.token'; // sessionStorage: gone when the tab closes
const soundKey = 'seachat.sound';

const app = {
  viewer: null,
  live: null,
  events: new EventTarget(), // 'message', 'conversation', 'handoff', 'reconnect'
  features: {}, // optional parts of the API this server has: search, transcript, agentStats
  waiting: 0,
  cleanup: () => {},
};

function emit(type, detail) {
  app.events.dispatchEvent(new CustomEvent(type, { detail }));
}

function signIn(problem = '') {
  teardown();
  const input = h('input', { id: 'token', type: 'password', autocomplete: 'off', required: true, spellcheck: 'false' });
  const err = errorLine();
  err.textContent = problem;
  const button = h('button', { type: 'submit', class: 'primary' }, 'Sign in');
  const form = h('form', { class: 'card signin', 'aria-labelledby': 'signin-title' },
    h('h1', { id: 'signin-title' }, 'Sign in to SeaChat'),
    h('label', { for: 'token' }, 'API token'),
    input,
    h('p', { class: 'hint' }, 'Paste an OWNER or AGENT token (it starts with sct_). It stays in this tab only and is forgotten when you close it.'),
    err, button);
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    busy(button, async () => {
      setToken(input.value.trim());
      const d = await gql(VIEWER);
      sessionStorage.setItem(tokenKey, input.value.trim());
      start(d);
    }, err);
  });
  put(main, form);
  input.focus();
}

// VIEWER also asks which optional parts of the API this server has, so the
// console works against older and newer servers alike.
const VIEWER = `{ viewer { tokenName role admin workspace { name } }
  __schema { queryType { fields { name args { name } } } } }`;

function features(schema) {
  const q = Object.fromEntries(schema.queryType.fields.map((f) => [f.name, f.args.map((a) => a.name)]));
  return {
    search: !!q.conversations?.includes('search'),
    transcript: !!q.transcript,
    agentStats: !!q.agentStats,
    inbox: !!q.cannedResponses, // the team inbox: assignment, notes, canned responses, unread counts
  };
}

function teardown() {
  app.cleanup();
  app.cleanup = () => {};
  app.live?.close();
  app.live = null;
  app.viewer = null;
  header.hidden = true;
  document.title = 'SeaChat console';
}

function signOut(problem) {
  sessionStorage.removeItem(tokenKey);
  setToken('');
  signIn(problem);
}

const MSG = inbox.MESSAGE_FIELDS;
const CONV = inbox.CONVERSATION_FIELDS;

function start({ viewer, __schema }) {
  app.viewer = viewer;
  app.features = features(__schema);
  header.hidden = false;
  document.getElementById('who').textContent = `${viewer.tokenName} · ${viewer.workspace.name}`;
  document.getElementById('who').title = `Role: ${viewer.role}`;
  document.getElementById('nav-setup').hidden = viewer.role !== 'OWNER';
  const liveEl = document.getElementById('live');
  app.live = new Live({
    onState: (s) => { liveEl.textContent = s; liveEl.className = `live is-${s}`; },
    onReconnect: () => { emit('reconnect'); refreshWaiting(); },
  });
  app.live.subscribe(`subscription { messageAdded { ${MSG} conversation { id } } }`, {},
    (d) => d && emit('message', d.messageAdded));
  app.live.subscribe(`subscription { conversationUpdated { ${CONV} } }`, {},
    (d) => d && emit('conversation', d.conversationUpdated));
  app.live.subscribe(`subscription { handoffRequested { ${CONV} } }`, {},
    (d) => d && handoff(d.handoffRequested));
  refreshWaiting();
  route();
}

// Every change of a conversation, live or our own, updates the waiting count
// and retires the toast of a request someone answered.
app.events.addEventListener('conversation', (e) => {
  const c = e.detail;
  if (c.status !== 'HANDOFF_REQUESTED') {
    document.querySelectorAll(`.toast[data-key="${CSS.escape(c.id)}"]`).forEach((t) => t.remove());
  }
  refreshWaiting();
});

function handoff(conv) {
  emit('handoff', conv);
  refreshWaiting();
  if (localStorage.getItem(soundKey) === '1') beep();
  const who = conv.contact.name || `User ${conv.contact.psid}`;
  toast(`${who} wants a human (${conv.agent.name})`, {
    kind: 'handoff',
    key: conv.id,
    ms: 12000,
    actions: [['Open', () => { location.hash = `#/conversations/${conv.id}`; }]],
  });
}

// refreshWaiting counts open handoff requests for the nav badge and the
// title, so a background tab shows "(1) SeaChat console".
let asked = 0;
let waitTimer;
function refreshWaiting() {
  clearTimeout(waitTimer);
  waitTimer = setTimeout(countWaiting, 200); // one query for a burst of events
}
async function countWaiting() {
  const n = ++asked;
  try {
    const d = await gql(`{ conversations(where: {status: HANDOFF_REQUESTED}) { totalCount } }`);
    if (n !== asked || !app.viewer) return; // a newer count is on its way, or we signed out
    app.waiting = d.conversations.totalCount;
  } catch {
    return;
  }
  const count = document.getElementById('waiting-count');
  count.hidden = app.waiting === 0;
  count.textContent = String(app.waiting);
  count.setAttribute('aria-label', `${app.waiting} waiting for a human`);
  document.title = app.waiting ? `(${app.waiting}) SeaChat console` : 'SeaChat console';
}

let audio;
function beep() {
  try {
    audio ||= new AudioContext();
    const osc = audio.createOscillator();
    const gain = audio.createGain();
    osc.frequency.value = 880;
    gain.gain.setValueAtTime(0.15, audio.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + 0.4);
    osc.connect(gain).connect(audio.destination);
    osc.start();
    osc.stop(audio.currentTime + 0.4);
  } catch { /* no audio: the title and the toast still show it */ }
}

function route() {
  if (!app.viewer) return;
  app.cleanup();
  const [, view = 'conversations', id] = location.hash.split('/');
  if (view === 'setup' && app.viewer.role !== 'OWNER') {
    location.replace('#/conversations'); // AGENT tokens have no setup rights
    return;
  }
  for (const a of document.querySelectorAll('[data-nav]')) {
    if (a.dataset.nav === view) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  const render = view === 'setup' ? setup.render : inbox.render;
  app.cleanup = render(main, app, id ? decodeURIComponent(id) : '') || (() => {});
}

const sound = document.getElementById('sound');
sound.checked = localStorage.getItem(soundKey) === '1';
sound.addEventListener('change', () => {
  localStorage.setItem(soundKey, sound.checked ? '1' : '0');
  if (sound.checked) beep(); // also unlocks audio, which needs a click first
});
document.getElementById('sign-out').addEventListener('click', () => signOut(''));
onSignedOut(() => {
  // While signing in, the form shows the server's own message instead.
  if (app.viewer) signOut('SeaChat refused the token: it may have been revoked. Paste a valid token.');
});
window.addEventListener('hashchange', route);

const saved = sessionStorage.getItem(tokenKey);
if (saved) {
  setToken(saved);
  gql(VIEWER).then(start, (err) => (err.code === 'UNAUTHENTICATED'
    ? signOut('SeaChat refused the saved token: it may have been revoked. Paste a valid token.')
    : signIn(err.message))); // e.g. the server is down: keep the token for a reload
} else {
  signIn();
}
