// Setup: agents, their Messenger channel (Step 1, Step 2, health, Remove),
// their knowledge, and a box to try the bot. OWNER tokens only.

import { gql, upload } from './api.js';
import { h, put, time, busy, errorLine, copy, badge } from './dom.js';

const CHANNEL_FIELDS = `id status callbackUrl verifyToken verifiedAt pageId pageName lastEventAt lastError
  health { ok checks { name ok detail } }`;
const SOURCE_FIELDS = 'id kind title filename bytes status error chunkCount createdAt';
const AGENT = `query($id: ID!) { node(id: $id) { ... on Agent {
  id name instructions handoffCommand handoffMessage fallbackMessage
  welcomeMessage afterHoursMessage timezone handoffTimeoutSeconds pauseBotOnEcho
  messengerChannels { ${CHANNEL_FIELDS} }
  knowledgeSources { ${SOURCE_FIELDS} } } } }`;

// channelBadge shows a channel's status; a connected channel with a failing
// health check says so, in the warning colour, rather than a green
// "Connected".
function channelBadge(c) {
  if (c.status === 'CONNECTED' && c.health && !c.health.ok) {
    return h('span', { class: 'badge s-unhealthy', title: 'A health check fails: see Health' }, 'Connected · check health');
  }
  return badge(c.status, channelLabels);
}

const channelLabels = {
  AWAITING_VERIFICATION: 'Step 1: waiting for Meta',
  AWAITING_PAGE_TOKEN: 'Step 2: needs the page token',
  CONNECTED: 'Connected',
  ERROR: 'Needs attention',
  REMOVED: 'Removed',
};

const checkLabels = {
  WEBHOOK_VERIFIED: 'Meta verified the webhook',
  PAGE_TOKEN_VALID: 'The page access token works',
  PAGE_SUBSCRIBED_TO_MESSAGES: 'The Page sends its messages to SeaChat',
  EVENTS_RECEIVED: 'Messages have arrived',
  SEND_API_OK: 'Replies can be sent',
  MESSENGER_PROFILE: 'The Page shows Get Started and a “Talk to a human” menu',
};

const sourceLabels = { PROCESSING: 'Processing', READY: 'Ready', FAILED: 'Failed' };

/** render shows the agent list and the agent id (or the first one). */
export function render(main, app, id) {
  const nav = h('ul', { class: 'agent-list' });
  const panel = h('div', { class: 'agent-panel' });
  const timers = new Set();
  const after = (ms, fn) => { const t = setTimeout(() => { timers.delete(t); fn(); }, ms); timers.add(t); };
  put(main, h('div', { class: 'setup' },
    h('aside', { 'aria-label': 'Agents' }, h('h2', {}, 'Agents'), nav, newAgentForm()),
    panel));

  async function loadNav() {
    const { agents } = await gql(`{ agents { id name messengerChannels { status health { ok } } } }`);
    put(nav, agents.map((a) => {
      const live = a.messengerChannels.find((c) => c.status !== 'REMOVED');
      return h('li', {}, h('a', { href: `#/setup/${a.id}`, 'aria-current': a.id === id ? 'page' : null },
        a.name, live && channelBadge(live)));
    }));
    return agents;
  }
  loadNav().then((agents) => {
    if (!id && agents.length) location.replace(`#/setup/${agents[0].id}`);
    else if (id) agentPanel(panel, id, after, loadNav, app);
    else put(panel, h('div', { class: 'placeholder' }, h('p', {}, 'Create your first agent: give it a name, then connect a Facebook Page and add knowledge.')));
  }, (e) => put(panel, h('p', { class: 'error', role: 'alert' }, e.message)));

  return () => timers.forEach(clearTimeout);
}

