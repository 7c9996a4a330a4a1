// The Switchboard console: a view of the server through its control API, kept live by the
// server-sent events of GET /_switchboard/events. Each event names what changed; the console
// refetches that piece (a conversation, the notification log, the directory, the clock).
// Plain ES module, no build step, no dependencies.

const TOKEN_KEY = 'switchboard.adminToken';

const state = {
  token: null,
  conversations: new Map(), // id -> conversation view (calls, operations, participants)
  order: [], // conversation ids, newest first
  selected: null, // conversation id
  followNewest: true, // until the user picks one, the newest conversation is shown
  notifications: [],
  expanded: new Set(), // notification ids shown open
  directory: null,
  clock: null,
  events: null,
};

// ---------------------------------------------------------------------------------------------
// Small helpers

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else el.setAttribute(key, value === true ? '' : value);
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

const $ = (id) => document.getElementById(id);
const short = (id) => (id ? String(id).slice(-8) : '');

function badge(text, colour) {
  return h('span', { class: `badge ${colour || ''}` }, text);
}

const CALL_STATE_COLOUR = {
  established: 'green', establishing: 'amber', ringing: 'amber', incoming: 'amber',
  terminating: '', terminated: '',
};
const OPERATION_COLOUR = { Running: 'blue', NotStarted: 'blue', Completed: 'green', Failed: 'red' };
const DELIVERY_COLOUR = { delivered: 'green', pending: 'amber', dead: 'red' };

let toastTimer = null;
function toast(message, isError = false) {
  const el = $('toast');
  el.textContent = message;
  el.className = `toast${isError ? ' error' : ''}`;
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { el.hidden = true; }, isError ? 6000 : 2500);
}

class Unauthorized extends Error {}

async function api(method, path, body) {
  const headers = { Authorization: `Bearer ${state.token}` };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = text; }
  if (response.status === 401) throw new Unauthorized(data?.error?.message || 'unauthorized');
  if (!response.ok) throw new Error(data?.error?.message || `${response.status} ${response.statusText}`);
  return data;
}

/// Runs an action from a button, reporting its failure; the change itself arrives as an event.
async function act(button, label, work) {
  button.disabled = true;
  try {
    await work();
    toast(label);
  } catch (e) {
    if (e instanceof Unauthorized) return showGate(e.message);
    toast(e.message, true);
  } finally {
    button.disabled = false;
  }
}

function partyName(identity) {
  return identity?.displayName || identity?.id || '?';
}

function initials(name) {
  const words = String(name).replace(/[^\p{L}\p{N} ]/gu, '').trim().split(/\s+/);
  return ((words[0]?.[0] || '?') + (words[1]?.[0] || '')).toUpperCase();
}

// ---------------------------------------------------------------------------------------------
// Token gate

function showGate(message) {
  if (state.events) state.events.close();
  state.events = null;
  sessionStorage.removeItem(TOKEN_KEY);
  $('app').hidden = true;
  $('gate').hidden = false;
  $('gate-error').textContent = message || '';
  setLive('offline');
  $('gate-token').focus();
}

function readTokenFromUrl() {
  const match = location.hash.match(/token=([^&]+)/);
  if (!match) return null;
  // The token leaves the address bar (and the history) as soon as it is read.
  history.replaceState(null, '', location.pathname + location.search);
  return decodeURIComponent(match[1]);
}

// ---------------------------------------------------------------------------------------------
// Loading

async function loadConversations() {
  const includeEnded = $('show-ended').checked;
  const data = await api('GET', `/_switchboard/conversations?limit=50&includeEnded=${includeEnded}`);
  state.conversations = new Map(data.value.map((c) => [c.id, c]));
  state.order = data.value.map((c) => c.id);
  renderConversations();
}

async function loadConversation(id) {
  try {
    const c = await api('GET', `/_switchboard/conversations/${encodeURIComponent(id)}`);
    if (c.ended && !$('show-ended').checked) {
      state.conversations.delete(id);
      state.order = state.order.filter((x) => x !== id);
      return;
    }
    if (!state.conversations.has(id)) state.order.unshift(id);
    state.conversations.set(id, c);
  } catch (e) {
    if (e instanceof Unauthorized) throw e;
    state.conversations.delete(id);
    state.order = state.order.filter((x) => x !== id);
  }
}

