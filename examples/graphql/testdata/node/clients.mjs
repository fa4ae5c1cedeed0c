// Drives examples/graphql with the reference clients of GraphQL over
// WebSocket: graphql-ws's client over graphql-transport-ws and
// subscriptions-transport-ws's client over the legacy graphql-ws.
//
//	node clients.mjs HOST:PORT SHORT_HOST:PORT
//
// HOST:PORT is a server with the default flags; SHORT_HOST:PORT one with
// -init-timeout 500ms and -keepalive 50ms. Each case prints one line,
// "ok NAME" or "FAIL NAME: why", and the last line is "cases N".
import { createClient } from 'graphql-ws';
import subscriptions from 'subscriptions-transport-ws';
import WebSocket from 'ws';

const [addr, shortAddr] = process.argv.slice(2);
const url = `ws://${addr}/graphql`;
const shortURL = `ws://${shortAddr}/graphql`;
const caseTimeout = 10_000;

// recording returns a WebSocket class that keeps every message it
// receives, parsed, in log, the number of sockets made in log.sockets, and
// the last one's close event in log.closed.
function recording(log) {
  log.sockets = 0;
  return class extends WebSocket {
    constructor(...args) {
      super(...args);
      log.sockets++;
      this.addEventListener('message', (e) => log.push(JSON.parse(String(e.data))));
      this.addEventListener('close', (e) => { log.closed = { code: e.code, reason: e.reason }; });
    }
  };
}

function check(cond, what) {
  if (!cond) throw new Error(what);
}

function same(got, want, what) {
  const g = JSON.stringify(got), w = JSON.stringify(want);
  if (g !== w) throw new Error(`${what}: got ${g}, want ${w}`);
}

// waitFor polls cond until it holds, for up to the case's time.
async function waitFor(cond, what) {
  for (const end = Date.now() + caseTimeout; !cond(); ) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

// post runs the mutation post over HTTP and returns the message.
async function post(text) {
  const resp = await fetch(`http://${addr}/graphql`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ query: 'mutation($t: String!) { post(text: $t) { id text } }', variables: { t: text } }),
  });
  const body = await resp.json();
  check(resp.status === 200 && body.data, `post: ${resp.status} ${JSON.stringify(body)}`);
  return body.data.post;
}

// --- graphql-ws's client, graphql-transport-ws ---

// gwsClient makes a client that connects at once and keeps one
// connection until disposed of (not lazy, no retries).
function gwsClient(opts = {}) {
  const log = [];
  const client = createClient({ url, webSocketImpl: recording(log), retryAttempts: 0, lazy: false, onNonLazyError: () => {}, ...opts });
  return { client, log };
}

// run subscribes with sink callbacks recorded; it resolves on complete
// and rejects on error.
function run(client, payload, onNext = () => {}) {
  const results = [];
  let unsubscribe;
  const done = new Promise((resolve, reject) => {
    unsubscribe = client.subscribe(payload, {
      next: (v) => { results.push(v); onNext(v, unsubscribe); },
      error: reject,
      complete: () => resolve(results),
    });
  });
  return { done, unsubscribe: () => unsubscribe() };
}

const cases = [];
const test = (name, fn) => cases.push({ name, fn });

test('graphql-transport-ws/query', async () => {
  const { client } = gwsClient();
  try {
    const got = await run(client, { query: 'query($n: String) { hello(name: $n) }', variables: { n: 'Ann' } }).done;
    same(got, [{ data: { hello: 'Hello, Ann!' } }], 'results');
  } finally { await client.dispose(); }
});

test('graphql-transport-ws/mutation', async () => {
  const { client } = gwsClient();
  try {
    const got = await run(client, { query: 'mutation { post(text: "from graphql-ws") { text } }' }).done;
    same(got, [{ data: { post: { text: 'from graphql-ws' } } }], 'results');
  } finally { await client.dispose(); }
});

test('graphql-transport-ws/subscription countdown', async () => {
  const { client } = gwsClient();
  try {
    const got = await run(client, { query: 'subscription { countdown(from: 3) }' }).done;
    same(got.map((r) => r.data.countdown), [3, 2, 1, 0], 'countdown');
  } finally { await client.dispose(); }
});

test('graphql-transport-ws/subscription messages receives a post over HTTP', async () => {
  const { client } = gwsClient();
  try {
    let got;
    const sub = run(client, { query: 'subscription { messages { id text } }' }, (v) => { got = v; });
    // Messages are handled in order: once the query is answered, the
    // subscription is set up.
    await run(client, { query: '{ hello }' }).done;
    const m = await post('to graphql-transport-ws');
    await waitFor(() => got, 'the message');
    same(got, { data: { messages: m } }, 'message');
    sub.unsubscribe();
  } finally { await client.dispose(); }
});