function newAgentForm() {
  const name = h('input', { id: 'agent-name', required: true, autocomplete: 'off' });
  const instructions = h('textarea', { id: 'agent-instructions', rows: 3, placeholder: 'Answer briefly and kindly.' });
  const err = errorLine();
  const button = h('button', { type: 'submit', class: 'primary' }, 'Create agent');
  const form = h('form', { class: 'card', 'aria-labelledby': 'new-agent' },
    h('h3', { id: 'new-agent' }, 'New agent'),
    h('label', { for: 'agent-name' }, 'Name'), name,
    h('label', { for: 'agent-instructions' }, 'Instructions (optional)'), instructions,
    err, button);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    busy(button, async () => {
      const input = { name: name.value.trim() };
      if (instructions.value.trim()) input.instructions = instructions.value.trim();
      const d = await gql(`mutation($i: CreateAgentInput!) { createAgent(input: $i) { id } }`, { i: input });
      location.hash = `#/setup/${d.createAgent.id}`;
    }, err);
  });
  return form;
}

function agentPanel(panel, id, after, loadNav, app) {
  const settings = h('section', { class: 'card', 'aria-labelledby': 'h-settings' });
  const messenger = h('section', { class: 'card', 'aria-labelledby': 'h-messenger' });
  const knowledge = h('section', { class: 'card', 'aria-labelledby': 'h-knowledge' });
  const tryBot = h('section', { class: 'card', 'aria-labelledby': 'h-try' });
  const figures = app.features.agentStats && h('section', { class: 'card', 'aria-labelledby': 'h-stats' });
  put(panel, settings, messenger, knowledge, tryBot, figures);

  async function load() {
    const d = await gql(AGENT, { id });
    if (!d.node) throw new Error('This agent does not exist, or belongs to another workspace.');
    return d.node;
  }
  const reloadMessenger = () => Promise.all([load(), loadNav()]).then(([a]) => channels(messenger, a, reloadMessenger, watch));
  const reloadKnowledge = () => load().then((a) => sources(knowledge, a, reloadKnowledge, watch));
  // watch polls for changes made elsewhere (Meta's verification, background
  // processing) and calls render when key(agent) changes; the section is not
  // redrawn otherwise, so nothing typed into it is lost.
  function watch(el, ms, key, was, render) {
    const gen = el.gen; // a redraw of el ends this watch
    const poll = () => after(ms, () => el.gen === gen && load().then((a) => {
      if (el.gen === gen) key(a) === was ? poll() : render();
    }, poll));
    poll();
  }
  load().then((a) => {
    agentSettings(settings, a);
    channels(messenger, a, reloadMessenger, watch);
    sources(knowledge, a, reloadKnowledge, watch);
    tryTheBot(tryBot, a);
    if (figures) stats(figures, a);
  }, (e) => put(panel, h('p', { class: 'error', role: 'alert' }, e.message)));
}

