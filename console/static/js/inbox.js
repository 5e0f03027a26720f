// Conversations: the live list with its filters, and one conversation's
// transcript, reply box and controls.

import { gql } from './api.js';
import { h, put, time, badge, busy, errorLine, toast, webHref } from './dom.js';

export const CONVERSATION_FIELDS = `id status tags handoffRequestedAt assignedTo lastMessageAt lastUserMessageAt
  contact { id psid name } agent { id name } replyWindow { state endsAt }`;
export const MESSAGE_FIELDS = `id direction author text deliveryStatus error sentBy answered createdAt
  attachments { type url } citations { snippet score source { id title } }`;

// list asks for a page of conversations; search only where the server has it.
const list = (search, inbox) => `query($where: ConversationWhereInput, $first: Int, $after: Cursor${search ? ', $search: String' : ''}) {
  conversations(first: $first, after: $after, where: $where${search ? ', search: $search' : ''}) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { node { ${CONVERSATION_FIELDS}${inbox ? ' unreadCount' : ''} messages(last: 1) { edges { node { author text deliveryStatus } } } } }
  }
  agents { id name }
}`;

const CONVERSATION = `query($id: ID!, $before: Cursor) {
  node(id: $id) { ... on Conversation { ${CONVERSATION_FIELDS}
    messages(last: 50, before: $before) { pageInfo { hasPreviousPage startCursor } edges { node { ${MESSAGE_FIELDS} } } } } }
}`;

// The filters outlive a visit to another page.
const filter = { status: '', agentId: '', tag: '', search: '', assigned: '' };

const authorLabel = { USER: 'Customer', BOT: 'Bot', AGENT: 'Agent', SYSTEM: 'System', NOTE: 'Note' };

