// Write Sluice ingress and actor components in plain, synchronous JavaScript.
//
// An ingress component turns one HTTP request into a `Stream` of values. The host sends each
// value as one Server-Sent Event (when the client asked for `text/event-stream`) or the first
// one as the JSON response. Components reach the outside world only through the host: the
// event bus (`events`), the store (`query`) and actors (`messageActor`), each granted per
// ingress in its `acl`. The SDK mirrors the platform's language: `from` is `Stream.once` or an
// `events` source, `select` is `.map`, several `from`s are `Stream.merge`. Types and examples:
// `index.d.ts`. `sluice build` bundles this module with the component and makes it a
// component with componentize-js (no `wasi:http`, no component-model async).

// Named imports, so the bundler drops what a component does not use: an actor's world has
// no `events` or `actors` to import.
import { subscribe, wait, wakeOn } from 'sluice:ingress/events@0.1.0';
import { run as runQuery } from 'sluice:ingress/query@0.1.0';
import { messageActor as sendToActor } from 'sluice:ingress/actors@0.1.0';
import { log as hostLog, now as hostNow, newId as hostNewId } from 'sluice:ingress/host@0.1.0';

/** The WIT package this SDK was built against (`wit/` of the Sluice repository). */
export const WIT_PACKAGE = 'sluice:ingress@0.1.0';

/** An application error: a `code`, a `message`, optionally an HTTP `status` and `details`. */
export class SluiceError extends Error {
  constructor(code, message, { status, details } = {}) {
    super(`${code}: ${message}`);
    this.name = 'SluiceError';
    this.code = code;
    this.detail = message;
    this.status = status;
    this.details = details;
  }

  static badRequest(message) { return new SluiceError('BAD_REQUEST', message); }
  static unauthorized(message) { return new SluiceError('UNAUTHORIZED', message); }
  static forbidden(message) { return new SluiceError('FORBIDDEN', message); }
  static notFound(message) { return new SluiceError('NOT_FOUND', message); }
  static conflict(message) { return new SluiceError('CONFLICT', message); }
  static unavailable(message) { return new SluiceError('UNAVAILABLE', message); }
  static internal(message) { return new SluiceError('INTERNAL_ERROR', message); }

  static missingParameter(name) {
    return new SluiceError('MISSING_PARAMETER', `parameter '${name}' is required`, {
      status: 400,
      details: { parameter: name },
    });
  }

  static invalidParameter(name, message) {
    return new SluiceError('INVALID_PARAMETER', message, { status: 400, details: { parameter: name } });
  }

  /** The error record `{"error":{"code","message","status"?,"details"?}}`. */
  toJSON() {
    const error = { code: this.code, message: this.detail };
    if (this.status !== undefined) error.status = this.status;
    if (this.details !== undefined) error.details = this.details;
    return { error };
  }

  /** The WIT `error` record. */
  toWit() {
    return {
      code: this.code,
      message: this.detail,
      status: this.status,
      details: this.details === undefined ? undefined : JSON.stringify(this.details),
    };
  }
}

/** A record whose fields become one SSE event (`event`, `id`, `retry`, `data`), in order. */
export class Record {
  constructor(fields = {}) { this.fields = { ...fields }; }
  static event(name) { return new Record().field('event', name); }
  static error(error) { return new Record().field('error', error.toJSON().error); }
  id(id) { return this.field('id', String(id)); }
  retry(milliseconds) { return this.field('retry', milliseconds); }
  data(data) { return this.field('data', data); }
  field(name, value) { this.fields[name] = value; return this; }
  get(name) { return this.fields[name]; }
  toJSON() { return this.fields; }
}

/**
 * One event from the bus; sent as `{"topic","eventType","id","timestamp","data"}`. Its id and
 * data are kept as the host's text, so an event sent on as it came keeps every digit (a
 * JavaScript number holds integers exactly only up to 2^53).
 */
export class Event {
  constructor(topic, eventType, id, timestamp, dataText) {
    Object.assign(this, { topic, eventType, timestamp });
    this.idText = String(id);
    this.dataText = dataText;
  }

  /** Bus-wide, strictly increasing. */
  get id() { return Number(this.idText); }

  /** The event's data, parsed. */
  get data() {
    if (!('parsed' in this)) this.parsed = JSON.parse(this.dataText);
    return this.parsed;
  }

  toJSON() {
    return { topic: this.topic, eventType: this.eventType, id: this.id, timestamp: this.isoTime(), data: this.data };
  }

  isoTime() { return new Date(this.timestamp).toISOString(); }

  /** The JSON text of the event, with its id and data exactly as the host sent them. */
  encode() {
    const text = JSON.stringify;
    return `{"topic":${text(this.topic)},"eventType":${text(this.eventType)},"id":${this.idText},` +
      `"timestamp":${text(this.isoTime())},"data":${this.dataText}}`;
  }
}

