// The README's JavaScript settings, run as written: the ```js block after the marker
// `<!-- conformance/js runs this block -->` is written into a module (with the README's ports
// replaced by the test server's, and the credentials read from its data directory), and run by
// Node with NODE_EXTRA_CA_CERTS naming the server's development CA, as the README says. The
// module then uses the `graph` client it made, as a bot would: a peer-to-peer call, an invite
// into it, the invite's operation read back. The real server runs on port 0 with a virtual
// clock, and a real webhook receiver takes its notifications.

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(here, '..', '..', '..');
const BINARY = process.env.SWITCHBOARD_BIN || path.join(REPO, 'target', 'debug', 'switchboard');
const MARKER = '<!-- conformance/js runs this block -->';

function readmeBlock() {
  const readme = readFileSync(path.join(REPO, 'README.md'), 'utf8');
  const blocks = [...readme.matchAll(/<!-- conformance\/js runs this block -->\s*```js\n([\s\S]*?)```/g)];
  assert.equal(blocks.length, 1, `the README should have one ${MARKER} block`);
  return blocks[0][1];
}

async function startServer() {
  const dir = mkdtempSync(path.join(tmpdir(), 'switchboard-conformance-js-'));
  const dataDir = path.join(dir, 'data');
  mkdirSync(dataDir);
  const env = { ...process.env, RUST_LOG: 'info' };
  for (const key of Object.keys(env)) if (key.startsWith('SWITCHBOARD_')) delete env[key];
  const args = ['serve', '--listen', '127.0.0.1:0', '--tls-listen', '127.0.0.1:0', '--data-dir', dataDir, '--clock', 'virtual'];
  const child = spawn(BINARY, args, { stdio: ['ignore', 'pipe', openSync(path.join(dir, 'server.log'), 'w')], env });
  const lines = readline.createInterface({ input: child.stdout });
  const seen = [];
  const started = new Promise((resolve, reject) => {
    lines.on('line', (line) => {
      seen.push(line);
      if (seen.length === 2) resolve();
    });
    child.once('exit', () => reject(new Error(`switchboard exited: ${readFileSync(path.join(dir, 'server.log'), 'utf8')}`)));
    setTimeout(() => reject(new Error('switchboard did not start in 30 s')), 30_000).unref();
  });
  await started;
  const http = seen[0].replace('Switchboard listening on ', '').trim();
  const tls = seen[1].replace('Switchboard TLS listening on ', '').trim();
  assert.match(http, /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.match(tls, /^https:\/\/127\.0\.0\.1:\d+$/);
  return {
    http,
    tls,
    dataDir,
    stop: async () => {
      child.kill('SIGTERM');
      await once(child, 'exit');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function startReceiver() {
  const received = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      received.push(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      res.writeHead(202).end();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${server.address().port}/callback`,
    received,
    close: () => new Promise((r) => server.close(r)),
  };
}

/// What the module does with the README's `graph` after the block: the bot's side of an invite.
const BOT = `
const users = Object.fromEntries(dev.users.map((u) => [u.displayName, u.id]));
const user = (name) => ({ "@odata.type": "#microsoft.graph.identitySet", user: { "@odata.type": "#microsoft.graph.identity", id: users[name], tenantId } });
const call = await graph.api("/communications/calls").post({
  "@odata.type": "#microsoft.graph.call",
  callbackUri: process.env.CALLBACK_URI,
  targets: [{ "@odata.type": "#microsoft.graph.invitationParticipantInfo", identity: user("Adele Vance") }],
  requestedModalities: ["audio"],
  mediaConfig: { "@odata.type": "#microsoft.graph.serviceHostedMediaConfig" },
  tenantId,
});
// Adele answers on the virtual clock (the control API, not Graph).
const advanced = await fetch(process.env.SWITCHBOARD_HTTP + "/_switchboard/clock/advance", {
  method: "POST",
  headers: { Authorization: "Bearer " + dev.adminToken, "Content-Type": "application/json" },
  body: JSON.stringify({ ms: 5000 }),
});
if (!advanced.ok) throw new Error("advance: " + advanced.status);
const established = await graph.api("/communications/calls/" + call.id).get();
const invite = await graph.api("/communications/calls/" + call.id + "/participants/invite").post({
  participants: [{ "@odata.type": "#microsoft.graph.invitationParticipantInfo", identity: user("Alex Wilber") }],
  clientContext: "from the README (js)",
});
const operation = await graph.api("/communications/calls/" + call.id + "/operations/" + invite.id).get();
console.log(JSON.stringify({ call, established, invite, operation }));
`;

test('the README JavaScript settings make a call and invite into it with the official SDK', async (t) => {
  const server = await startServer();
  t.after(() => server.stop());
  const receiver = await startReceiver();
  t.after(() => receiver.close());

  const prelude = `import { readFileSync as readDevFile } from "node:fs";
const dev = JSON.parse(readDevFile(process.env.SWITCHBOARD_CREDENTIALS, "utf8"));
const { tenantId, clientId, clientSecret } = dev;
`;
  const block = readmeBlock()
    .replaceAll('https://127.0.0.1:8443', server.tls)
    .replaceAll('http://127.0.0.1:8080', server.http);
  // Inside this package, so that the SDK's imports resolve to its node_modules.
  const module = path.join(here, '..', `.readme-${process.pid}.mjs`);
  writeFileSync(module, prelude + block + BOT);
  t.after(() => rmSync(module, { force: true }));

  const env = {
    ...process.env,
    NODE_EXTRA_CA_CERTS: path.join(server.dataDir, 'tls', 'ca.pem'),
    SWITCHBOARD_CREDENTIALS: path.join(server.dataDir, 'dev-credentials.json'),
    SWITCHBOARD_HTTP: server.http,
    CALLBACK_URI: receiver.url,
  };
  const bot = spawn(process.execPath, [module], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  bot.stdout.on('data', (c) => { out += c; });
  bot.stderr.on('data', (c) => { err += c; });
  const [code] = await once(bot, 'exit');
  assert.equal(code, 0, `the README module failed:\n${err}`);
  const { call, established, invite, operation } = JSON.parse(out.trim().split('\n').pop());

  assert.equal(call.state, 'establishing');
  assert.equal(established.state, 'established');
  assert.equal(invite['@odata.type'], '#microsoft.graph.inviteParticipantsOperation');
  assert.equal(invite.status, 'Running'); // as the invite page's examples spell it
  assert.equal(invite.clientContext, 'from the README (js)');
  assert.equal(operation.id, invite.id);
  // The notifications reached the bot's callback, signed for it.
  assert.ok(receiver.received.length > 0, 'no notification reached the callback');
  const resources = receiver.received.flatMap((n) => n.value.map((v) => v.resourceUrl));
  assert.ok(resources.some((r) => r.includes(call.id)), `notifications: ${JSON.stringify(resources)}`);
});
