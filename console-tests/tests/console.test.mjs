// The console in a real browser: it shows an invite ringing as it happens, answers it as the
// user, and shows the roster and the notifications that follow, all pushed by the server.
// Screenshots of each step go to console-tests/artifacts/.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { eventually, inviteBody, joinNewMeeting, startBrowser, startReceiver, startServer } from './harness.mjs';

let server;
let receiver;
let browser;

before(async () => {
  server = await startServer();
  receiver = await startReceiver();
  browser = await startBrowser();
});

after(async () => {
  await browser?.stop();
  await receiver?.close();
  await server?.stop();
});

test('the console asks for the admin token and refuses a wrong one', async () => {
  const { page } = browser;
  await page.goto(`${server.base}/console`);
  await page.getByLabel('Admin token').fill('not-the-token');
  await page.getByRole('button', { name: 'Open the console' }).click();
  await page.getByText('That is not the admin token.').waitFor();
  await browser.screenshot('00-token-refused');
});

test('an invite rings in the console, the user accepts it there, and the roster and both notifications appear', async () => {
  const { page } = browser;
  browser.problems.length = 0; // the refused token of the test before answered 401s, as it should
  const adele = server.user('Adele Vance');
  await server.control('PUT', `/users/${adele}/behaviour`, { kind: 'manual' });

  await page.goto(`${server.base}/console#token=${encodeURIComponent(server.admin)}`);
  await page.locator('[data-testid=live][data-state=live]').waitFor();
  assert.ok(!page.url().includes('token='), 'the token leaves the address bar');

  // The bot joins a meeting and invites Adele, through the Graph API.
  const { callId } = await joinNewMeeting(server, receiver);
  const operation = await server.graph('POST', `/communications/calls/${callId}/participants/invite`, inviteBody(adele, 'console-e2e'));
  assert.equal(operation.status, 'Running');

  // Pushed, not polled: the ringing invitation shows up by itself.
  const ringing = page.locator('[data-testid=ringing][data-name="Adele Vance"]');
  await ringing.waitFor();
  await page.locator('[data-testid=operation][data-status=Running]').waitFor();
  await browser.screenshot('01-invite-ringing');

  // A manual user never answers by herself.
  await server.control('POST', '/clock/advance', { ms: 5_000 });
  assert.equal(await ringing.count(), 1, 'still ringing after 5 s');
  const before = receiver.forCall(callId).length;

  await ringing.getByRole('button', { name: 'Accept' }).click();

  // The roster now has the bot and Adele, and both notifications are listed.
  const roster = page.locator('[data-testid=roster]');
  await roster.locator('[data-testid=roster-entry][data-name="Adele Vance"]').waitFor();
  assert.equal(await roster.locator('[data-testid=roster-entry]').count(), 2, 'the bot and Adele');
  assert.equal(await page.locator('[data-testid=ringing]').count(), 0, 'nobody rings any more');
  await page.locator('[data-testid=operation][data-status=Completed]').waitFor();
  const operationNote = page.locator('[data-testid=notification][data-kind=operation]', { hasText: 'operation completed' });
  const rosterNote = page.locator('[data-testid=notification][data-kind=roster]', { hasText: 'roster · 2 participants' });
  await operationNote.waitFor();
  await rosterNote.waitFor();

  // The bot got the same two notifications, in that order.
  const got = await eventually('the two notifications at the bot', () => {
    const after = receiver.forCall(callId).slice(before);
    return after.length >= 2 && after;
  });
  const urls = got.map((r) => r.body.value[0].resourceUrl);
  assert.match(urls[0], /\/operations\//);
  assert.match(urls[1], /\/participants$/);
  assert.equal(got[0].body.value[0].resourceData.status, 'completed');

  // The inspector shows each notification's headers, body and delivery attempts.
  await page.locator('[data-testid=notification][data-state=delivered][data-kind=operation]').first().waitFor();
  await operationNote.locator('.line').click();
  const attempts = operationNote.locator('[data-testid=attempts] tbody tr');
  await attempts.first().waitFor();
  assert.match(await attempts.first().innerText(), /202/);
  assert.match(await operationNote.locator('[data-testid=notification-body]').innerText(), /"clientContext": "console-e2e"/);
  assert.match(await operationNote.innerText(), /X-Switchboard-Sequence/);
  await browser.screenshot('02-accepted-roster-and-notifications');

  assert.deepEqual(browser.problems, [], 'no script errors in the page');
});

test('redeliver, leave and the clock, from the console', async () => {
  const { page } = browser;
  const opNote = page.locator('[data-testid=notification][data-kind=operation]', { hasText: 'operation completed' }).first();
  await opNote.locator('[data-testid=redeliver]').click();
  await page.locator('[data-testid=notification]', { hasText: 'redelivery of' }).first().waitFor();

  const leaving = page.locator('[data-testid=roster-entry][data-name="Adele Vance"]');
  await leaving.getByRole('button', { name: 'Leave' }).click();
  await page.locator('[data-testid=roster-entry][data-name="Adele Vance"]').waitFor({ state: 'detached' });
  await page.locator('[data-testid=notification][data-kind=roster]', { hasText: 'roster · 1 participant' }).first().waitFor();

  const now = await page.locator('#clock-now').innerText();
  await page.getByRole('button', { name: '+60 s' }).click();
  await eventually('the clock to move', async () => (await page.locator('#clock-now').innerText()) !== now);
  await browser.screenshot('03-redelivered-left-advanced');
  assert.deepEqual(browser.problems, [], 'no script errors in the page');
});