const UUID = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;

// What each parameter type accepts (undefined: not that type), and how the 400 says it.
const KINDS = {
  text: ['text', (v) => (typeof v === 'string' ? v : ['number', 'boolean'].includes(typeof v) ? String(v) : undefined)],
  integer: ['an integer', (v) => {
    const n = typeof v === 'string' && /^[+-]?\d+$/.test(v) ? Number(v) : v;
    return Number.isSafeInteger(n) ? n : undefined;
  }],
  number: ['a number', (v) => {
    const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
    return typeof n === 'number' && Number.isFinite(n) ? n : undefined;
  }],
  boolean: ['true or false', (v) => (typeof v === 'boolean' ? v : v === 'true' ? true : v === 'false' ? false : undefined)],
  uuid: ['a UUID', (v) => (typeof v === 'string' && UUID.test(v) ? v.toLowerCase() : undefined)],
  json: ['JSON', (v) => v],
};

/** One HTTP request with its parameters resolved by the host. */
export class Request {
  constructor({ ingressId = '', method = 'GET', path = '/', params = {}, mode = 'sse', lastEventId, body, caller } = {}) {
    Object.assign(this, { ingressId, method, path, params, mode, lastEventId, body, caller });
  }

  static fromWit(request) {
    const params = {};
    for (const [name, json] of request.params) params[name] = JSON.parse(json);
    return new Request({ ...request, params });
  }

  /** The parameter `name` as `kind` (`text`, `integer`, `number`, `boolean`, `uuid`, `json`). */
  param(name, kind = 'text', options = {}) {
    const value = this.params[name];
    if (value === undefined || value === null) {
      if ('default' in options) return options.default;
      throw SluiceError.missingParameter(name);
    }
    const known = KINDS[kind];
    if (!known) throw new TypeError(`a parameter cannot be read as ${kind}`);
    const converted = known[1](value);
    if (converted === undefined) {
      let shown = JSON.stringify(value);
      if ([...shown].length > 64) shown = `${[...shown].slice(0, 64).join('')}…`;
      throw SluiceError.invalidParameter(name, `parameter '${name}' must be ${known[0]}, got ${shown}`);
    }
    return converted;
  }
}

function eventsError(err) {
  const { tag, val } = err.payload ?? { tag: 'closed', val: String(err) };
  const codes = { forbidden: 'FORBIDDEN', closed: 'STREAM_CLOSED', unavailable: 'UNAVAILABLE' };
  const error = new SluiceError(codes[tag] ?? 'EVENTS_ERROR', val);
  error.kind = tag;
  return error;
}

/** A live subscription: a source of `Event`s; `map` makes what is sent of each. */
export class Events {
  constructor(subscription, select) {
    this.subscription = subscription;
    this.select = select;
  }

  map(select) { return new Events(this.subscription, select); }
  gap() { return this.subscription.gap(); }
  merge(...others) { return Stream.of(this).merge(...others); }
}

/** Subscribe to `topics` × `eventTypes` (none: every type), after bus id `after` if given. */
export function events(topics, eventTypes = [], { after } = {}) {
  const list = (value) => (typeof value === 'string' ? [value] : [...value]);
  try {
    return new Events(subscribe(list(topics), list(eventTypes), after === undefined ? undefined : BigInt(after)));
  } catch (err) {
    throw eventsError(err);
  }
}

/** The values one response yields, pulled by the host one batch at a time. */
export class Stream {
  constructor() {
    this.ready = [];
    this.sources = [];
    this.failure = undefined;
  }

  static once(value) { return Stream.iter([value]); }

  static iter(values) {
    const stream = new Stream();
    stream.ready.push(values[Symbol.iterator]());
    return stream;
  }

  static of(value) {
    if (value instanceof Stream) return value;
    if (value instanceof Events) {
      const stream = new Stream();
      stream.sources.push(value);
      return stream;
    }
    return Stream.once(value);
  }

  merge(...others) {
    const merged = new Stream();
    for (const part of [this, ...others].map(Stream.of)) {
      merged.ready.push(...part.ready);
      merged.sources.push(...part.sources);
    }
    return merged;
  }