function agentSettings(el, a) {
  // [field, label, kind]: kind is input, textarea, number (empty: unset) or checkbox.
  const fields = [
    ['name', 'Name', 'input'],
    ['instructions', 'Instructions (persona)', 'textarea'],
    ['welcomeMessage', 'Welcome message (the answer to the Get Started button)', 'textarea'],
    ['handoffCommand', 'Handoff command (what a customer types to reach a human)', 'input'],
    ['handoffMessage', 'Handoff message (sent when a human is requested)', 'textarea'],
    ['afterHoursMessage', 'After-hours message (sent instead, outside business hours)', 'textarea'],
    ['timezone', 'Time zone of the business hours (IANA, such as Europe/Berlin)', 'input'],
    ['fallbackMessage', 'Fallback message (sent when the knowledge base has no answer)', 'textarea'],
    ['handoffTimeoutSeconds', 'Return unanswered handoffs to the bot after (seconds; empty: never)', 'number'],
    ['pauseBotOnEcho', 'A reply from Meta\'s Page Inbox takes the conversation over from the bot', 'checkbox'],
  ];
  const inputs = {};
  const err = errorLine();
  const saved = h('span', { class: 'ok-note', role: 'status' });
  const button = h('button', { type: 'submit' }, 'Save');
  const form = h('form', {}, fields.map(([k, label, kind]) => {
    if (kind === 'checkbox') {
      inputs[k] = h('input', { id: `a-${k}`, type: 'checkbox', checked: a[k] || null });
      return h('label', { for: `a-${k}`, class: 'check' }, inputs[k], ` ${label}`);
    }
    const tag = kind === 'textarea' ? 'textarea' : 'input';
    inputs[k] = h(tag, { id: `a-${k}`, value: a[k] ?? '', rows: tag === 'textarea' ? 2 : null,
      type: kind === 'number' ? 'number' : null, min: kind === 'number' ? 0 : null });
    return [h('label', { for: `a-${k}` }, label), inputs[k]];
  }), h('p', { class: 'hint' }, 'Business hours are set through the API (updateAgent businessHours).'),
  err, h('div', { class: 'row' }, button, saved));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    saved.textContent = '';
    busy(button, async () => {
      const input = {};
      for (const [k, , kind] of fields) {
        const v = inputs[k];
        if (kind === 'checkbox') input[k] = v.checked;
        else if (kind === 'number' && v.value.trim() === '') input.clearHandoffTimeoutSeconds = true;
        else if (kind === 'number') input[k] = Number(v.value);
        else input[k] = v.value;
      }
      await gql(`mutation($id: ID!, $i: UpdateAgentInput!) { updateAgent(id: $id, input: $i) { id } }`, { id: a.id, i: input });
      saved.textContent = 'Saved.';
    }, err);
  });
  put(el, h('details', {}, h('summary', {}, h('h2', { id: 'h-settings' }, a.name), h('span', { class: 'hint' }, ' — settings')), form));
}

const channelKey = (a) => a.messengerChannels.map((c) => c.status).join();
const sourceKey = (a) => a.knowledgeSources.map((s) => s.status).join();

function channels(el, a, reload, watch) {
  el.gen = (el.gen || 0) + 1;
  const live = a.messengerChannels.filter((c) => c.status !== 'REMOVED');
  const err = errorLine();
  const start = h('button', { type: 'button', class: 'primary' }, 'Connect a Facebook Page');
  start.addEventListener('click', () => busy(start, async () => {
    await gql(`mutation($a: ID!) { setupMessengerChannel(agentId: $a) { id } }`, { a: a.id });
    await reload();
  }, err));
  put(el, h('h2', { id: 'h-messenger' }, 'Messenger'),
    live.length === 0 && [h('p', {}, 'Connect a Facebook Page so the agent answers its Messenger chats. It takes two steps in your Meta app.'), start, err],
    live.map((c) => channel(c, reload)));
  // Meta's verification arrives from outside: watch for it.
  if (live.some((c) => c.status === 'AWAITING_VERIFICATION')) watch(el, 2000, channelKey, channelKey(a), reload);
}

function copyField(id, label, value) {
  const input = h('input', { id, value, readonly: true, class: 'mono' });
  const done = h('span', { class: 'ok-note', role: 'status' });
  const button = h('button', { type: 'button', 'aria-label': `Copy ${label}` }, 'Copy');
  button.addEventListener('click', async () => {
    done.textContent = (await copy(value, input)) ? 'Copied' : 'Select it and copy';
    setTimeout(() => { done.textContent = ''; }, 2000);
  });
  return [h('label', { for: id }, label), h('div', { class: 'row' }, input, button, done)];
}

