// The agent console, end to end: a real seachat and fakegraph, Debian's
// Chromium, and a staff member's day: sign in, set up an agent and its Page,
// add knowledge, watch a chat arrive live, take over a handoff and reply.
// Then GraphiQL at /, with the browser cut off from every other host.
//
// Run: make test-console (or: cd console/e2e && npm ci && npm test).
// Screenshots and server logs land in console/e2e/artifacts/.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { artifacts, launch, page as fbPage, root, sign, start, textEvent, waitFor } from './harness.mjs';

const appSecret = 'e2e-app-secret';
const psid = '4242000000000001';
const latePsid = '4242000000000002';
const expect = { timeout: 15000 };

/** adminAPI runs query on stack's /graphql as the admin and returns its data. */
async function adminAPI(stack, query) {
  const res = await fetch(`${stack.base}/graphql`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${stack.adminToken}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ query }),
  });
  const out = await res.json();
  assert.ok(!out.errors, JSON.stringify(out.errors));
  return out.data;
}

describe('agent console', () => {
  let stack;
  let browser;
  let page;
  let callbackUrl;
  let shots = 0;
  let has = {}; // optional API parts this server has (the console adapts to them)

  before(async () => {
    stack = await start();
    has = await api(`{ __schema { queryType { fields { name args { name } } } } }`).then((d) => {
      const q = Object.fromEntries(d.__schema.queryType.fields.map((f) => [f.name, f.args.map((a) => a.name)]));
      return { search: !!q.conversations?.includes('search'), transcript: !!q.transcript, agentStats: !!q.agentStats };
    });
    browser = await launch();
    const context = await browser.newContext({ viewport: { width: 1280, height: 820 } });
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: stack.base });
    page = await context.newPage();
    page.setDefaultTimeout(expect.timeout);
    page.on('dialog', (d) => d.accept());
    page.on('pageerror', (e) => console.error('page error:', e.message));
  });

  after(async () => {
    await browser?.close();
    await stack?.stop();
  });

  // shot keeps a screenshot, with what (a locator) scrolled into view, and
  // checks that nothing sticks out sideways.
  async function shot(name, what) {
    await what?.scrollIntoViewIfNeeded();
    await page.screenshot({ path: path.join(artifacts, `${String(++shots).padStart(2, '0')}-${name}.png`) });
    const [scroll, width] = await page.evaluate(() => [document.documentElement.scrollWidth, innerWidth]);
    assert.ok(scroll <= width, `the page is ${scroll}px wide in a ${width}px window`);
  }

  // step runs one it() and keeps a screenshot of the page when it fails.
  const step = (name, fn) => it(name, async (t) => {
    try {
      await fn(t);
    } catch (err) {
      await page?.screenshot({ path: path.join(artifacts, `failed-${name.replace(/\W+/g, '-')}.png`) }).catch(() => {});
      throw err;
    }
  });

  const text = (locator) => locator.textContent({ timeout: expect.timeout });
  const visible = (locator) => locator.waitFor({ state: 'visible' });

  const api = (query) => adminAPI(stack, query);

  async function postEvent(body) {
    const res = await fetch(callbackUrl, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-Hub-Signature-256': sign(appSecret, body) },
      body,
    });
    assert.equal(res.status, 200, 'the webhook refused a signed event');
  }

  const sentTo = (who, needle) => waitFor(() => stack.sent.find((l) => l.startsWith(`sent to ${who} `) && l.includes(needle)),
    `fakegraph to print a message to ${who} containing ${JSON.stringify(needle)}; it printed:\n${stack.sent.join('\n')}`);

  step('refuses a wrong token and signs in with a pasted one', async () => {
    await page.goto(`${stack.base}/console`);
    assert.equal(new URL(page.url()).pathname, '/console/', '/console redirects to /console/');
    await page.getByLabel('API token').fill('sct_not_a_token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await visible(page.getByRole('alert').filter({ hasText: /token/i }));
    await shot('sign-in-refused');

    await page.getByLabel('API token').fill(stack.adminToken);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await visible(page.getByRole('navigation', { name: 'Main' }));
    await visible(page.locator('#live.is-live'));
    const stored = await page.evaluate(() => ({ session: sessionStorage.getItem('seachat.token'), local: JSON.stringify(localStorage) }));
    assert.equal(stored.session, stack.adminToken);
    assert.ok(!stored.local.includes(stack.adminToken), 'the token leaked into localStorage');

    await page.reload(); // the token survives a reload of the tab
    await visible(page.locator('#live.is-live'));
    await visible(page.getByText('No conversations yet'));
    await shot('signed-in');
  });

  step('creates an agent', async () => {
    await page.getByRole('link', { name: 'Setup' }).click();
    const form = page.getByRole('form', { name: 'New agent' });
    await form.getByLabel('Name').fill('Harbor Bikes');
    await form.getByLabel('Instructions (optional)').fill('Answer briefly and kindly.');
    await form.getByRole('button', { name: 'Create agent' }).click();
    await visible(page.getByRole('heading', { name: 'Harbor Bikes' }));
    await visible(page.getByRole('link', { name: 'Harbor Bikes' }));
    assert.match(page.url(), /#\/setup\/.+/);
    await shot('agent-created');
  });

  step('Step 1: shows the callback URL and verify token, and sees Meta verify them', async () => {
    await page.getByRole('button', { name: 'Connect a Facebook Page' }).click();
    const urlInput = page.getByLabel('Callback URL', { exact: true });
    await visible(urlInput);
    callbackUrl = await urlInput.inputValue();
    const verifyToken = await page.getByLabel('Verify token', { exact: true }).inputValue();
    assert.ok(callbackUrl.startsWith(`${stack.base}/webhooks/messenger/`), callbackUrl);
    assert.ok(verifyToken.length >= 16, verifyToken);

    await page.getByRole('button', { name: 'Copy Callback URL' }).click();
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), callbackUrl);
    await page.getByRole('button', { name: 'Copy Verify token' }).click();
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), verifyToken);
    await visible(page.getByText('Waiting for Meta’s verification request'));
    await shot('step1-waiting');

    // Meta's verification GET, as Meta sends it.
    const q = new URLSearchParams({ 'hub.mode': 'subscribe', 'hub.verify_token': verifyToken, 'hub.challenge': '1158201444' });
    const res = await fetch(`${callbackUrl}?${q}`);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), '1158201444');
    await visible(page.getByText('Meta verified the webhook on')); // no reload: the page watches for it
    await shot('step1-verified');
  });

  step('Step 2: refuses a bad page token, connects with a good one, shows health', async () => {
    await page.getByLabel('Page access token').fill('EAAGwrongtoken');
    await page.getByLabel('App secret').fill(appSecret);
    await page.getByRole('button', { name: 'Connect', exact: true }).click();
    await visible(page.getByRole('alert').filter({ hasText: /token/i }));

    await page.getByLabel('Page access token').fill(fbPage.token);
    await page.getByRole('button', { name: 'Connect', exact: true }).click();
    await visible(page.locator('.channel[data-status=CONNECTED]'));
    await visible(page.getByText(`Page “${fbPage.name}” (${fbPage.id})`));
    await page.getByRole('button', { name: 'Run checks now' }).click();
    const checks = page.getByRole('list', { name: 'Health checks' });
    await visible(checks.locator('li.ok', { hasText: 'The page access token works' }));
    await visible(checks.locator('li.ok', { hasText: 'The Page sends its messages to SeaChat' }));
    // No event yet: the check says what to do, in plain words.
    await visible(checks.locator('li.bad', { hasText: 'Messages have arrived' }).getByText(/message the Page/));
    await visible(checks.locator('li.ok', { hasText: 'Talk to a human' }));
    // A failing check shows on the badge, not a green "Connected".
    await visible(page.locator('.channel .badge.s-unhealthy', { hasText: 'Connected · check health' }));
    await shot('step2-connected-health', checks);
  });

  step('uploads knowledge by drag and drop and with the file picker', async () => {
    const md = readFileSync(path.join(root, 'internal/knowledge/testdata/harbor-bikes.md'), 'utf8');
    const dt = await page.evaluateHandle((md) => {
      const dt = new DataTransfer();
      dt.items.add(new File([md], 'harbor-bikes.md', { type: 'text/markdown' }));
      return dt;
    }, md);
    await page.dispatchEvent('#dropzone', 'drop', { dataTransfer: dt });
    const row = page.locator('table.sources tr', { hasText: 'harbor-bikes' }).first();
    await visible(row);
    await visible(row.locator('.k-ready'));

    await page.locator('#knowledge-file').setInputFiles(path.join(root, 'internal/knowledge/testdata/harbor-bikes-faq.csv'));
    await visible(page.locator('table.sources tr', { hasText: 'harbor-bikes-faq' }).locator('.k-ready'));
    assert.equal(await page.locator('table.sources tbody tr').count(), 2);
    await shot('knowledge-ready', page.locator('table.sources'));
  });

  step('tries the bot', async () => {
    await page.getByLabel('Question').fill('How much is the deposit for a rental?');
    await page.getByRole('button', { name: 'Ask' }).click();
    await visible(page.getByText('Answered from the knowledge base.'));
    assert.match(await text(page.locator('.answer .text')), /\$100/);
    await shot('try-the-bot', page.locator('.answer'));
  });

  step('shows an incoming message live, with the bot answer and its sources', async () => {
    await page.getByRole('link', { name: /^Conversations/ }).click();
    await visible(page.getByText('No conversations yet'));
    await page.evaluate(() => { window.notReloaded = true; });

    await postEvent(textEvent(psid, 'm_e2e_1', 'Hi! What does a lost lock cost?'));
    const item = page.locator(`li.conv`, { hasText: `User ${psid}` });
    await visible(item);
    await item.getByRole('link').click();
    const log = page.getByRole('log', { name: 'Transcript' });
    await visible(log.locator('.msg.a-user', { hasText: 'lost lock' }));
    const bot = log.locator('.msg.a-bot').first();
    await visible(bot);
    assert.match(await text(bot), /\$25/);
    await bot.getByText(/source/).click();
    await visible(bot.locator('.citations li').first());
    await sentTo(psid, '$25');
    assert.equal(await page.evaluate(() => window.notReloaded), true, 'the page reloaded');
    await visible(page.getByText('Standard messaging window'));
    await shot('live-message');
  });

  step('shows "/agent" as a handoff request with a title badge', async () => {
    await postEvent(textEvent(psid, 'm_e2e_2', '/agent'));
    const item = page.locator('li.conv.handoff', { hasText: `User ${psid}` });
    await visible(item);
    await visible(item.getByText('Wants a human'));
    await waitFor(async () => (await page.title()) === '(1) SeaChat console', 'the title badge');
    assert.equal(await text(page.locator('#waiting-count')), '1');
    await visible(page.locator('.toast.handoff', { hasText: 'wants a human' }));
    const log = page.getByRole('log', { name: 'Transcript' });
    await visible(log.locator('.msg.a-user', { hasText: '/agent' }));
    await visible(log.locator('.msg.a-system', { hasText: 'A member of our team' }));
    await sentTo(psid, 'A member of our team will reply');
    await shot('handoff-requested');
  });

  step('accepts the handoff in one click', async () => {
    await page.locator('li.conv.handoff').getByRole('button', { name: /^Accept/ }).click();
    await visible(page.locator('.conv-head .badge', { hasText: 'Human' }));
    await waitFor(async () => (await page.title()) === 'SeaChat console', 'the title badge to clear');
    await page.locator('li.conv.handoff').waitFor({ state: 'detached' });
    assert.equal(await page.locator('.toast.handoff').count(), 0, 'the toast of an accepted request stays');
    await visible(page.getByRole('button', { name: 'Return to bot' }));
  });

  step('sends a reply that reaches Messenger', async () => {
    const reply = 'Hi, this is Dana from Harbor Bikes. An e-bike is $65 for the day.';
    await page.getByLabel('Reply').fill(reply);
    await page.getByRole('button', { name: 'Send', exact: true }).click();
    const log = page.getByRole('log', { name: 'Transcript' });
    await visible(log.locator('.msg.a-agent', { hasText: 'this is Dana' }));
    assert.match(await text(log.locator('.msg.a-agent .author')), /^Agent · /);
    const line = await sentTo(psid, reply);
    assert.match(line, /\(RESPONSE\)/);
    assert.equal(await page.getByLabel('Reply').inputValue(), '');
    await shot('agent-reply');
  });

  step('asks before taking over a conversation another agent has', async () => {
    const eve = await api('mutation { createAPIToken(name: "Eve", role: AGENT) { apiToken { id } } }');
    const convs = await api('{ conversations(first: 1) { edges { node { id } } } }');
    await api(`mutation { assignConversation(conversationId: "${convs.conversations.edges[0].node.id}", assigneeId: "${eve.createAPIToken.apiToken.id}") { id } }`);
    const dialogs = [];
    page.once('dialog', (d) => dialogs.push(d.message())); // accepted by the page's own handler
    const reply = 'Dana again: I am taking this one over.';
    await page.getByLabel('Reply').fill(reply);
    await page.getByRole('button', { name: 'Send', exact: true }).click();
    await visible(page.getByRole('log', { name: 'Transcript' }).locator('.msg.a-agent', { hasText: 'taking this one over' }));
    assert.match(dialogs[0] || '', /assigned to Eve\. Take it over/);
    await sentTo(psid, reply);
  });

  step('inserts a canned response, adds an internal note and filters by assignment', async () => {
    await api('mutation { createCannedResponse(shortcut: "hours", text: "We are open Monday to Saturday, 9 am to 6 pm.") { id } }');
    const reply = page.getByLabel('Reply');
    await reply.fill('/ho');
    await visible(page.getByText('Canned responses: /hours'));
    await reply.fill('/hours ');
    await page.waitForFunction(() => document.getElementById('reply').value.startsWith('We are open Monday'));

    await reply.fill('VIP customer: offer the loyalty discount.');
    await page.getByRole('button', { name: 'Add note' }).click();
    const note = page.getByRole('log', { name: 'Transcript' }).locator('.msg.a-note', { hasText: 'loyalty discount' });
    await visible(note);
    assert.match(await text(note.locator('.author')), /^Note · /);
    assert.equal(await reply.inputValue(), '');
    await shot('note');

    await page.getByLabel('Assigned').selectOption('mine');
    await visible(page.locator('li.conv', { hasText: `User ${psid}` }));
    await page.getByLabel('Assigned').selectOption('unassigned');
    await visible(page.getByText('No conversation matches these filters.'));
    await page.getByLabel('Assigned').selectOption('');
    await visible(page.locator('li.conv', { hasText: `User ${psid}` }));
  });

  step('tags a conversation and filters by tag and status', async () => {
    await page.getByLabel('New tag').fill('vip');
    await page.getByRole('button', { name: 'Add tag' }).click();
    await visible(page.getByRole('button', { name: 'Remove tag vip' }));
    await visible(page.locator('li.conv .tag', { hasText: 'vip' }));

    await page.getByLabel('Tag', { exact: true }).fill('nope');
    await visible(page.getByText('No conversation matches these filters.'));
    await page.getByLabel('Tag', { exact: true }).fill('vip');
    await visible(page.locator('li.conv', { hasText: `User ${psid}` }));
    await page.getByLabel('Status').selectOption('BOT');
    await visible(page.getByText('No conversation matches these filters.'));
    await page.getByLabel('Status').selectOption('HUMAN');
    await visible(page.locator('li.conv', { hasText: `User ${psid}` }));
    await page.getByLabel('Status').selectOption('');
    await page.getByLabel('Tag', { exact: true }).fill('');
    await visible(page.getByText('1 conversation', { exact: true }));
    await shot('tags-filters');
  });

  step('shows the Human Agent tag window and sends with it', async () => {
    const dayAndHalfAgo = new Date(Date.now() - 36 * 3600 * 1000);
    await postEvent(textEvent(latePsid, 'm_e2e_late', 'Is my helmet still there?', dayAndHalfAgo));
    const item = page.locator('li.conv', { hasText: `User ${latePsid}` });
    await visible(item);
    await item.getByRole('link').click();
    await visible(page.getByText(/Human Agent tag/));
    await page.getByLabel('Reply').fill('Yes, your helmet is at the desk.');
    await page.getByRole('button', { name: 'Send', exact: true }).click();
    const line = await sentTo(latePsid, 'your helmet is at the desk');
    assert.match(line, /HUMAN_AGENT/);
    await visible(page.locator('li.conv', { hasText: `User ${latePsid}` }).locator('.badge', { hasText: 'Human' }));
    await shot('human-agent-tag');
  });

  step('reconnects after a server restart and stays live', async () => {
    await page.evaluate(() => { window.notReloaded = true; });
    await stack.restart(() => visible(page.locator('#live:not(.is-live)')));
    await visible(page.locator('#live.is-live'));
    await postEvent(textEvent('4242000000000003', 'm_e2e_after', 'Hello after the restart'));
    await visible(page.locator('li.conv', { hasText: 'User 4242000000000003' }));
    assert.equal(await page.evaluate(() => window.notReloaded), true, 'the page reloaded');
  });

  step('searches conversations by their words', async (t) => {
    if (!has.search) return t.skip('this server has no conversations(search:)');
    await page.getByLabel('Search').fill('helmet');
    await visible(page.locator('li.conv', { hasText: `User ${latePsid}` }));
    await page.locator('li.conv', { hasText: `User ${psid}` }).waitFor({ state: 'detached' });
    await page.getByLabel('Search').fill('');
    await visible(page.locator('li.conv', { hasText: `User ${psid}` }));
  });

  step('downloads a transcript', async (t) => {
    if (!has.transcript) return t.skip('this server has no transcript query');
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('button', { name: 'Download the transcript as TXT' }).click(),
    ]);
    assert.equal(download.suggestedFilename(), `seachat-${latePsid}.txt`);
    const body = readFileSync(await download.path(), 'utf8');
    assert.match(body, /Is my helmet still there\?/);
    assert.match(body, /your helmet is at the desk/);
  });

  step('returns a conversation to the bot and closes it', async () => {
    await page.locator('li.conv', { hasText: `User ${psid}` }).getByRole('link').click();
    await page.getByRole('button', { name: 'Return to bot' }).click();
    await visible(page.locator('.conv-head .badge', { hasText: 'Bot' }));
    await page.getByRole('button', { name: 'Close', exact: true }).click();
    await visible(page.locator('.conv-head .badge', { hasText: 'Closed' }));
    await visible(page.locator('li.conv', { hasText: `User ${psid}` }).locator('.badge', { hasText: 'Closed' }));
    assert.equal(await page.getByLabel('Reply').isDisabled(), true);
    await visible(page.getByText('This conversation is closed.'));
    await shot('closed');
  });

  step('shows the agent\'s figures', async (t) => {
    await page.getByRole('link', { name: 'Setup' }).click();
    if (!has.agentStats) return t.skip('this server has no agentStats query');
    const figures = page.locator('.figures');
    await visible(figures);
    const value = (label) => text(figures.locator('.figure', { hasText: label }).locator('dd'));
    assert.equal(await value('Conversations'), '3');
    assert.equal(await value('Handoffs to a human'), '1');
    await visible(page.getByRole('heading', { name: 'Questions the bot could not answer' }));
    // Events have arrived since Step 2: every check passes, the badge is green.
    await visible(page.getByRole('link', { name: 'Harbor Bikes' }).locator('.badge.s-connected', { hasText: 'Connected' }));
    // The chart has one column per day; today's shows the activity.
    const days = page.locator('.chart .day');
    assert.ok(await days.count() >= 7, 'a column per day of the range');
    const today = await days.last().getAttribute('aria-label');
    assert.match(today, /: 3 conversations, 1 handoffs$/);
    await shot('figures', page.locator('.card', { has: page.locator('.figures') }));
  });

  step('edits every agent setting in one form', async () => {
    await page.getByRole('link', { name: 'Setup' }).click();
    await page.locator('summary', { hasText: 'settings' }).click();
    await page.getByLabel('Welcome message').fill('Welcome to Harbor Bikes!');
    await page.getByLabel('Time zone').fill('Europe/Berlin');
    await page.getByLabel('Return unanswered handoffs').fill('600');
    await page.getByLabel('After-hours message').fill('We are closed now; we answer at 9.');
    await page.getByLabel('takes the conversation over').uncheck();
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    await visible(page.getByText('Saved.'));
    const { agents } = await api('{ agents { name welcomeMessage timezone handoffTimeoutSeconds pauseBotOnEcho afterHoursMessage } }');
    const a = agents.find((x) => x.name === 'Harbor Bikes');
    assert.deepEqual(a, { name: 'Harbor Bikes', welcomeMessage: 'Welcome to Harbor Bikes!', timezone: 'Europe/Berlin',
      handoffTimeoutSeconds: 600, pauseBotOnEcho: false, afterHoursMessage: 'We are closed now; we answer at 9.' });

    await page.getByLabel('Time zone').fill('Mars/Olympus');
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    await visible(page.getByRole('alert').filter({ hasText: /timezone|time zone/i }));
    await shot('agent-settings');
  });

  step('keeps a long conversation in the window, opened at its newest message', async () => {
    const longPsid = '7700000000000099';
    const start = Date.now() - 3600 * 1000;
    for (let i = 0; i < 30; i++) {
      await postEvent(textEvent(longPsid, `m_e2e_long_${i}`, `Question number ${i} about something else entirely?`, new Date(start + i * 1000)));
    }
    // One unbroken 5,000-character word: it must wrap, not widen the page.
    await postEvent(textEvent(longPsid, 'm_e2e_long_word', 'x'.repeat(5000), new Date(start + 60 * 1000)));
    await page.getByRole('link', { name: 'Conversations' }).click();
    const item = page.locator('li.conv', { hasText: `User ${longPsid}` });
    await visible(item);
    await item.getByRole('link').click();
    // The newest message is the bot's answer to the long word.
    await waitFor(() => page.evaluate(() => {
      const ms = [...document.querySelectorAll('.transcript .msg')];
      return ms.length > 20 && ms.at(-1).classList.contains('a-bot') && ms.at(-2).textContent.includes('xxxxxxxxxx');
    }), 'the bot to answer the long conversation');
    const m = await page.evaluate(() => {
      const scroll = document.querySelector('.scroll');
      const reply = document.querySelector('.reply').getBoundingClientRect();
      return {
        pageHeight: document.scrollingElement.scrollHeight, pageWidth: document.scrollingElement.scrollWidth,
        innerHeight, innerWidth, replyBottom: reply.bottom,
        fromBottom: scroll.scrollHeight - scroll.scrollTop - scroll.clientHeight,
      };
    });
    assert.ok(m.pageHeight <= m.innerHeight + 1, `the page grew to ${m.pageHeight}px in a ${m.innerHeight}px window`);
    assert.ok(m.pageWidth <= m.innerWidth + 1, `the page grew to ${m.pageWidth}px wide in a ${m.innerWidth}px window`);
    assert.ok(m.replyBottom <= m.innerHeight + 1, `the reply box ends at ${m.replyBottom}px, below the ${m.innerHeight}px window`);
    assert.ok(m.fromBottom < 80, `the conversation opened ${m.fromBottom}px above its newest message`);
    await shot('long-conversation');

    await page.getByRole('link', { name: 'Setup' }).click();
    await visible(page.getByRole('heading', { name: 'Questions the bot could not answer' }));
    await visible(page.locator('li', { hasText: 'xxxxxxxxxx' }));
    const width = await page.evaluate(() => document.scrollingElement.scrollWidth);
    assert.ok(width <= await page.evaluate(() => innerWidth) + 1, `a long unanswered question made the setup page ${width}px wide`);
  });

  step('marks a conversation whose last reply was not delivered', async () => {
    // A message 30 hours old: the bot's answer comes after Meta's 24-hour
    // window, so the outbox settles it FAILED with the reason.
    const stalePsid = '7700000000000098';
    await postEvent(textEvent(stalePsid, 'm_e2e_stale', 'Are you open on Sunday?', new Date(Date.now() - 30 * 3600 * 1000)));
    await page.getByRole('link', { name: 'Conversations' }).click();
    const item = page.locator('li.conv', { hasText: `User ${stalePsid}` });
    await visible(item.locator('.badge.s-error', { hasText: 'Not delivered' }));
    await item.getByRole('link').click();
    await visible(page.locator('.msg .delivery.failed'));
  });

  step('removes the Messenger channel', async () => {
    await page.getByRole('link', { name: 'Setup' }).click();
    await page.getByRole('button', { name: 'Remove', exact: true }).click(); // the confirm() is accepted
    await visible(page.getByRole('button', { name: 'Connect a Facebook Page' }));
    await page.getByRole('link', { name: 'Harbor Bikes' }).getByText('Connected').waitFor({ state: 'detached' });
    const res = await fetch(`${callbackUrl}?hub.mode=subscribe&hub.verify_token=x&hub.challenge=1`);
    assert.equal(res.status, 404, 'the removed callback still answers');
    await shot('removed');
  });

  step('signs out and forgets the token', async () => {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await visible(page.getByLabel('API token'));
    assert.equal(await page.evaluate(() => sessionStorage.getItem('seachat.token')), null);
  });

  step('an AGENT token sees the conversations but no setup, until it is revoked', async () => {
    const data = await api('mutation { createAPIToken(name: "Dana", role: AGENT) { token apiToken { id } } }');
    await page.getByLabel('API token').fill(data.createAPIToken.token);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await visible(page.getByText('Dana · default'));
    await visible(page.locator('li.conv', { hasText: `User ${psid}` }));
    assert.equal(await page.getByRole('link', { name: 'Setup' }).count(), 0);

    // Revoked mid-session: the server closes the console's websocket (4403)
    // at once, and the console signs out and forgets the token without
    // waiting for its next request.
    await api(`mutation { revokeAPIToken(id: "${data.createAPIToken.apiToken.id}") }`);
    await visible(page.getByText(/SeaChat refused the token/));
    assert.equal(await page.evaluate(() => sessionStorage.getItem('seachat.token')), null);
  });
});