async function loadNotifications() {
  const data = await api('GET', '/_switchboard/notifications?limit=300');
  state.notifications = data.value;
  renderNotifications();
}

async function loadDirectory() {
  state.directory = await api('GET', '/_switchboard/directory');
  renderDirectory();
}

async function loadClock() {
  state.clock = await api('GET', '/_switchboard/clock');
  renderClock();
}

async function loadAll() {
  await Promise.all([loadConversations(), loadNotifications(), loadDirectory(), loadClock()]);
}

// Changes arrive in bursts (one commit writes a call, its participants and its outbox rows):
// they are gathered for a moment, then each affected piece is fetched once.
const pending = { conversations: new Set(), everything: false, notifications: false, directory: false, clock: false };
let flushTimer = null;

function conversationOfCall(callId) {
  for (const c of state.conversations.values()) {
    if (c.calls.some((call) => call.id === callId)) return c.id;
  }
  return null;
}

function onChange(change) {
  switch (change.kind) {
    case 'conversation':
    case 'call':
    case 'participant':
      pending.conversations.add(change.conversationId);
      break;
    case 'operation': {
      const id = conversationOfCall(change.callId);
      if (id) pending.conversations.add(id); else pending.everything = true;
      break;
    }
    case 'notification': pending.notifications = true; break;
    case 'directory': pending.directory = true; break;
    case 'clock': pending.clock = true; break;
    // 'reset', 'removed' (ended conversations past the retention period) or unknown: fetch all.
    default: pending.everything = true; pending.notifications = true; break;
  }
  clearTimeout(flushTimer);
  flushTimer = setTimeout(flushPending, 40);
}

async function flushPending() {
  const work = { ...pending, conversations: [...pending.conversations] };
  pending.conversations.clear();
  pending.everything = pending.notifications = pending.directory = pending.clock = false;
  try {
    const jobs = [];
    if (work.everything) jobs.push(loadConversations());
    else if (work.conversations.length) {
      jobs.push(Promise.all(work.conversations.map(loadConversation)).then(renderConversations));
    }
    if (work.notifications) jobs.push(loadNotifications());
    if (work.directory) jobs.push(loadDirectory());
    if (work.clock) jobs.push(loadClock());
    await Promise.all(jobs);
  } catch (e) {
    if (e instanceof Unauthorized) showGate(e.message);
    else toast(e.message, true);
  }
}

function setLive(which) {
  $('live').dataset.state = which;
  $('live-text').textContent = which;
}

function connectEvents() {
  if (state.events) state.events.close();
  const events = new EventSource(`/_switchboard/events?token=${encodeURIComponent(state.token)}`);
  state.events = events;
  events.addEventListener('hello', () => {
    setLive('live');
    // Anything that happened while the stream was down is fetched again.
    loadAll().catch((e) => (e instanceof Unauthorized ? showGate(e.message) : toast(e.message, true)));
  });
  events.addEventListener('change', (e) => onChange(JSON.parse(e.data)));
  events.addEventListener('resync', () => onChange({ kind: 'reset' }));
  events.onerror = () => setLive('reconnecting');
}

// ---------------------------------------------------------------------------------------------
// Rendering: clock

function renderClock() {
  const clock = state.clock;
  if (!clock) return;
  $('clock-now').textContent = clock.now.replace('T', ' ').replace('Z', ' UTC');
  $('clock-mode').textContent = clock.mode;
  $('clock-mode').className = `badge ${clock.mode === 'virtual' ? 'blue' : ''}`;
  $('advance').dataset.disabled = String(clock.mode !== 'virtual');
}

async function advance(ms, button) {
  await act(button, `Advanced ${ms / 1000} s`, async () => {
    state.clock = await api('POST', '/_switchboard/clock/advance', { ms });
    renderClock();
  });
}

// ---------------------------------------------------------------------------------------------
// Rendering: conversations

const KIND_LABEL = { peerToPeer: 'peer-to-peer', adHocGroup: 'group call', chatGroup: 'group call (chat)', meeting: 'meeting' };