function channel(c, reload) {
  const err = errorLine();
  const verified = c.verifiedAt
    ? h('p', { class: 'ok-note' }, '✓ Meta verified the webhook on ', time(c.verifiedAt), '.')
    : h('p', { class: 'waiting' }, 'Waiting for Meta’s verification request… This page updates by itself when it arrives.');

  const step1 = h('fieldset', { class: 'step' },
    h('legend', {}, 'Step 1 · Webhook'),
    h('p', {}, 'In your Meta app, open Messenger → Settings → Webhooks, choose “Add Callback URL” and paste these two values. Then subscribe the webhook to messages, messaging_postbacks and message_echoes.'),
    copyField(`callback-${c.id}`, 'Callback URL', c.callbackUrl),
    copyField(`verify-${c.id}`, 'Verify token', c.verifyToken),
    verified);

  const token = h('input', { id: `page-token-${c.id}`, type: 'password', autocomplete: 'off', required: true });
  const secret = h('input', { id: `app-secret-${c.id}`, type: 'password', autocomplete: 'off', required: true });
  const connect = h('button', { type: 'submit', class: 'primary' }, c.status === 'CONNECTED' ? 'Replace' : 'Connect');
  const form = h('form', {},
    h('label', { for: `page-token-${c.id}` }, 'Page access token'), token,
    h('p', { class: 'hint' }, 'Meta app → Messenger → Settings → Access tokens: generate one for your Page.'),
    h('label', { for: `app-secret-${c.id}` }, 'App secret'), secret,
    h('p', { class: 'hint' }, 'Meta app → App settings → Basic → App secret. SeaChat uses it to check that events really come from Meta. Both are stored encrypted.'),
    err, connect);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    busy(connect, async () => {
      await gql(`mutation($c: ID!, $i: ConnectMessengerPageInput!) { connectMessengerPage(channelId: $c, input: $i) { id } }`,
        { c: c.id, i: { pageAccessToken: token.value.trim(), appSecret: secret.value.trim() } });
      await reload();
    }, err);
  });
  const step2 = h('fieldset', { class: 'step' }, h('legend', {}, 'Step 2 · Page'),
    c.status === 'CONNECTED' ? h('details', {}, h('summary', {}, 'Replace the page token or app secret'), form) : form);

  const checks = h('ul', { class: 'checks', 'aria-label': 'Health checks' });
  const showHealth = (health) => put(checks, health.checks.map((k) => h('li', { class: k.ok ? 'ok' : 'bad' },
    h('span', { class: 'mark', 'aria-hidden': 'true' }, k.ok ? '✓' : '✗'),
    h('div', {}, h('strong', {}, checkLabels[k.name] || k.name), h('span', { class: 'visually-hidden' }, k.ok ? ' (passing)' : ' (failing)'),
      h('p', { class: 'detail' }, k.detail)))));
  showHealth(c.health);
  const run = h('button', { type: 'button' }, 'Run checks now');
  run.addEventListener('click', () => busy(run, async () => {
    const d = await gql(`mutation($c: ID!) { checkMessengerChannel(channelId: $c) { ok checks { name ok detail } } }`, { c: c.id });
    showHealth(d.checkMessengerChannel);
  }, err));

  const remove = h('button', { type: 'button', class: 'danger' }, 'Remove');
  remove.addEventListener('click', () => {
    if (!confirm('Remove this Messenger channel? SeaChat unsubscribes the Page and erases its token and secret. Transcripts are kept.')) return;
    busy(remove, async () => {
      await gql(`mutation($c: ID!) { removeMessengerChannel(channelId: $c) { id status } }`, { c: c.id });
      await reload();
    }, err);
  });

  return h('div', { class: 'channel', 'data-status': c.status },
    h('p', { class: 'row' }, channelBadge(c),
      c.pageName && h('span', {}, ` Page “${c.pageName}” (${c.pageId})`),
      h('span', { class: 'grow' }), remove),
    c.lastError && h('p', { class: 'error' }, c.lastError),
    step1, step2,
    h('fieldset', { class: 'step' }, h('legend', {}, 'Health'), checks, run));
}