/** render shows the list and, when id is set, that conversation. */
export function render(main, app, id) {
  const items = h('ul', { class: 'conv-list', 'aria-label': 'Conversations' });
  const summary = h('p', { class: 'summary', 'aria-live': 'polite' });
  const more = h('button', { type: 'button', class: 'link', hidden: true }, 'Show more');
  const agentSelect = h('select', { id: 'f-agent' }, h('option', { value: '' }, 'All agents'));
  const thread = h('section', { class: 'thread', 'aria-label': 'Conversation' });
  let after = null;
  let timer;

  const filters = h('form', { class: 'filters', 'aria-label': 'Filter conversations' },
    h('label', { for: 'f-status' }, 'Status'),
    h('select', { id: 'f-status', onchange: (e) => { filter.status = e.target.value; reload(); } },
      [['', 'All'], ['HANDOFF_REQUESTED', 'Wants a human'], ['HUMAN', 'With a human'], ['BOT', 'With the bot'], ['CLOSED', 'Closed']]
        .map(([v, label]) => h('option', { value: v, selected: filter.status === v }, label))),
    app.features.inbox && [h('label', { for: 'f-assigned' }, 'Assigned'),
      h('select', { id: 'f-assigned', onchange: (e) => { filter.assigned = e.target.value; reload(); } },
        [['', 'Anyone'], ['mine', 'Mine'], ['unassigned', 'Unassigned']]
          .map(([v, label]) => h('option', { value: v, selected: filter.assigned === v }, label)))],
    h('label', { for: 'f-agent' }, 'Agent'), agentSelect,
    h('label', { for: 'f-tag' }, 'Tag'),
    h('input', { id: 'f-tag', type: 'search', value: filter.tag, placeholder: 'any',
      oninput: (e) => { filter.tag = e.target.value.trim(); clearTimeout(timer); timer = setTimeout(reload, 300); } }),
    app.features.search && [h('label', { for: 'f-search' }, 'Search'),
      h('input', { id: 'f-search', type: 'search', value: filter.search, placeholder: 'words or a name',
        oninput: (e) => { filter.search = e.target.value.trim(); clearTimeout(timer); timer = setTimeout(reload, 300); } })]);
  filters.addEventListener('submit', (e) => e.preventDefault());
  agentSelect.addEventListener('change', () => { filter.agentId = agentSelect.value; reload(); });

  put(main, h('div', { class: 'inbox' },
    h('section', { class: 'list', 'aria-label': 'Conversation list' }, filters, summary, items, more),
    thread));

  async function where() {
    const w = {};
    if (filter.assigned === 'mine') {
      app.tokenId ??= (await gql('{ viewer { tokenId } }')).viewer.tokenId;
      w.assigneeId = app.tokenId;
    }
    if (filter.assigned === 'unassigned') w.unassigned = true;
    if (filter.status) w.status = filter.status;
    if (filter.agentId) w.agentID = filter.agentId;
    if (filter.tag) w.tag = filter.tag;
    return w;
  }

  let loading = Promise.resolve();
  function reload() {
    after = null;
    loading = loading.then(() => load(false));
    return loading;
  }
  async function load(append) {
    let d;
    try {
      const search = app.features.search ? filter.search : '';
      // A refresh keeps as many rows as "Show more" had loaded.
      const first = append ? 30 : Math.min(100, Math.max(30, items.querySelectorAll('li.conv').length));
      d = await gql(list(search, app.features.inbox), { where: await where(), first, after: append ? after : null, ...(search && { search }) });
    } catch (err) {
      summary.textContent = err.message;
      return;
    }
    const c = d.conversations;
    if (agentSelect.options.length !== d.agents.length + 1) {
      put(agentSelect, h('option', { value: '' }, 'All agents'),
        d.agents.map((a) => h('option', { value: a.id, selected: a.id === filter.agentId }, a.name)));
    }
    after = c.pageInfo.endCursor;
    more.hidden = !c.pageInfo.hasNextPage;
    summary.textContent = c.totalCount === 1 ? '1 conversation' : `${c.totalCount} conversations`;
    const rows = c.edges.map((e) => item(e.node));
    if (append) items.append(...rows);
    else put(items, rows);
    if (!c.totalCount) {
      items.append(h('li', { class: 'empty' }, Object.values(filter).some(Boolean)
        ? 'No conversation matches these filters.'
        : 'No conversations yet. When someone messages your Page, it appears here at once.'));
    }
  }
  more.addEventListener('click', () => { loading = loading.then(() => load(true)); });

  function item(c) {
    const last = c.messages.edges[0]?.node;
    const name = c.contact.name || `User ${c.contact.psid}`;
    const waiting = c.status === 'HANDOFF_REQUESTED';
    return h('li', { class: `conv${waiting ? ' handoff' : ''}`, 'data-id': c.id, 'aria-current': c.id === id ? 'true' : null },
      h('a', { href: `#/conversations/${c.id}` },
        h('span', { class: 'row' }, h('strong', { class: 'name' }, name),
          c.unreadCount > 0 && id !== c.id && h('span', { class: 'unread', title: 'Unread messages' }, String(c.unreadCount)),
          time(c.lastMessageAt)),
        h('span', { class: 'row sub' }, badge(c.status),
          last?.deliveryStatus === 'FAILED' && h('span', { class: 'badge s-error', title: 'The last reply did not reach Messenger' }, 'Not delivered'),
          h('span', { class: 'agent' }, c.agent.name),
          c.tags.map((t) => h('span', { class: 'tag' }, t))),
        last && h('span', { class: 'preview' }, `${authorLabel[last.author]}: ${last.text || '(attachment)'}`)),
      waiting && h('button', { type: 'button', class: 'primary accept', 'aria-label': `Accept ${name}`,
        onclick: (e) => busy(e.currentTarget, async () => {
          const d = await gql(`mutation($c: ID!) { r: acceptHandoff(conversationId: $c) { ${CONVERSATION_FIELDS} } }`, { c: c.id });
          app.events.dispatchEvent(new CustomEvent('conversation', { detail: d.r }));
          location.hash = `#/conversations/${c.id}`;
        }) }, 'Accept'));
  }

  const view = id ? conversationView(thread, app, id) : (put(thread, h('div', { class: 'placeholder' },
    h('p', {}, 'Pick a conversation to read it and reply.'),
    h('p', { class: 'hint' }, 'Conversations waiting for a human are highlighted: Accept takes one over from the bot.'))), null);

  // Any event may change what the filtered list shows: refetch it, at most
  // every 250 ms.
  let pending;
  const refresh = () => { clearTimeout(pending); pending = setTimeout(reload, 250); };
  const onMessage = (e) => { refresh(); view?.message(e.detail); };
  const onConversation = (e) => { refresh(); view?.conversation(e.detail); };
  const onReconnect = () => { refresh(); view?.reload(); };
  app.events.addEventListener('message', onMessage);
  app.events.addEventListener('conversation', onConversation);
  app.events.addEventListener('handoff', onConversation);
  app.events.addEventListener('reconnect', onReconnect);
  app.events.addEventListener('read', refresh);
  reload();
  return () => {
    clearTimeout(pending);
    clearTimeout(timer);
    app.events.removeEventListener('message', onMessage);
    app.events.removeEventListener('conversation', onConversation);
    app.events.removeEventListener('handoff', onConversation);
    app.events.removeEventListener('reconnect', onReconnect);
    app.events.removeEventListener('read', refresh);
  };
}