function renderConversations() {
  if (state.followNewest || !state.conversations.has(state.selected)) {
    state.selected = state.order.find((id) => state.conversations.has(id)) || null;
  }
  const list = $('conversation-list');
  list.replaceChildren(
    ...state.order.filter((id) => state.conversations.has(id)).map((id) => {
      const c = state.conversations.get(id);
      const connected = c.participants.filter((p) => p.state === 'connected').length;
      const ringing = c.participants.filter((p) => p.state === 'ringing').length;
      return h('li', {
        class: `${c.id === state.selected ? 'selected' : ''} ${c.ended ? 'ended' : ''}`,
        dataset: { testid: 'conversation', id: c.id },
        onclick: () => { state.selected = c.id; state.followNewest = false; renderConversations(); },
      },
      h('div', { class: 'line' }, h('b', {}, KIND_LABEL[c.kind] || c.kind), c.ended ? badge('ended') : badge('live', 'green')),
      h('div', { class: 'sub' }, `…${short(c.id)} · ${connected} in roster${ringing ? ` · ${ringing} ringing` : ''}`));
    }),
  );
  renderDetail();
  renderNotifications();
}

/** Legs a client of their own drives (docs/agents.md): the console does not act for them. */
const LIVE_ENDPOINT = { agent: 'agent', sip: 'SIP' };

function person(p, c) {
  const kind = p.identity.kind;
  const name = partyName(p.identity);
  const isUser = p.endpoint === 'simulated';
  const actions = h('div', { class: 'actions' });
  if (p.state === 'ringing' && isUser && !c.ended) {
    actions.append(
      h('button', { class: 'primary', dataset: { testid: 'accept' }, onclick: (e) => act(e.target, `${name} answered`, () => api('POST', `/_switchboard/participants/${p.id}/accept`)) }, 'Accept'),
      h('button', { class: 'danger', dataset: { testid: 'decline' }, onclick: (e) => act(e.target, `${name} declined`, () => api('POST', `/_switchboard/participants/${p.id}/decline`)) }, 'Decline'),
    );
  }
  if (p.state === 'connected' && isUser && !c.ended) {
    actions.append(h('button', { dataset: { testid: 'leave' }, onclick: (e) => act(e.target, `${name} left`, () => api('POST', `/_switchboard/participants/${p.id}/leave`)) }, 'Leave'));
  }
  const detail = p.state === 'ringing'
    ? `ringing · invited by call …${short(p.invitedByCallId)}${p.invitedByOperationId ? ` (operation …${short(p.invitedByOperationId)})` : ''}`
    : `${kind}${p.callId ? ` · call …${short(p.callId)}` : ''} · rosterSequenceNumber ${p.rosterSequenceNumber}`;
  return h('li', { class: `person ${p.state}`, dataset: { testid: p.state === 'ringing' ? 'ringing' : 'roster-entry', name } },
    h('div', { class: `avatar ${kind}` }, kind === 'phone' ? '☎' : initials(name)),
    h('div', { class: 'who' }, h('div', { class: 'name' }, name, ' ', p.state === 'ringing' ? badge('ringing', 'amber') : null,
      LIVE_ENDPOINT[p.endpoint] ? badge(LIVE_ENDPOINT[p.endpoint]) : null),
      h('div', { class: 'id', title: `${p.identity.id} · participant ${p.id}` }, detail)),
    actions);
}

function resultLine(info) {
  if (!info) return null;
  return h('div', { class: 'result' }, 'resultInfo ', h('b', {}, `${info.code}/${info.subcode}`), ` ${info.message}`);
}

function operationsTable(call) {
  if (!call.operations.length) return null;
  return h('table', { dataset: { testid: 'operations' } },
    h('thead', {}, h('tr', {}, h('th', {}, 'operation'), h('th', {}, 'status'), h('th', {}, 'clientContext'), h('th', {}, 'invitees'))),
    h('tbody', {}, call.operations.map((op) => h('tr', { dataset: { testid: 'operation', status: op.status } },
      h('td', { class: 'mono', title: op.id }, `${op.kind} …${short(op.id)}`),
      h('td', {}, badge(op.status, OPERATION_COLOUR[op.status]), resultLine(op.resultInfo)),
      h('td', { class: 'mono' }, op.clientContext || '–'),
      h('td', {}, op.invitees.map((i) => h('div', {}, `${partyName(i.identity)} `,
        badge(i.outcome, { joined: 'green', failed: 'red', pending: 'amber' }[i.outcome]))))))));
}