describe('GraphiQL at /', () => {
  let stack;
  let browser;
  let page;
  let agentId;
  const offsite = []; // requests and websockets to any other host than the server's: all refused
  const graphql = []; // the Authorization header of every HTTP request to /graphql
  const wsSent = []; // messages the page sent on its websockets
  const cspErrors = [];

  before(async () => {
    stack = await start();
    agentId = (await adminAPI(stack, 'mutation { createAgent(input: {name: "Harbor Bikes"}) { id } }')).createAgent.id;
    browser = await launch();
    const context = await browser.newContext({ viewport: { width: 1280, height: 820 } });
    const host = new URL(stack.base).host;
    await context.route('**/*', (route) => {
      const req = route.request();
      const url = new URL(req.url());
      if (url.host !== host) {
        offsite.push(url.href);
        return route.abort('blockedbyclient');
      }
      if (url.pathname === '/graphql') graphql.push(req.headers().authorization ?? '');
      return route.continue();
    });
    await context.routeWebSocket(() => true, (ws) => {
      const url = new URL(ws.url());
      if (url.host !== host) {
        offsite.push(url.href);
        return ws.close();
      }
      const server = ws.connectToServer();
      ws.onMessage((m) => {
        wsSent.push(String(m));
        server.send(m);
      });
    });
    page = await context.newPage();
    page.setDefaultTimeout(expect.timeout);
    page.on('console', (m) => /Content.Security.Policy/i.test(m.text()) && cspErrors.push(m.text()));
    page.on('pageerror', (e) => console.error('page error:', e.message));
  });

  after(async () => {
    await browser?.close();
    await stack?.stop();
  });

  const step = (name, fn) => it(name, async (t) => {
    try {
      await fn(t);
    } catch (err) {
      await page?.screenshot({ path: path.join(artifacts, `failed-graphiql-${name.replace(/\W+/g, '-')}.png`) }).catch(() => {});
      throw err;
    }
  });
  const visible = (locator) => locator.waitFor({ state: 'visible' });
  const queryEditor = () => page.locator('.graphiql-query-editor .CodeMirror');
  const headersEditor = () => page.locator('section.graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror');
  const result = () => page.getByRole('region', { name: 'Result Window' });
  const value = (editor) => editor.evaluate((el) => el.CodeMirror.getValue());
  // paste replaces an editor's text the way a paste does: one input event.
  async function paste(editor, text) {
    await editor.click();
    await page.keyboard.press('Control+A');
    await page.keyboard.insertText(text);
  }
  // run executes query. GraphiQL parses the editor's text after a short
  // debounce, and would otherwise pick the transport from the previous
  // document: a subscription must go over the websocket, not HTTP.
  async function run(query, want) {
    await paste(queryEditor(), query);
    await sleep(500);
    await page.getByRole('button', { name: /^Execute query/ }).click();
    if (want) await visible(result().getByText(want).first());
  }

  step('opens with a token placeholder and sends nothing until a token is there', async () => {
    await page.goto(`${stack.base}/`);
    await visible(headersEditor());
    assert.match(await value(headersEditor()), /"Authorization": "Bearer <paste your token here>"/);
    await visible(result().getByText('Paste your SeaChat API token into Headers').first());
    assert.deepEqual(graphql, [], 'the placeholder was sent');
    await page.screenshot({ path: path.join(artifacts, 'graphiql-1-no-token.png') });
  });

  step('loads the schema once a token is pasted, again when it changes, and runs a query', async () => {
    await paste(headersEditor(), JSON.stringify({ Authorization: 'Bearer sct_wrong' }));
    await waitFor(() => graphql.includes('Bearer sct_wrong'), 'the schema request with the first token');
    await paste(headersEditor(), JSON.stringify({ Authorization: `Bearer ${stack.adminToken}` }));
    await page.getByRole('button', { name: 'Show Documentation Explorer' }).click();
    await visible(page.locator('.graphiql-doc-explorer').getByRole('link', { name: 'Query', exact: true }));
    await run('{ agents { id name } }', '"Harbor Bikes"');
    assert.deepEqual([...new Set(graphql)], ['Bearer sct_wrong', `Bearer ${stack.adminToken}`]);
  });

  step('keeps the token across a reload, in sessionStorage only', async () => {
    await sleep(600); // GraphiQL saves its tabs 500 ms after an edit
    await page.reload();
    await visible(headersEditor());
    assert.match(await value(headersEditor()), new RegExp(`"Bearer ${stack.adminToken}"`));
    const stored = await page.evaluate(() => ({ session: JSON.stringify(sessionStorage), local: JSON.stringify(localStorage) }));
    assert.ok(stored.session.includes(stack.adminToken), 'the token is not in sessionStorage');
    assert.ok(!stored.local.includes(stack.adminToken), 'the token leaked into localStorage');
    await page.getByRole('button', { name: 'Show Documentation Explorer' }).click();
    await page.locator('.graphiql-doc-explorer').getByRole('link', { name: 'Query', exact: true }).click();
    await visible(page.locator('.graphiql-doc-explorer').getByText('agents', { exact: true }).first());
    await run('{ agents { id name } }', '"Harbor Bikes"');
    await page.screenshot({ path: path.join(artifacts, 'graphiql-2-query-and-docs.png') });
  });

  step('runs a subscription over a websocket with the token in connection_init', async () => {
    await run('subscription { knowledgeSourceUpdated { title status } }');
    await waitFor(() => wsSent.some((f) => f.includes('"subscribe"')), 'the subscribe message');
    const init = JSON.parse(wsSent.find((f) => f.includes('connection_init')));
    assert.equal(init.payload.Authorization, `Bearer ${stack.adminToken}`);
    // The server starts listening just after the subscribe message arrives.
    await waitFor(async () => {
      if (await result().getByText('Opening hours').count()) return true;
      await adminAPI(stack, `mutation { addKnowledgeText(agentId: "${agentId}", title: "Opening hours", text: "We open at nine.") { id } }`);
      await sleep(500);
      return false;
    }, 'the subscription event in the result pane');
    await page.screenshot({ path: path.join(artifacts, 'graphiql-3-subscription.png') });
    await page.getByRole('button', { name: /^Stop/ }).click();
  });

  step('asks nothing of another host and breaks no CSP rule', async () => {
    assert.deepEqual(offsite, []);
    assert.deepEqual(cspErrors, []);
  });
});
