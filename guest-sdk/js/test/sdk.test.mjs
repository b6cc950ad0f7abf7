// The SDK's own logic on Node.js, with the host's interfaces stubbed: records, errors,
// parameters, streams (ready values, events, merge order, failures), queries and actors.
// Run with `node --test guest-sdk/js/test/` (the workspace's tests run it too).

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

/** What the stubbed host does; each test sets what it needs. */
const host = {
  subscribe: () => ({ gap: () => false }),
  wait: () => [],
  run: () => [],
  messageActor: () => '{}',
  log: () => {},
  now: () => 0n,
  newId: () => '00000000-0000-4000-8000-000000000000',
};
globalThis.__sluiceHost = host;

// The SDK imports the host's interfaces as `sluice:ingress/...`; here each name calls the
// function `host` has at the time, so a test can swap it.
const source = readFileSync(new URL('../sluice/index.js', import.meta.url), 'utf8').replace(
  /^import \{([^}]*)\} from 'sluice:ingress\/[a-z]+@0\.1\.0';$/gm,
  (_, names) =>
    names
      .split(',')
      .map((name) => name.trim().split(/ as /))
      .map(([imported, local = imported]) => `const ${local} = (...args) => globalThis.__sluiceHost.${imported}(...args);`)
      .join('\n'),
);
const sdk = await import(`data:text/javascript,${encodeURIComponent(source)}`);
const { ActorMessage, Event, Record, Request, SluiceError, Stream, encode, events, ingress, messageActor, query, runActor } = sdk;

test('records keep their fields in order and become the JSON the host reads', () => {
  const record = Record.event('heartbeat').id('hb-42').retry(5000).data({ timestamp: '2026-01-11T19:30:00Z' });
  assert.equal(encode(record), '{"event":"heartbeat","id":"hb-42","retry":5000,"data":{"timestamp":"2026-01-11T19:30:00Z"}}');
  assert.equal(encode(Record.error(new SluiceError('STREAM_ERROR', 'feed broke'))), '{"error":{"code":"STREAM_ERROR","message":"feed broke"}}');
  assert.equal(encode('Hello world'), '"Hello world"');
  assert.equal(encode({ a: undefined, b: [undefined, () => 1], c: new Date(0) }), '{"b":[null,null],"c":"1970-01-01T00:00:00.000Z"}');
});

test('an event keeps the id and data digits the host sent', () => {
  const event = new Event('actors/order/ORD-1', 'checkpoint', 9007199254740993n, 1768159800000, '{"n":9007199254740993}');
  assert.equal(
    encode(Record.event('updated').data(event)),
    '{"event":"updated","data":{"topic":"actors/order/ORD-1","eventType":"checkpoint","id":9007199254740993,"timestamp":"2026-01-11T19:30:00.000Z","data":{"n":9007199254740993}}}',
  );
  assert.deepEqual(event.data, { n: 9007199254740992 }, 'read as a number, it is a JavaScript number');
});

test('parameters are converted or refused with a 400 naming them', () => {
  const request = new Request({ params: { orderId: 'ORD-123', limit: '5', on: 'true', n: 1.5 } });
  assert.equal(request.param('orderId'), 'ORD-123');
  assert.equal(request.param('limit', 'integer'), 5);
  assert.equal(request.param('on', 'boolean'), true);
  assert.equal(request.param('n', 'number'), 1.5);
  assert.equal(request.param('absent', 'integer', { default: 20 }), 20);
  assert.throws(() => request.param('orderId', 'uuid'), (err) => {
    assert.deepEqual(err.toJSON(), {
      error: {
        code: 'INVALID_PARAMETER',
        message: 'parameter \'orderId\' must be a UUID, got "ORD-123"',
        status: 400,
        details: { parameter: 'orderId' },
      },
    });
    return true;
  });
  assert.throws(() => request.param('absent'), (err) => err.code === 'MISSING_PARAMETER' && err.status === 400);
});

test('ready values come first, then events in arrival order across sources', () => {
  const subscriptions = [];
  host.subscribe = (topics) => {
    const subscription = { topics, gap: () => false };
    subscriptions.push(subscription);
    return subscription;
  };
  const arrivals = [[[1, { topic: 'b', eventType: 'c', id: 2n, timestamp: 0n, data: '2' }], [0, { topic: 'a', eventType: 'c', id: 3n, timestamp: 0n, data: '3' }]]];
  host.wait = (list, max) => {
    assert.deepEqual(list, subscriptions);
    assert.equal(max, 5);
    return arrivals.shift() ?? [];
  };
  const stream = Stream.once(Record.event('init'))
    .merge(events('a').map((e) => Record.event('a').data(e.data)), events(['b']).map((e) => Record.event('b').data(e.data)));
  assert.deepEqual(stream.take(5), ['{"event":"init"}']);
  assert.deepEqual(stream.take(5), ['{"event":"b","data":2}', '{"event":"a","data":3}']);
});

test('an error in a map is sent and the stream goes on; a closed subscription ends it', () => {
  host.subscribe = () => ({ gap: () => false });
  const arrivals = [[[0, { topic: 't', eventType: 'c', id: 1n, timestamp: 0n, data: '{"bad":true}' }]]];
  host.wait = () => {
    const next = arrivals.shift();
    if (next) return next;
    throw Object.assign(new Error('closed'), { payload: { tag: 'closed', val: 'this connection fell too far behind' } });
  };
  const stream = events('t').map((e) => {
    if (e.data.bad) throw new SluiceError('STREAM_ERROR', 'bad event');
    return e;
  }).merge();
  assert.deepEqual(stream.take(5), ['{"error":{"code":"STREAM_ERROR","message":"bad event"}}']);
  assert.deepEqual(stream.take(5), ['{"error":{"code":"STREAM_CLOSED","message":"this connection fell too far behind"}}']);
  assert.deepEqual(stream.take(5), []);
});