function renderDetail() {
  const root = $('detail');
  const c = state.conversations.get(state.selected);
  if (!c) {
    root.replaceChildren(h('p', { class: 'empty' }, 'No call yet. Create one through the Graph API: it appears here as it happens.'));
    return;
  }
  const ringing = c.participants.filter((p) => p.state === 'ringing');
  const roster = c.participants.filter((p) => p.state === 'connected');
  const parts = [
    h('div', { class: 'detail-head' }, h('h1', {}, KIND_LABEL[c.kind] || c.kind), c.ended ? badge('ended') : badge('live', 'green')),
    h('p', { class: 'meta' }, 'callChainId ', h('code', {}, c.id),
      c.meetingId ? [' · meeting ', h('code', {}, c.meetingId)] : null,
      c.chatThreadId ? [' · thread ', h('code', {}, c.chatThreadId)] : null),
  ];
  if (ringing.length) {
    parts.push(h('h3', {}, `Ringing (${ringing.length})`), h('ul', { class: 'people', dataset: { testid: 'ringing-list' } }, ringing.map((p) => person(p, c))));
  }
  parts.push(h('h3', {}, `Roster (${roster.length})`),
    roster.length ? h('ul', { class: 'people', dataset: { testid: 'roster' } }, roster.map((p) => person(p, c))) : h('p', { class: 'empty' }, 'Nobody is connected.'));
  if (c.kind === 'meeting' && !c.ended && state.directory) {
    const inRoom = new Set(c.participants.map((p) => p.identity.id.toLowerCase()));
    const candidates = state.directory.users
      .filter((u) => !inRoom.has(u.id.toLowerCase()))
      .sort((a, b) => a.displayName.localeCompare(b.displayName));
    if (candidates.length) {
      const select = h('select', { dataset: { testid: 'join-user' } }, candidates.map((u) => h('option', { value: u.id }, u.displayName)));
      parts.push(h('div', { class: 'join' }, 'Join this meeting as ', select,
        h('button', { dataset: { testid: 'join' }, onclick: (e) => act(e.target, 'Joined the meeting', () => api('POST', `/_switchboard/meetings/${encodeURIComponent(c.meetingId)}/join`, { userId: select.value })) }, 'Join')));
    }
  }
  parts.push(h('h3', {}, `Calls (${c.calls.length})`));
  for (const call of c.calls) {
    parts.push(h('div', { class: 'call', dataset: { testid: 'call', id: call.id, state: call.state } },
      h('div', { class: 'line' }, h('b', {}, `Call …${short(call.id)}`), badge(call.state, CALL_STATE_COLOUR[call.state]), badge(call.direction),
        h('span', { class: 'mono', title: 'application' }, `app …${short(call.appId)}`)),
      h('div', { class: 'result' }, 'callbackUri ', h('code', {}, call.callbackUri || '–')),
      resultLine(call.resultInfo),
      operationsTable(call)));
  }
  root.replaceChildren(...parts);
}

// ---------------------------------------------------------------------------------------------
// Rendering: notifications

function describe(n) {
  const note = n.body?.value?.[0] || {};
  const url = note.resourceUrl || '';
  const data = note.resourceData;
  if (url.endsWith('/participants')) {
    const count = Array.isArray(data) ? data.length : 0;
    return { kind: 'roster', title: `roster · ${count} participant${count === 1 ? '' : 's'}`, change: note.changeType };
  }
  if (url.includes('/operations/')) {
    const code = data?.resultInfo ? ` ${data.resultInfo.code}/${data.resultInfo.subcode}` : '';
    return { kind: 'operation', title: `operation ${data?.status || ''}${code}`, change: note.changeType };
  }
  return { kind: 'call', title: `call ${data?.state || ''}`, change: note.changeType };
}

function kv(obj) {
  return h('table', { class: 'kv' }, Object.entries(obj).map(([k, v]) => h('tr', {}, h('td', {}, k), h('td', { class: 'mono' }, v))));
}