  /**
   * The next batch as JSON texts: 1 to `max`, waiting only for the first; [] at the end.
   * With `block` false it never waits: [] also when no event has arrived yet.
   */
  take(max, block = true) {
    if (this.failure !== undefined) {
      const failure = this.failure;
      this.failure = undefined;
      throw failure;
    }
    const values = [];
    // An exception after some values of this batch is thrown in the next pull, so the
    // values computed before it still reach the client.
    const failed = (err) => {
      if (err instanceof SluiceError) return err;
      if (values.length === 0) throw err;
      this.failure = err;
      return undefined;
    };
    while (this.ready.length > 0 && values.length < max) {
      let next;
      try {
        next = this.ready[0].next();
      } catch (err) {
        const value = failed(err);
        if (value === undefined) return values;
        values.push(encode(value));
        continue;
      }
      if (next.done) this.ready.shift();
      else values.push(encode(next.value));
    }
    while (values.length === 0 && this.sources.length > 0) {
      let arrived;
      try {
        arrived = wait(this.sources.map((source) => source.subscription), max, block ? undefined : 0);
      } catch (err) {
        this.sources = [];
        return [encode(eventsError(err))];
      }
      for (const [index, e] of arrived) {
        const source = this.sources[index];
        const event = new Event(e.topic, e.eventType, e.id, Number(e.timestamp), e.data);
        let value;
        try {
          value = source.select ? source.select(event) : event;
        } catch (err) {
          value = failed(err);
          if (value === undefined) return values;
        }
        if (value !== undefined && value !== null) values.push(encode(value));
      }
      if (!block) break;
    }
    return values;
  }

  /**
   * `record-stream.poll-batch`: the next batch without waiting, and what the host does next.
   * With nothing to send, the stream names its subscriptions and answers 'wait', so the
   * instance holds no stack until the host pulls again.
   *
   * @example
   * const last = Stream.once('last');
   * last.poll(5); // [['"last"'], 'more']
   * last.poll(5); // [[], 'end']
   */
  poll(max) {
    const batch = this.take(max, false);
    if (batch.length > 0 || this.ready.length > 0) return [batch, 'more'];
    if (this.sources.length === 0) return [batch, 'end'];
    wakeOn(this.sources.map((source) => source.subscription));
    return [batch, 'wait'];
  }
}

/**
 * What the host receives for a yielded value, as JSON text: `JSON.stringify`, except that an
 * `Event` anywhere in it is written with its id and data as the host sent them.
 */
export function encode(value) {
  const out = [];
  write(value === undefined ? null : value, out);
  return out.join('');
}

function write(value, out) {
  if (value instanceof Event) {
    out.push(value.encode());
    return;
  }
  if (value !== null && typeof value === 'object' && typeof value.toJSON === 'function') {
    value = value.toJSON();
  }
  const skipped = (v) => v === undefined || typeof v === 'function' || typeof v === 'symbol';
  if (Array.isArray(value)) {
    out.push('[');
    value.forEach((item, index) => {
      if (index > 0) out.push(',');
      write(skipped(item) ? null : item, out);
    });
    out.push(']');
  } else if (value !== null && typeof value === 'object') {
    out.push('{');
    let first = true;
    for (const [key, item] of Object.entries(value)) {
      if (skipped(item)) continue;
      if (!first) out.push(',');
      first = false;
      out.push(JSON.stringify(key), ':');
      write(item, out);
    }
    out.push('}');
  } else {
    out.push(JSON.stringify(value) ?? 'null');
  }
}

function queryError(err) {
  const { tag, val } = err.payload ?? { tag: 'store', val: String(err) };
  const codes = { forbidden: 'FORBIDDEN', unavailable: 'UNAVAILABLE' };
  const syntax = tag === 'syntax';
  const error = new SluiceError(codes[tag] ?? 'QUERY_ERROR', syntax ? val.message : val, {
    details: syntax ? { position: val.position } : undefined,
  });
  error.kind = tag;
  return error;
}

/** A read of one edge of the store; `?` in the filter take bound `arguments`. */
export class Query {
  constructor(edge) {
    Object.assign(this, { edge, names: [], expression: undefined, args: [], order: undefined, max: undefined });
  }

  fields(...names) { this.names = names; return this; }
  filter(expression, ...args) { this.expression = expression; this.args = args; return this; }
  orderBy(order) { this.order = order; return this; }
  limit(limit) { this.max = limit; return this; }
  all() { return this.run(this.max); }
  first() { return this.run(1)[0]; }

  run(limit) {
    try {
      const rows = runQuery({
        edge: this.edge,
        fields: this.names,
        filter: this.expression,
        arguments: this.args.map((arg) => JSON.stringify(arg)),
        orderBy: this.order,
        limit,
      });
      return rows.map((row) => JSON.parse(row));
    } catch (err) {
      throw queryError(err);
    }
  }
}

/** Start a query of `edge` (the `acl` must grant `<edge>:read`). */
export function query(edge) {
  return new Query(edge);
}

/**
 * Deliver `messages` (`{type, body?, alias?}` or just a type) to actor `actorType`/`actorId`,
 * in order and in one transaction. Returns `{actorId, paths, data, errors}`.
 */