test('poll never waits: with nothing to send it names its subscriptions and answers wait', () => {
  const subscription = { gap: () => false };
  host.subscribe = () => subscription;
  const named = [];
  host.wakeOn = (list) => named.push(list);
  const timeouts = [];
  const arrivals = [[], [[0, { topic: 't', eventType: 'c', id: 1n, timestamp: 0n, data: '1' }]]];
  host.wait = (list, max, timeout) => {
    timeouts.push(timeout);
    return arrivals.shift() ?? [];
  };
  const stream = Stream.once('init').merge(events('t').map((e) => e.data));
  assert.deepEqual(stream.poll(5), [['"init"'], 'more']);
  assert.deepEqual(stream.poll(5), [[], 'wait']);
  assert.deepEqual(named, [[subscription]]);
  assert.deepEqual(stream.poll(5), [['1'], 'more']);
  assert.deepEqual(timeouts, [0, 0], 'every wait polls');
  const done = Stream.once('last');
  assert.deepEqual(done.poll(5), [['"last"'], 'more']);
  assert.deepEqual(done.poll(5), [[], 'end']);
});

test('an exception fails the stream after the values before it', () => {
  const failing = Stream.iter((function* () { yield 0; yield 1; throw new RangeError('boom'); })());
  assert.deepEqual(failing.take(5), ['0', '1']);
  assert.throws(() => failing.take(5), RangeError);
});

test('the handler turns a SluiceError into the WIT error and anything else into a trap', () => {
  const handler = ingress((request) => {
    if (request.path === '/missing') throw SluiceError.notFound('SKU not found');
    if (request.path === '/broken') throw new TypeError('broken');
    return 'Hello world';
  });
  const witRequest = (path) => ({ ingressId: 'x', method: 'GET', path, params: [], mode: 'sse' });
  assert.deepEqual(handler.handle(witRequest('/ok')).pollBatch(5), [['"Hello world"'], 'more']);
  assert.throws(() => handler.handle(witRequest('/missing')), (err) => {
    assert.deepEqual(err, { code: 'NOT_FOUND', message: 'SKU not found', status: undefined, details: undefined });
    return true;
  });
  const logged = console.error;
  console.error = () => {};
  try {
    assert.throws(() => handler.handle(witRequest('/broken')), TypeError);
  } finally {
    console.error = logged;
  }
});

test('queries bind their arguments and capability errors keep their kind', () => {
  host.run = (request) => {
    assert.deepEqual(request, { edge: 'skus', fields: ['skuId'], filter: 'skuNumber == ?', arguments: ['"PROD-001"'], orderBy: undefined, limit: 1 });
    return ['{"skuId":"42"}'];
  };
  assert.deepEqual(query('skus').fields('skuId').filter('skuNumber == ?', 'PROD-001').first(), { skuId: '42' });
  host.run = () => { throw Object.assign(new Error('x'), { payload: { tag: 'syntax', val: { message: 'expected a value', position: 14 } } }); };
  assert.throws(() => query('skus').filter('skuNumber == ').all(), (err) =>
    err.code === 'QUERY_ERROR' && err.kind === 'syntax' && err.details.position === 14);
  host.messageActor = () => { throw Object.assign(new Error('x'), { payload: { tag: 'not-found', val: 'no sku/9' } }); };
  assert.throws(() => messageActor('sku', '9', ['get']), (err) => err.code === 'NOT_FOUND' && err.kind === 'not-found');
});

test('an actor batch applies all or nothing and stores only a changed state', () => {
  const counter = (state, ctx, message) => {
    if (message.type === 'add') {
      if (state.count + message.body < 0) throw new SluiceError('NEGATIVE', 'below zero');
      state.count += message.body;
    } else if (message.type !== 'get') {
      throw message.unknown();
    }
    return state.count;
  };
  const initial = () => ({ count: 0 });
  const ctx = () => ({ readOnly: false });
  const changed = runActor(counter, initial, ctx(), '{"count":1}', [new ActorMessage('add', 2), new ActorMessage('get')]);
  assert.deepEqual(changed, { results: [3, 3], changed: true, state: { count: 3 }, checkpointMetadata: undefined });
  assert.equal(runActor(counter, initial, ctx(), '{"count":1}', [new ActorMessage('get')]).changed, false);
  const rejected = runActor(counter, initial, ctx(), '{"count":1}', [new ActorMessage('add', -5), new ActorMessage('get')]);
  assert.equal(rejected.changed, false);
  assert.deepEqual(rejected.results.map((r) => r.code), ['NEGATIVE', 'SKIPPED']);
  assert.equal(runActor(counter, initial, ctx(), undefined, [new ActorMessage('get')]).changed, true, 'a new actor is created');
  assert.equal(runActor(counter, initial, { readOnly: true }, undefined, [new ActorMessage('get')]).changed, false, 'a query creates nothing');
  assert.equal(new ActorMessage('explode').unknown().detail, "unknown message type 'explode'");
});