/// How a redelivered notification names the one it copies: by its sequence when it is listed.
function original(id) {
  const found = state.notifications.find((n) => n.id === id);
  return found ? `#${found.sequence}` : `notification ${id}`;
}

function notificationItem(n) {
  const d = describe(n);
  const last = n.attempts[n.attempts.length - 1];
  const open = state.expanded.has(n.id);
  const toggle = () => { if (state.expanded.has(n.id)) state.expanded.delete(n.id); else state.expanded.add(n.id); renderNotifications(); };
  const item = h('li', { class: 'note', dataset: { testid: 'notification', kind: d.kind, id: n.id, state: n.state } },
    h('div', { class: 'line', onclick: toggle },
      h('span', { class: 'seq' }, `#${n.sequence}`),
      h('div', { class: 'what' }, h('div', { class: 'title' }, d.title),
        h('div', { class: 'sub' }, `${d.change} · call …${short(n.callId)}${n.redeliveryOf ? ` · redelivery of ${original(n.redeliveryOf)}` : ''}`)),
      last ? h('span', { class: 'seq' }, `${last.status ?? last.error} · ${last.latencyMs} ms`) : null,
      badge(n.state, DELIVERY_COLOUR[n.state])));
  if (open) {
    item.append(h('div', { class: 'body' },
      h('h4', {}, 'Request'), h('div', { class: 'mono request' }, `POST ${n.callbackUri}`), kv(n.headers),
      h('h4', {}, 'Body'), h('pre', { dataset: { testid: 'notification-body' } }, JSON.stringify(n.body, null, 2)),
      h('h4', {}, `Delivery attempts (${n.attempts.length})`),
      n.attempts.length
        ? h('table', { dataset: { testid: 'attempts' } },
          h('thead', {}, h('tr', {}, h('th', {}, '#'), h('th', {}, 'at (domain time)'), h('th', {}, 'status'), h('th', {}, 'latency'), h('th', {}, 'error'))),
          h('tbody', {}, n.attempts.map((a) => h('tr', {}, h('td', {}, a.attempt), h('td', { class: 'mono' }, a.at),
            h('td', {}, a.status ?? '–'), h('td', {}, `${a.latencyMs} ms`), h('td', {}, a.error || '')))))
        : h('p', { class: 'empty' }, n.nextAttemptAt ? `Not tried yet: due ${n.nextAttemptAt}.` : 'Not tried yet.'),
      n.state !== 'pending'
        ? h('p', {}, h('button', { dataset: { testid: 'redeliver' }, onclick: (e) => act(e.target, 'Queued again at the end of the call\u2019s queue', () => api('POST', `/_switchboard/notifications/${n.id}/redeliver`)) }, 'Redeliver'))
        : null));
  }
  return item;
}

function renderNotifications() {
  const all = $('all-calls').checked;
  const c = state.conversations.get(state.selected);
  const calls = new Set(c ? c.calls.map((call) => call.id) : []);
  const shown = state.notifications.filter((n) => all || calls.has(n.callId)).slice().reverse();
  const list = $('notification-list');
  list.replaceChildren(...(shown.length
    ? shown.map(notificationItem)
    : [h('li', { class: 'empty' }, all ? 'No notification yet.' : 'No notification for this conversation yet.')]));
}

// ---------------------------------------------------------------------------------------------
// Rendering: directory

const KINDS = ['answer', 'decline', 'busy', 'noAnswer', 'manual', 'unreachable', 'fault'];
const TIMED = new Set(['answer', 'decline', 'busy', 'fault']);