export function messageActor(actorType, actorId, messages, { preview = false } = {}) {
  const wit = messages.map((message) => {
    const { type, body, alias } = typeof message === 'string' ? { type: message } : message;
    return { type, alias, body: body === undefined ? undefined : JSON.stringify(body) };
  });
  try {
    return JSON.parse(sendToActor(actorType, actorId, wit, preview));
  } catch (err) {
    const { tag, val } = err.payload ?? { tag: 'failed', val: String(err) };
    const codes = { forbidden: 'FORBIDDEN', 'not-found': 'NOT_FOUND', unavailable: 'UNAVAILABLE' };
    const error = new SluiceError(codes[tag] ?? 'ACTOR_ERROR', val);
    error.kind = tag;
    throw error;
  }
}

const LEVELS = ['trace', 'debug', 'info', 'warn', 'error'];

/** Write to the host log, tagged with the ingress and request (`console.log` does too). */
export function log(message, level = 'info') {
  if (!LEVELS.includes(level)) throw new TypeError(`level must be one of ${LEVELS.join(', ')}`);
  hostLog(level, message);
}

/** Milliseconds since the Unix epoch, from the host clock. */
export function now() {
  return Number(hostNow());
}

/** A new random (v4) UUID, hyphenated. */
export function newId() {
  return hostNewId();
}

/** The exported `record-stream` resource over one `Stream`. */
class RecordStream {
  constructor(stream) { this.stream = stream; }
  pollBatch(max) {
    try {
      return this.stream.poll(max);
    } catch (err) {
      throw reported(err);
    }
  }
}

/** Print an exception's stack to stderr (the host log) before it traps the instance. */
function reported(err) {
  console.error(err instanceof Error && err.stack ? `${err}\n${err.stack}` : String(err));
  return err;
}

/**
 * The `handler` export of an ingress component: `export const handler = ingress(handle)`.
 * `handle(request)` returns a `Stream`, an `events(...)` source, or one value to send.
 */
export function ingress(handle) {
  return {
    RecordStream,
    handle(request) {
      let result;
      try {
        result = handle(Request.fromWit(request));
      } catch (err) {
        if (err instanceof SluiceError) throw err.toWit();
        throw reported(err);
      }
      return new RecordStream(Stream.of(result));
    },
  };
}

/** One message to an actor. */
export class ActorMessage {
  constructor(type, body, alias) { Object.assign(this, { type, body, alias }); }
  unknown() { return new SluiceError('UNKNOWN_MESSAGE', `unknown message type '${this.type}'`); }
}

const sameJson = (a, b) => JSON.stringify(sorted(a)) === JSON.stringify(sorted(b));
function sorted(value) {
  if (Array.isArray(value)) return value.map(sorted);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.keys(value).sort().map((key) => [key, sorted(value[key])]));
  }
  return value;
}

/**
 * Run `messages` in order against the loaded state (or `initial()`), all or nothing: after
 * the first `SluiceError` the rest are `SKIPPED` and no state is returned.
 */
export function runActor(handle, initial, ctx, stateText, messages) {
  const state = stateText === undefined ? initial() : JSON.parse(stateText);
  const before = stateText === undefined && !ctx.readOnly ? undefined : JSON.parse(JSON.stringify(state));
  const results = [];
  for (const [index, message] of messages.entries()) {
    try {
      results.push(handle(state, ctx, message));
      ctx.isNew = false;
    } catch (err) {
      if (!(err instanceof SluiceError)) throw reported(err);
      results.push(err);
      const skipped = new SluiceError('SKIPPED', `not run: message ${index} ('${message.type}') was rejected`);
      while (results.length < messages.length) results.push(skipped);
      return { results, changed: false };
    }
  }
  const changed = messages.length > 0 && (before === undefined || !sameJson(before, state));
  return { results, changed, state, checkpointMetadata: changed ? ctx.checkpointMetadata : undefined };
}

/**
 * The `actorHandler` export of an actor component:
 * `export const actorHandler = actor({ initial: () => ({ count: 0 }), handle(state, ctx, message) { … } })`.
 */
export function actor({ initial, handle }) {
  return {
    handle(context, stateText, messages) {
      const ctx = { ...context, name: `${context.actorType}/${context.actorId}`, checkpointMetadata: undefined };
      const batch = runActor(
        handle,
        initial,
        ctx,
        stateText,
        messages.map((m) => new ActorMessage(m.type, m.body === undefined ? undefined : JSON.parse(m.body), m.alias)),
      );
      return {
        state: batch.changed ? encode(batch.state) : undefined,
        results: batch.results.map((r) => (r instanceof SluiceError ? { tag: 'err', val: r.toWit() } : { tag: 'ok', val: encode(r) })),
        checkpointMetadata: batch.checkpointMetadata === undefined ? undefined : encode(batch.checkpointMetadata),
      };
    },
  };
}