// download is a button that saves the conversation's transcript as a file.
function download(c, format, ext, label) {
  return h('button', { type: 'button', class: 'link', 'aria-label': `Download the transcript as ${ext.toUpperCase()}`,
    onclick: (e) => busy(e.currentTarget, async () => {
      const d = await gql(`query($c: ID!, $f: TranscriptFormat!) { transcript(conversationId: $c, format: $f) }`, { c: c.id, f: format });
      const url = URL.createObjectURL(new Blob([d.transcript], { type: ext === 'csv' ? 'text/csv' : 'text/plain' }));
      h('a', { href: url, download: `seachat-${c.contact.psid}.${ext}` }).click();
      setTimeout(() => URL.revokeObjectURL(url), 1000);
    }) }, label);
}

// conversationView renders one conversation into el and returns the hooks
// the live events call.
function conversationView(el, app, id) {
  const head = h('div', { class: 'conv-head' });
  const log = h('ol', { class: 'transcript', role: 'log', 'aria-label': 'Transcript' });
  const earlier = h('button', { type: 'button', class: 'link', hidden: true }, 'Load earlier messages');
  const windowNote = h('p', { class: 'window', id: 'window-note' });
  const text = h('textarea', { id: 'reply', rows: 3, 'aria-describedby': 'window-note', placeholder: 'Ctrl+Enter sends' });
  const send = h('button', { type: 'submit', class: 'primary' }, 'Send');
  const err = errorLine();
  const cannedHint = h('p', { class: 'hint canned', 'aria-live': 'polite' });
  const noteButton = app.features.inbox && h('button', { type: 'button', title: 'Stored for your team only, never sent to the customer' }, 'Add note');
  const form = h('form', { class: 'reply' }, h('label', { for: 'reply' }, 'Reply'), text, cannedHint, windowNote,
    h('div', { class: 'row' }, err, h('span', { class: 'grow' }), noteButton, send));
  let canned = null; // the workspace's canned responses, loaded when "/" is first typed
  const seen = new Set();
  let conv;
  let before = null;
  let early = []; // live messages that came while the transcript loaded

  put(el, head, h('div', { class: 'scroll' }, earlier, log), form);

  async function reload() {
    try {
      const d = await gql(CONVERSATION, { id });
      if (!d.node) throw new Error('This conversation does not exist, or belongs to another workspace.');
      seen.clear();
      put(log);
      show(d.node);
      addPage(d.node.messages, false);
      early.filter((m) => !seen.has(m.id)).forEach(append);
      early = [];
      log.parentElement.scrollTop = log.parentElement.scrollHeight;
      markRead();
    } catch (e) {
      put(el, h('p', { class: 'error', role: 'alert' }, e.message));
    }
  }

  function addPage(page, prepend) {
    before = page.pageInfo.startCursor;
    earlier.hidden = !page.pageInfo.hasPreviousPage;
    const nodes = page.edges.map((e) => e.node).filter((m) => !seen.has(m.id));
    nodes.forEach((m) => seen.add(m.id));
    if (prepend) log.prepend(...nodes.map(message));
    else log.append(...nodes.map(message));
  }
  earlier.addEventListener('click', async () => {
    const d = await gql(CONVERSATION, { id, before });
    addPage(d.node.messages, true);
  });

  function message(m) {
    const who = (m.author === 'AGENT' || m.author === 'NOTE') && m.sentBy ? `${authorLabel[m.author]} · ${m.sentBy}`
      : m.author === 'USER' ? (conv.contact.name || 'Customer') : authorLabel[m.author];
    const problem = m.deliveryStatus === 'FAILED' ? `Not delivered: ${m.error || 'Meta refused it'}`
      : m.deliveryStatus === 'PENDING' ? 'Sending…' : '';
    return h('li', { class: `msg a-${m.author.toLowerCase()}`, 'data-id': m.id },
      h('div', { class: 'meta' }, h('span', { class: 'author' }, who), time(m.createdAt)),
      m.text && h('div', { class: 'text' }, m.text),
      m.attachments.map((a) => {
        const href = webHref(a.url);
        return h('div', { class: 'attachment' },
          href ? h('a', { href, target: '_blank', rel: 'noopener noreferrer' }, `${a.type} attachment`) : `${a.type} attachment`);
      }),
      problem && h('div', { class: `delivery ${m.deliveryStatus.toLowerCase()}` }, problem),
      m.author === 'BOT' && m.answered === false && h('div', { class: 'note' }, 'Not in the knowledge base: the fallback message was sent.'),
      m.citations.length > 0 && h('details', { class: 'citations' },
        h('summary', {}, m.citations.length === 1 ? '1 source' : `${m.citations.length} sources`),
        h('ul', {}, m.citations.map((c) => h('li', {}, h('strong', {}, c.source.title), ` — ${c.snippet}`)))));
  }

  function show(c) {
    conv = c;
    const name = c.contact.name || `User ${c.contact.psid}`;
    const act = (label, mutation, show) => show && h('button', { type: 'button', onclick: (e) => busy(e.currentTarget, async () => {
      const d = await gql(`mutation($c: ID!) { r: ${mutation}(conversationId: $c) { ${CONVERSATION_FIELDS} } }`, { c: id });
      changed(d.r);
    }) }, label);
    const tagInput = h('input', { id: 'new-tag', placeholder: 'add a tag', size: 12 });
    const setTags = (tags) => gql(`mutation($c: ID!, $t: [String!]!) { r: tagConversation(conversationId: $c, tags: $t) { ${CONVERSATION_FIELDS} } }`,
      { c: id, t: tags }).then((d) => changed(d.r), (e) => toast(e.message, { kind: 'error' }));
    const tagForm = h('form', { class: 'tags', 'aria-label': 'Tags' },
      c.tags.map((t) => h('span', { class: 'tag' }, t,
        h('button', { type: 'button', class: 'x', 'aria-label': `Remove tag ${t}`, onclick: () => setTags(c.tags.filter((x) => x !== t)) }, '×'))),
      h('label', { for: 'new-tag', class: 'visually-hidden' }, 'New tag'), tagInput,
      h('button', { type: 'submit' }, 'Add tag'));
    tagForm.addEventListener('submit', (e) => {
      e.preventDefault();
      const t = tagInput.value.trim();
      if (t && !c.tags.includes(t)) setTags([...c.tags, t]);
    });
    put(head,
      h('div', { class: 'row' },
        h('h2', {}, name), badge(c.status), h('span', { class: 'grow' }),
        act(c.status === 'BOT' ? 'Take over' : 'Accept', 'acceptHandoff', c.status === 'BOT' || c.status === 'HANDOFF_REQUESTED'),
        act('Return to bot', 'returnToBot', c.status === 'HUMAN' || c.status === 'HANDOFF_REQUESTED'),
        act('Close', 'closeConversation', c.status !== 'CLOSED')),
      h('p', { class: 'sub' }, `${c.agent.name} · Messenger user ${c.contact.psid}`,
        app.features.transcript && [' · ', download(c, 'TEXT', 'txt', 'Transcript'), ' ', download(c, 'CSV', 'csv', 'CSV')],
        c.assignedTo && ` · handled by ${c.assignedTo}`,
        c.status === 'HANDOFF_REQUESTED' && c.handoffRequestedAt && [' · asked for a human at ', time(c.handoffRequestedAt)]),
      tagForm);
    showWindow(c);
  }
  function showHead(c) { show({ ...conv, ...c }); }
  // changed passes the result of our own mutation on as if it came live, so
  // the list, the header and the waiting count all follow at once.
  function changed(c) { app.events.dispatchEvent(new CustomEvent('conversation', { detail: c })); }

  function showWindow(c) {
    const w = c.replyWindow;
    const until = w.endsAt ? new Date(w.endsAt).toLocaleString() : '';
    let note = {
      STANDARD: `Standard messaging window: your reply goes out normally${until && ` until ${until}`}.`,
      HUMAN_AGENT_TAG: `More than 24 hours since the customer wrote: your reply goes out with Meta's Human Agent tag, allowed${until && ` until ${until}`}.`,
      CLOSED: 'More than 7 days since the customer wrote: Messenger allows no reply until they write again.',
    }[w.state];
    let closed = w.state === 'CLOSED';
    if (c.status === 'CLOSED') {
      note = 'This conversation is closed. It opens again when the customer writes.';
      closed = true;
    } else if (c.status !== 'HUMAN' && !closed) {
      note += ' Sending takes the conversation over from the bot.';
    }
    windowNote.textContent = note;
    windowNote.className = `window w-${w.state.toLowerCase()}`;
    text.disabled = send.disabled = closed;
  }

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const body = text.value.trim();
    if (!body) return;
    busy(send, async () => {
      const q = `mutation($c: ID!, $t: String!, $o: Boolean) { sendAgentMessage(conversationId: $c, text: $t, takeOver: $o) { ${MESSAGE_FIELDS} conversation { ${CONVERSATION_FIELDS} } } }`;
      let d;
      try {
        d = await gql(q, { c: id, t: body });
      } catch (e) {
        // Another agent has the conversation: ask before taking it over.
        if (e.code !== 'CONFLICT' || !e.message.includes('takeOver')) throw e;
        if (!confirm(`${e.message.split(';')[0].replace(/^conversation is/, 'This conversation is')}. Take it over and send your reply?`)) return;
        d = await gql(q, { c: id, t: body, o: true });
      }
      text.value = '';
      append(d.sendAgentMessage);
      changed(d.sendAgentMessage.conversation);
    }, err);
  });
  text.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) form.requestSubmit();
  });
  // Canned responses: "/shortcut" followed by a space or Tab becomes its text.
  text.addEventListener('input', async () => {
    const m = app.features.inbox && /^\/([a-z0-9_-]*)(\s?)$/i.exec(text.value);
    if (!m) { cannedHint.textContent = ''; return; }
    canned ??= gql('{ cannedResponses { shortcut text } }').then((d) => d.cannedResponses, () => []);
    const all = await canned;
    const hit = all.find((c) => c.shortcut === m[1].toLowerCase());
    if (hit && m[2]) {
      text.value = hit.text;
      cannedHint.textContent = '';
      return;
    }
    const matches = all.filter((c) => c.shortcut.startsWith(m[1].toLowerCase())).slice(0, 5);
    cannedHint.textContent = matches.length ? `Canned responses: ${matches.map((c) => `/${c.shortcut}`).join(', ')} (type a space to insert)` : '';
  });
  noteButton?.addEventListener('click', () => {
    const body = text.value.trim();
    if (!body) return;
    busy(noteButton, async () => {
      const d = await gql(`mutation($c: ID!, $t: String!) { addNote(conversationId: $c, text: $t) { ${MESSAGE_FIELDS} } }`, { c: id, t: body });
      text.value = '';
      append(d.addNote);
    }, err);
  });
  // Reading the conversation marks it read for this token.
  const markRead = () => app.features.inbox && gql('mutation($c: ID!) { markConversationRead(conversationId: $c) { id } }', { c: id })
    .then(() => app.events.dispatchEvent(new CustomEvent('read', { detail: id })), () => {});

  function append(m) {
    const scroller = log.parentElement;
    const atBottom = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 80;
    const old = log.querySelector(`[data-id="${CSS.escape(m.id)}"]`);
    if (old) old.replaceWith(message(m));
    else log.append(message(m));
    seen.add(m.id);
    if (atBottom) scroller.scrollTop = scroller.scrollHeight;
  }

  reload();
  return {
    reload,
    message(m) {
      if (m.conversation.id !== id) return;
      if (!conv) {
        early.push(m);
        return;
      }
      append(m);
      if (m.author === 'USER') markRead();
      // The reply window moves with each customer message.
      if (m.author === 'USER') gql(`query($id: ID!) { node(id: $id) { ... on Conversation { ${CONVERSATION_FIELDS} } } }`, { id })
        .then((d) => d.node && showHead(d.node), () => {});
    },
    conversation(c) {
      if (conv && c.id === id) showHead(c);
    },
  };
}