function behaviourEditor(current, save) {
  const kind = h('select', { dataset: { testid: 'behaviour-kind' } }, KINDS.map((k) => h('option', { value: k, selected: k === current.kind }, k)));
  const after = h('input', { type: 'number', min: 0, step: 100, value: current.afterMs ?? 0, title: 'afterMs' });
  const code = h('input', { type: 'number', min: 100, max: 699, value: current.code ?? 480, title: 'code' });
  const subcode = h('input', { type: 'number', min: 0, value: current.subcode ?? 10076, title: 'subcode' });
  const fields = h('span', { class: 'behaviour' });
  const layout = () => {
    fields.replaceChildren(
      ...(TIMED.has(kind.value) ? ['after', after, 'ms'] : []),
      ...(kind.value === 'fault' ? ['code', code, 'subcode', subcode] : []),
    );
  };
  kind.addEventListener('change', layout);
  layout();
  const apply = h('button', {
    dataset: { testid: 'behaviour-apply' },
    onclick: (e) => {
      const behaviour = { kind: kind.value };
      if (TIMED.has(kind.value)) behaviour.afterMs = Number(after.value) || 0;
      if (kind.value === 'fault') { behaviour.code = Number(code.value); behaviour.subcode = Number(subcode.value); }
      act(e.target, 'Behaviour set', () => save(behaviour));
    },
  }, 'Apply');
  return h('div', { class: 'behaviour' }, kind, fields, apply);
}

function describeBehaviour(b) {
  if (!b) return '';
  const parts = [b.kind];
  if (b.afterMs) parts.push(`after ${b.afterMs} ms`);
  if (b.kind === 'fault') parts.push(`${b.code}/${b.subcode}`);
  return parts.join(' ');
}

function renderDirectory() {
  const d = state.directory;
  if (!d) return;
  const users = h('table', { dataset: { testid: 'users' } },
    h('thead', {}, h('tr', {}, h('th', {}, 'user'), h('th', {}, 'behaviour'), h('th', {}, 'change to'))),
    h('tbody', {}, [...d.users].sort((a, b) => a.displayName.localeCompare(b.displayName)).map((u) => h('tr', { dataset: { testid: 'user', name: u.displayName } },
      h('td', {}, h('b', {}, u.displayName), h('div', { class: 'mono', title: u.id }, u.id)),
      h('td', {}, describeBehaviour(u.behaviour)),
      h('td', {}, behaviourEditor(u.behaviour, (b) => api('PUT', `/_switchboard/users/${encodeURIComponent(u.id)}/behaviour`, b)))))));
  const phones = h('table', { dataset: { testid: 'phones' } },
    h('thead', {}, h('tr', {}, h('th', {}, 'phone number'), h('th', {}, 'behaviour'), h('th', {}, 'change to'))),
    h('tbody', {}, d.phoneNumbers.map((p) => h('tr', {},
      h('td', {}, h('b', {}, p.number), h('div', {}, p.displayName || '')),
      h('td', {}, describeBehaviour(p.behaviour)),
      h('td', {}, behaviourEditor(p.behaviour, (b) => api('PUT', `/_switchboard/phones/${encodeURIComponent(p.number)}/behaviour`, b)))))));
  $('directory').replaceChildren(h('div', { class: 'dir-grid' }, h('div', {}, h('h3', {}, 'Users'), users), h('div', {}, h('h3', {}, 'Phone numbers'), phones)));
  renderDetail();
}

// ---------------------------------------------------------------------------------------------
// Start

async function open(token) {
  state.token = token;
  try {
    await loadAll();
  } catch (e) {
    if (e instanceof Unauthorized) return showGate('That is not the admin token.');
    throw e;
  }
  sessionStorage.setItem(TOKEN_KEY, token);
  $('gate-error').textContent = '';
  $('gate').hidden = true;
  $('app').hidden = false;
  connectEvents();
}

function start() {
  $('gate-form').addEventListener('submit', (e) => {
    e.preventDefault();
    open($('gate-token').value.trim());
  });
  for (const button of document.querySelectorAll('#advance button[data-ms]')) {
    button.addEventListener('click', () => advance(Number(button.dataset.ms), button));
  }
  $('advance-go').addEventListener('click', (e) => {
    const seconds = Number($('advance-custom').value);
    if (seconds >= 0) advance(Math.round(seconds * 1000), e.target);
  });
  $('show-ended').addEventListener('change', () => loadConversations().catch((e) => toast(e.message, true)));
  $('all-calls').addEventListener('change', renderNotifications);
  // A `#token=` link opened in a tab that already shows the console.
  window.addEventListener('hashchange', () => {
    const token = readTokenFromUrl();
    if (token) open(token);
  });
  const token = readTokenFromUrl() || sessionStorage.getItem(TOKEN_KEY);
  if (token) open(token); else showGate();
}

start();