function sources(el, a, reload, watch) {
  el.gen = (el.gen || 0) + 1;
  const input = h('input', { id: 'knowledge-file', type: 'file', multiple: true, class: 'visually-hidden',
    accept: '.pdf,.docx,.html,.htm,.md,.markdown,.csv,.txt' });
  const err = errorLine();
  const progress = h('p', { class: 'hint', role: 'status' });
  const drop = h('div', { class: 'dropzone', id: 'dropzone' },
    h('p', {}, 'Drop PDF, DOCX, HTML, Markdown, CSV or text files here, or'),
    h('label', { for: 'knowledge-file', class: 'button' }, 'Choose files'), input, progress);

  async function send(files) {
    err.textContent = '';
    for (const f of files) {
      progress.textContent = `Uploading ${f.name}…`;
      try {
        await upload(`mutation($a: ID!, $f: Upload!) { uploadKnowledge(agentId: $a, file: $f) { id } }`, { a: a.id }, 'f', f);
      } catch (e) {
        err.textContent = `${f.name}: ${e.message}`;
      }
    }
    progress.textContent = '';
    await reload();
  }
  input.addEventListener('change', () => send([...input.files]));
  drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    send([...e.dataTransfer.files]);
  });

  const title = h('input', { id: 'text-title', required: true });
  const body = h('textarea', { id: 'text-body', rows: 4, required: true });
  const add = h('button', { type: 'submit' }, 'Add text');
  const textForm = h('form', {}, h('label', { for: 'text-title' }, 'Title'), title,
    h('label', { for: 'text-body' }, 'Text'), body, add);
  textForm.addEventListener('submit', (e) => {
    e.preventDefault();
    busy(add, async () => {
      await gql(`mutation($a: ID!, $t: String!, $x: String!) { addKnowledgeText(agentId: $a, title: $t, text: $x) { id } }`,
        { a: a.id, t: title.value, x: body.value });
      await reload();
    }, err);
  });

  const rows = a.knowledgeSources.map((s) => h('tr', { 'data-id': s.id },
    h('td', {}, s.title, s.filename && s.filename !== s.title && h('div', { class: 'hint' }, s.filename)),
    h('td', {}, s.kind.toLowerCase()),
    h('td', {}, size(s.bytes)),
    h('td', {}, h('span', { class: `badge k-${s.status.toLowerCase()}` }, sourceLabels[s.status]),
      s.error && h('div', { class: 'error' }, s.error)),
    h('td', {}, String(s.chunkCount)),
    h('td', {}, h('button', { type: 'button', class: 'link danger', 'aria-label': `Delete ${s.title}`,
      onclick: (e) => confirm(`Delete “${s.title}”? The bot stops using it at once.`) && busy(e.currentTarget, async () => {
        await gql(`mutation($id: ID!) { deleteKnowledgeSource(id: $id) }`, { id: s.id });
        await reload();
      }, err) }, 'Delete'))));

  put(el, h('h2', { id: 'h-knowledge' }, 'Knowledge'),
    h('p', {}, 'The bot answers only from these sources.'),
    drop,
    h('details', {}, h('summary', {}, 'Add a text instead'), textForm),
    err,
    rows.length ? h('table', { class: 'sources' },
      h('caption', { class: 'visually-hidden' }, 'Knowledge sources'),
      h('thead', {}, h('tr', {}, ['Title', 'Kind', 'Size', 'Status', 'Chunks', ''].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, rows)) : h('p', { class: 'hint' }, 'No knowledge yet.'));
  if (a.knowledgeSources.some((s) => s.status === 'PROCESSING')) watch(el, 1000, sourceKey, sourceKey(a), reload);
}