test('graphql-transport-ws/validation error: error, no complete', async () => {
  const { client, log } = gwsClient({ generateID: () => 'bad' });
  try {
    let err;
    try { await run(client, { query: '{ nope }' }).done; } catch (e) { err = e; }
    check(Array.isArray(err), `error is ${err}, want an array of GraphQL errors`);
    same(err.map((e) => e.message), ['Cannot query field "nope" on type "Query".'], 'errors');
    // The ID is free again at once; the query that reuses it comes
    // after every message of the failed operation.
    const got = await run(client, { query: '{ hello }' }).done;
    same(got, [{ data: { hello: 'Hello, world!' } }], 'query reusing the ID');
    same(log.filter((m) => m.id === 'bad').map((m) => m.type), ['error', 'next', 'complete'], 'messages with the ID');
    same(log.sockets, 1, 'connections');
  } finally { await client.dispose(); }
});

test('graphql-transport-ws/complete from the client stops the subscription', async () => {
  let n = 0;
  const { client, log } = gwsClient({ generateID: () => `op${++n}` });
  try {
    let first;
    const sub = run(client, { query: 'subscription { countdown(from: 1000) }' }, (v, unsubscribe) => {
      if (!first) { first = v; unsubscribe(); }
    });
    await waitFor(() => first, 'the first result');
    // Sent after the complete, answered after it was handled.
    const got = await run(client, { query: '{ hello }' }).done;
    same(got, [{ data: { hello: 'Hello, world!' } }], 'query after the complete');
    const after = log.slice(log.findIndex((m) => m.id === 'op2'));
    check(!after.some((m) => m.id === 'op1'), `results after the complete was handled: ${JSON.stringify(after)}`);
    check(!log.some((m) => m.id === 'op1' && m.type === 'complete'), 'the server completed an operation the client completed');
    same(log.sockets, 1, 'connections');
    void sub;
  } finally { await client.dispose(); }
});

test('graphql-transport-ws/ping and pong', async () => {
  const pongs = [];
  const { client } = gwsClient({ keepAlive: 20, on: { pong: (received, payload) => pongs.push({ received, payload }) } });
  try {
    await waitFor(() => pongs.filter((p) => p.received).length >= 2, 'two pongs');
  } finally { await client.dispose(); }
});

test('graphql-transport-ws/4409 subscriber already exists', async () => {
  const { client } = gwsClient({ generateID: () => 'same' });
  try {
    let first;
    const a = run(client, { query: 'subscription { countdown(from: 1000) }' }, (v) => { first = v; });
    await waitFor(() => first, 'the first result');
    const b = run(client, { query: '{ hello }' });
    const errs = await Promise.all([a.done.then(() => null, (e) => e), b.done.then(() => null, (e) => e)]);
    for (const e of errs) same({ code: e?.code, reason: e?.reason }, { code: 4409, reason: 'Subscriber for same already exists' }, 'close');
  } finally { await client.dispose(); }
});

test('graphql-transport-ws/4400 invalid message', async () => {
  const { client } = gwsClient({ jsonMessageReplacer: (key, value) => (key === 'query' ? 42 : value) });
  try {
    const e = await run(client, { query: '{ hello }' }).done.then(() => null, (e) => e);
    same({ code: e?.code, reason: e?.reason }, { code: 4400, reason: 'invalid subscribe message: "payload.query" must be a string' }, 'close');
  } finally { await client.dispose(); }
});

test('graphql-transport-ws/4408 connection initialisation timeout', async () => {
  const log = [];
  const client = createClient({
    url: shortURL, webSocketImpl: recording(log), retryAttempts: 0,
    connectionParams: () => new Promise(() => {}), // never ready: no connection_init
  });
  try {
    const e = await run(client, { query: '{ hello }' }).done.then(() => null, (e) => e);
    same({ code: e?.code, reason: e?.reason }, { code: 4408, reason: 'Connection initialisation timeout' }, 'close');
  } finally { await client.dispose(); }
});

// --- subscriptions-transport-ws's client, graphql-ws ---

function stwsClient(where = url, opts = {}) {
  const log = [];
  const client = new subscriptions.SubscriptionClient(where, { reconnect: false, ...opts }, recording(log));
  return { client, log };
}

