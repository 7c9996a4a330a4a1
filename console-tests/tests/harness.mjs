// The harness of the console tests: the real `switchboard` binary on port 0 with a virtual
// clock and its own data directory, a real webhook receiver for its callbacks, and Debian's
// Chromium driven by playwright-core. Everything listens on 127.0.0.1 and is stopped by the
// test that started it.

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, openSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
export const ARTIFACTS = path.resolve(here, '..', 'artifacts');
const BINARY = process.env.SWITCHBOARD_BIN || path.resolve(here, '..', '..', 'target', 'debug', 'switchboard');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const CHROMIUM_FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-quic',
  '--no-first-run',
  '--disable-component-update',
  '--disable-sync',
];

/// Waits for `predicate` to hold, polling; fails with `what` after `ms`.
export async function eventually(what, predicate, ms = 10_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await predicate();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/// A webhook receiver that records every POST and answers 202.
export async function startReceiver() {
  const received = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      let body = null;
      try { body = JSON.parse(Buffer.concat(chunks).toString('utf8')); } catch { /* kept as null */ }
      received.push({ path: req.url, headers: req.headers, body });
      res.writeHead(202).end();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}/callback`,
    received,
    forCall: (callId) => received.filter((r) => r.headers['x-switchboard-call-id'] === callId),
    close: () => new Promise((r) => server.close(r)),
  };
}

/// The real server. `stop()` ends it (by its pid) and removes its data directory.
export async function startServer() {
  const dir = mkdtempSync(path.join(tmpdir(), 'switchboard-console-'));
  const dataDir = path.join(dir, 'data');
  mkdirSync(dataDir);
  const log = openSync(path.join(dir, 'server.log'), 'w');
  const env = { ...process.env, RUST_LOG: 'info' };
  for (const key of Object.keys(env)) if (key.startsWith('SWITCHBOARD_')) delete env[key];
  const child = spawn(BINARY, ['serve', '--listen', '127.0.0.1:0', '--data-dir', dataDir, '--clock', 'virtual'], {
    stdio: ['ignore', 'pipe', log],
    env,
  });
  const lines = readline.createInterface({ input: child.stdout });
  const first = await Promise.race([
    once(lines, 'line').then(([line]) => line),
    once(child, 'exit').then(() => { throw new Error(`switchboard exited: ${readFileSync(path.join(dir, 'server.log'), 'utf8')}`); }),
    // Unref'd: a timer left pending would keep the test process alive after the tests.
    new Promise((_, reject) => setTimeout(() => reject(new Error('switchboard did not start in 30 s')), 30_000).unref()),
  ]);
  const base = first.replace('Switchboard listening on ', '').trim();
  lines.on('line', () => {}); // keep draining stdout
  const credentials = JSON.parse(readFileSync(path.join(dataDir, 'dev-credentials.json'), 'utf8'));

  async function request(method, pathname, { token, body, form } = {}) {
    const headers = {};
    if (token) headers.Authorization = `Bearer ${token}`;
    let payload;
    if (form) {
      headers['Content-Type'] = 'application/x-www-form-urlencoded';
      payload = new URLSearchParams(form).toString();
    } else if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      payload = JSON.stringify(body);
    }
    const res = await fetch(`${base}${pathname}`, { method, headers, body: payload });
    const text = await res.text();
    const json = text ? JSON.parse(text) : null;
    if (!res.ok) throw new Error(`${method} ${pathname}: ${res.status} ${text}`);
    return json;
  }

  const tokenAnswer = await request('POST', `/${credentials.tenantId}/oauth2/v2.0/token`, {
    form: {
      grant_type: 'client_credentials',
      client_id: credentials.clientId,
      client_secret: credentials.clientSecret,
      scope: 'https://graph.microsoft.com/.default',
    },
  });
  const appToken = tokenAnswer.access_token;
  const admin = credentials.adminToken;

  return {
    base,
    credentials,
    admin,
    user: (name) => credentials.users.find((u) => u.displayName === name).id,
    graph: (method, pathname, body) => request(method, `/beta${pathname}`, { token: appToken, body }),
    control: (method, pathname, body) => request(method, `/_switchboard${pathname}`, { token: admin, body }),
    log: () => readFileSync(path.join(dir, 'server.log'), 'utf8'),
    async stop() {
      if (child.exitCode === null) {
        process.kill(child.pid, 'SIGTERM');
        await Promise.race([once(child, 'exit'), new Promise((r) => setTimeout(r, 5_000).unref())]);
        if (child.exitCode === null) process.kill(child.pid, 'SIGKILL');
      }
      lines.close();
      child.stdout.destroy();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/// Debian's Chromium, headless, with a fresh profile directory.
export async function startBrowser() {
  const profile = mkdtempSync(path.join(tmpdir(), 'switchboard-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_FLAGS,
    viewport: { width: 1600, height: 1000 },
  });
  const page = context.pages()[0] || (await context.newPage());
  const problems = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console error: ${m.text()}`); });
  return {
    page,
    problems,
    async screenshot(name) {
      mkdirSync(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });
    },
    async stop() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/// A meeting the bot has joined; returns { callId, meeting }.
export async function joinNewMeeting(server, receiver) {
  const meeting = await server.graph('POST', '/communications/onlineMeetings', { subject: 'Console test' });
  const call = await server.graph('POST', '/communications/calls', {
    '@odata.type': '#microsoft.graph.call',
    callbackUri: receiver.url,
    requestedModalities: ['audio'],
    mediaConfig: { '@odata.type': '#microsoft.graph.serviceHostedMediaConfig' },
    chatInfo: { '@odata.type': '#microsoft.graph.chatInfo', threadId: meeting.chatInfo.threadId, messageId: '0' },
    meetingInfo: {
      '@odata.type': '#microsoft.graph.organizerMeetingInfo',
      organizer: { user: { id: server.user('Adele Vance') } },
    },
    tenantId: server.credentials.tenantId,
  });
  await server.control('POST', '/clock/advance', { ms: 0 });
  return { callId: call.id, meeting };
}

export function inviteBody(userId, clientContext) {
  return {
    participants: [{
      '@odata.type': '#microsoft.graph.invitationParticipantInfo',
      identity: { user: { id: userId, identityProvider: 'AAD' } },
    }],
    clientContext,
  };
}