function size(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1 << 20) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / (1 << 20)).toFixed(1)} MB`;
}

function tryTheBot(el, a) {
  const q = h('input', { id: 'try-question', required: true, autocomplete: 'off', placeholder: 'When are you open?' });
  const ask = h('button', { type: 'submit', class: 'primary' }, 'Ask');
  const out = h('div', { class: 'answer', 'aria-live': 'polite' });
  const err = errorLine();
  const form = h('form', { class: 'row' }, q, ask);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    busy(ask, async () => {
      const d = await gql(`query($a: ID!, $q: String!) { answer(agentId: $a, question: $q) { text answered citations { snippet score source { title } } } }`,
        { a: a.id, q: q.value });
      const r = d.answer;
      put(out, h('p', { class: 'text' }, r.text),
        h('p', { class: r.answered ? 'ok-note' : 'waiting' }, r.answered
          ? 'Answered from the knowledge base.'
          : 'No answer in the knowledge base: the bot would send this fallback with a “Talk to a human” button.'),
        r.citations.length > 0 && h('ul', { class: 'cites' }, r.citations.map((c) =>
          h('li', {}, h('strong', {}, c.source.title), ` — ${c.snippet}`))));
    }, err);
  });
  put(el, h('h2', { id: 'h-try' }, 'Try the bot'),
    h('p', {}, 'Ask what a customer would ask. Nothing is sent to Messenger.'),
    h('label', { for: 'try-question' }, 'Question'), form, err, out);
}

function ms(n) {
  if (n == null) return '—';
  return n < 1000 ? `${n} ms` : `${(n / 1000).toFixed(1)} s`;
}

const dayFormat = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric', timeZone: 'UTC' });

/** chart draws conversations and handoffs per day as bars (heights set through CSSOM, which the CSP allows). */
function chart(days) {
  const max = Math.max(1, ...days.map((d) => d.conversations), ...days.map((d) => d.handoffs));
  const bar = (kind, n) => {
    const b = h('span', { class: `bar ${kind}` });
    b.style.height = `${(100 * n) / max}%`;
    return b;
  };
  return h('figure', { class: 'chart' },
    h('figcaption', {}, 'Per day (UTC): ', h('span', { class: 'key conversations' }, 'conversations'), ' and ',
      h('span', { class: 'key handoffs' }, 'handoffs')),
    h('div', { class: 'bars', role: 'list' }, days.map((d) => {
      const label = `${dayFormat.format(new Date(d.day))}: ${d.conversations} conversations, ${d.handoffs} handoffs`;
      return h('div', { class: 'day', role: 'listitem', title: label, 'aria-label': label },
        bar('conversations', d.conversations), bar('handoffs', d.handoffs));
    })));
}

function stats(el, a) {
  const range = h('select', { id: 'stats-range' },
    [['7', 'Last 7 days'], ['30', 'Last 30 days'], ['', 'All time']].map(([v, label]) => h('option', { value: v }, label)));
  const out = h('div', { 'aria-live': 'polite' });
  async function load() {
    const from = range.value ? new Date(Date.now() - Number(range.value) * 864e5).toISOString() : null;
    try {
      const { agentStats: s } = await gql(`query($a: ID!, $from: Time) { agentStats(agentId: $a, from: $from) {
        conversations inboundMessages botAnswers unanswered handoffs medianBotReplyMs topUnansweredQuestions
        daily { day conversations handoffs } } }`, { a: a.id, from });
      const figure = (label, value) => h('div', { class: 'figure' }, h('dt', {}, label), h('dd', {}, value));
      put(out, h('dl', { class: 'figures' },
        figure('Conversations', s.conversations),
        figure('Messages from people', s.inboundMessages),
        figure('Answered by the bot', s.botAnswers),
        figure('Not in the knowledge base', s.unanswered),
        figure('Handoffs to a human', s.handoffs),
        figure('Median bot reply', ms(s.medianBotReplyMs))),
      s.daily && chart(s.daily),
      s.topUnansweredQuestions.length > 0 && [h('h3', {}, 'Questions the bot could not answer'),
        h('p', { class: 'hint' }, 'Add knowledge that answers them.'),
        h('ol', {}, s.topUnansweredQuestions.map((q) => h('li', {}, q)))]);
    } catch (e) {
      put(out, h('p', { class: 'error', role: 'alert' }, e.message));
    }
  }
  range.addEventListener('change', load);
  put(el, h('div', { class: 'row' }, h('h2', { id: 'h-stats', class: 'grow' }, 'Figures'),
    h('label', { for: 'stats-range', class: 'visually-hidden' }, 'Range'), range), out);
  load();
}
