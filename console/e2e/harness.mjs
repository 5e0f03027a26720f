// The world the console tests run in: bin/seachat and bin/fakegraph built
// from this checkout, started on free loopback ports with a fresh SQLite
// database, and Debian's Chromium driven by playwright-core.

import { execFileSync, spawn } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { createWriteStream, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const artifacts = path.join(root, 'console/e2e/artifacts');

// The fake's default Page (cmd/fakegraph).
export const page = { id: '1895382890692545', name: 'Harbor-Bikes', token: 'EAAGfaketoken' };

// Flags that keep Chromium off the network (this machine's is closed) and
// out of any profile (a new empty user-data-dir is Playwright's default).
const chromiumArgs = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** waitFor polls fn until it returns a truthy value, or throws after ms. */
export async function waitFor(fn, what, ms = 15000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(100);
  }
}

let cleaned = false;

/**
 * start builds and starts SeaChat beside the fake Graph API. It returns the
 * base URL, the admin token, the fake's output lines and a stop function.
 * Server logs are named by port, as a test file may start more than one.
 */
export async function start() {
  if (!cleaned) { // once per run: a second start() keeps the first one's screenshots
    rmSync(artifacts, { recursive: true, force: true });
    cleaned = true;
  }
  mkdirSync(artifacts, { recursive: true });
  for (const cmd of ['seachat', 'fakegraph']) {
    execFileSync('go', ['build', '-o', `bin/${cmd}`, `./cmd/${cmd}`], { cwd: root, stdio: 'inherit' });
  }
  const dir = mkdtempSync(path.join(tmpdir(), 'seachat-console-'));
  const [appPort, fakePort] = [await freePort(), await freePort()];
  const adminToken = `sct_e2e_${randomBytes(16).toString('hex')}`;

  const fake = spawn(path.join(root, 'bin/fakegraph'), ['-addr', `127.0.0.1:${fakePort}`],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  const sent = []; // the fake's stdout, line by line: "sent to PSID (TYPE[ TAG]): text"
  let partial = '';
  fake.stdout.setEncoding('utf8').on('data', (chunk) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop();
    sent.push(...lines);
  });
  fake.stderr.pipe(createWriteStream(path.join(artifacts, `fakegraph-${fakePort}.stderr.log`)));

  // A clean environment: nothing from the caller's SeaChat or Gemini setup.
  const env = Object.fromEntries(Object.entries(process.env)
    .filter(([k]) => !k.startsWith('SEACHAT_') && !k.startsWith('GEMINI_') && k !== 'DATABASE_URL'));
  const log = createWriteStream(path.join(artifacts, `seachat-${appPort}.log`));
  const base = `http://127.0.0.1:${appPort}`;
  let seachat;

  async function startSeachat() {
    seachat = spawn(path.join(root, 'bin/seachat'), [], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...env,
        SEACHAT_ADDR: `127.0.0.1:${appPort}`,
        DATABASE_URL: `sqlite://${path.join(dir, 'seachat.db')}`,
        SEACHAT_ADMIN_TOKEN: adminToken,
        SEACHAT_GRAPH_API_URL: `http://127.0.0.1:${fakePort}`,
        SEACHAT_LOG_FORMAT: 'text',
      },
    });
    seachat.stdout.pipe(log, { end: false });
    seachat.stderr.pipe(log, { end: false });
    const exited = (p, name) => p.exitCode !== null && `${name} exited with ${p.exitCode}`;
    await waitFor(async () => {
      for (const [p, name] of [[seachat, 'seachat'], [fake, 'fakegraph']]) {
        if (exited(p, name)) throw new Error(`${exited(p, name)}: see ${artifacts}/*.log`);
      }
      try {
        const [a, b] = await Promise.all([fetch(`${base}/readyz`), fetch(`http://127.0.0.1:${fakePort}/`)]);
        return a.ok && b.status > 0;
      } catch {
        return false;
      }
    }, 'seachat and fakegraph to start', 60000);
  }

  async function end(p) {
    if (p.exitCode !== null) return;
    const done = new Promise((r) => p.once('exit', r));
    p.kill('SIGTERM');
    await Promise.race([done, sleep(10000)]);
    if (p.exitCode === null) p.kill('SIGKILL');
  }

  await startSeachat();
  return {
    base,
    adminToken,
    sent,
    /** restart stops seachat and starts it again on the same port and database. */
    async restart(whileDown = async () => {}) {
      await end(seachat);
      await whileDown();
      await startSeachat();
    },
    async stop() {
      await end(seachat);
      await end(fake);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** launch starts Debian's Chromium headless. CHROMIUM overrides its path. */
export function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: chromiumArgs,
  });
}

/** sign returns Meta's X-Hub-Signature-256 of body. */
export function sign(secret, body) {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** textEvent is a Messenger webhook body with one text message from psid. */
export function textEvent(psid, mid, text, at = new Date()) {
  const ms = at.getTime();
  return JSON.stringify({
    object: 'page',
    entry: [{ id: page.id, time: ms, messaging: [{
      sender: { id: psid }, recipient: { id: page.id }, timestamp: ms, message: { mid, text },
    }] }],
  });
}