function request(client, payload, onNext = () => {}) {
  const results = [];
  let sub;
  const done = new Promise((resolve, reject) => {
    sub = client.request(payload).subscribe({
      next: (v) => { results.push(v); onNext(v, () => sub.unsubscribe()); },
      error: reject,
      complete: () => resolve(results),
    });
  });
  return { done, unsubscribe: () => sub.unsubscribe() };
}

test('graphql-ws/query', async () => {
  const { client } = stwsClient();
  try {
    const got = await request(client, { query: 'query($n: String) { hello(name: $n) }', variables: { n: 'Bo' } }).done;
    same(got, [{ data: { hello: 'Hello, Bo!' } }], 'results');
  } finally { client.close(); }
});

test('graphql-ws/mutation', async () => {
  const { client } = stwsClient();
  try {
    const got = await request(client, { query: 'mutation { post(text: "from subscriptions-transport-ws") { text } }' }).done;
    same(got, [{ data: { post: { text: 'from subscriptions-transport-ws' } } }], 'results');
  } finally { client.close(); }
});

test('graphql-ws/subscription countdown', async () => {
  const { client } = stwsClient();
  try {
    const got = await request(client, { query: 'subscription { countdown(from: 3) }' }).done;
    same(got.map((r) => r.data.countdown), [3, 2, 1, 0], 'countdown');
  } finally { client.close(); }
});

test('graphql-ws/subscription messages receives a post over HTTP', async () => {
  const { client } = stwsClient();
  try {
    let got;
    const sub = request(client, { query: 'subscription { messages { id text } }' }, (v) => { got = v; });
    await request(client, { query: '{ hello }' }).done;
    const m = await post('to graphql-ws');
    await waitFor(() => got, 'the message');
    same(got, { data: { messages: m } }, 'message');
    sub.unsubscribe();
  } finally { client.close(); }
});

test('graphql-ws/validation error: error, no complete', async () => {
  const { client, log } = stwsClient();
  try {
    // The client hands its observer the first error.
    const e = await request(client, { query: '{ nope }' }).done.then(() => null, (e) => e);
    same(e?.message, 'Cannot query field "nope" on type "Query".', 'error');
    await request(client, { query: '{ hello }' }).done;
    const types = log.filter((m) => m.id === '1').map((m) => m.type);
    same(types, ['error'], 'messages for the operation');
  } finally { client.close(); }
});

test('graphql-ws/stop', async () => {
  const { client, log } = stwsClient();
  try {
    let first;
    request(client, { query: 'subscription { countdown(from: 1000) }' }, (v, unsubscribe) => {
      if (!first) { first = v; unsubscribe(); }
    });
    await waitFor(() => first, 'the first result');
    await waitFor(() => log.some((m) => m.id === '1' && m.type === 'complete'), 'complete after stop');
    const got = await request(client, { query: '{ hello }' }).done;
    same(got, [{ data: { hello: 'Hello, world!' } }], 'query after the stop');
    const after = log.slice(log.findIndex((m) => m.id === '1' && m.type === 'complete') + 1);
    check(!after.some((m) => m.id === '1'), `messages after complete: ${JSON.stringify(after)}`);
  } finally { client.close(); }
});

test('graphql-ws/ka keep-alive', async () => {
  const { client, log } = stwsClient(shortURL);
  try {
    await waitFor(() => log.filter((m) => m.type === 'ka').length >= 3, 'three ka');
    same(log.slice(0, 2).map((m) => m.type), ['connection_ack', 'ka'], 'first messages');
    check(client.status === WebSocket.OPEN, 'the client closed the connection');
  } finally { client.close(); }
});

test('graphql-ws/connection initialisation timeout', async () => {
  const { client, log } = stwsClient(shortURL, { connectionParams: () => new Promise(() => {}) });
  try {
    await waitFor(() => log.closed, 'the close');
    same(log.closed, { code: 4408, reason: 'Connection initialisation timeout' }, 'close');
  } finally { client.close(); }
});

let n = 0;
for (const { name, fn } of cases) {
  let timer;
  try {
    await Promise.race([fn(), new Promise((_, reject) => { timer = setTimeout(() => reject(new Error('timed out')), caseTimeout); })]);
    console.log(`ok ${name}`);
  } catch (e) {
    console.log(`FAIL ${name}: ${(e && e.stack) || JSON.stringify(e)}`.replaceAll('\n', ' | '));
  } finally {
    clearTimeout(timer);
  }
  n++;
}
console.log(`cases ${n}`);
process.exit(0);
