// Types for the Sluice JavaScript SDK (`index.js`). Import it as `sluice`; `sluice build`
// resolves it to this SDK when it bundles a component.

/** Any JSON value. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** The WIT package this SDK was built against (`wit/` of the Sluice repository). */
export const WIT_PACKAGE: 'sluice:ingress@0.1.0';

/**
 * An application error: a `code`, a human-readable message, optionally an HTTP `status` and
 * JSON `details`. Thrown from the handler before the stream starts, it becomes an HTTP error
 * `{"error":{"code":…,"message":…}}` whose status is `status`, else follows from the code
 * (`NOT_FOUND` → 404, `INVALID_*` → 400, …, anything else → 500). Thrown in a `map`
 * function, it is sent as an `error` event and the stream goes on.
 *
 * @example
 * if (!sku) throw SluiceError.notFound('SKU not found');
 * throw new SluiceError('STOCK_LOCKED', 'try again', { status: 423, details: { retryIn: 5 } });
 */
export class SluiceError extends Error {
  constructor(code: string, message: string, options?: { status?: number; details?: Json });
  readonly code: string;
  /** The human-readable message (the `message` property is `CODE: message`). */
  readonly detail: string;
  readonly status?: number;
  readonly details?: Json;
  /** `kind` of a capability's error: e.g. `forbidden`, `not-found`, `syntax`, `closed`. */
  kind?: string;
  static badRequest(message: string): SluiceError;
  static unauthorized(message: string): SluiceError;
  static forbidden(message: string): SluiceError;
  static notFound(message: string): SluiceError;
  static conflict(message: string): SluiceError;
  static unavailable(message: string): SluiceError;
  static internal(message: string): SluiceError;
  /** `MISSING_PARAMETER`, status 400, details `{parameter}`: what `param` throws for an absent one. */
  static missingParameter(name: string): SluiceError;
  /** `INVALID_PARAMETER`, status 400, details `{parameter}`: what `param` throws for a wrong type. */
  static invalidParameter(name: string, message: string): SluiceError;
  /** `{"error":{"code","message","status"?,"details"?}}` */
  toJSON(): { error: { code: string; message: string; status?: number; details?: Json } };
}

/**
 * A record whose fields become one SSE event: `event`, `id`, `retry` and `data`; other fields
 * stay in the JSON. Fields keep the order they were set in.
 *
 * @example
 * Record.event('heartbeat').id('hb-42').retry(5000).data({ timestamp: '2026-01-11T19:30:00Z' });
 * // event: heartbeat / id: hb-42 / retry: 5000 / data: {"timestamp":"2026-01-11T19:30:00Z"}
 */
export class Record {
  constructor(fields?: { [key: string]: unknown });
  static event(name: string): Record;
  /** The error record `{"error":{…}}`, sent as an SSE `error` event. */
  static error(error: SluiceError): Record;
  id(id: string | number): Record;
  retry(milliseconds: number): Record;
  data(data: unknown): Record;
  field(name: string, value: unknown): Record;
  get(name: string): unknown;
  toJSON(): { [key: string]: unknown };
}

/**
 * One event from the bus; sent as `{"topic","eventType","id","timestamp","data"}`. An event
 * sent on as it came keeps its id and data exactly as the host sent them; read through
 * `data`, integers beyond 2^53 lose digits, as any JavaScript number does.
 */
export class Event {
  readonly topic: string;
  readonly eventType: string;
  /** Bus-wide, strictly increasing; its decimal form is a good SSE `id`. */
  readonly id: number;
  /** Milliseconds since the Unix epoch (sent as RFC 3339 UTC). */
  readonly timestamp: number;
  /** The data, parsed on first use. */
  readonly data: Json;
  /** The JSON text of the event, id and data as the host sent them. */
  encode(): string;
}

/** The kinds `Request.param` converts to. */
export type ParamKind = 'text' | 'integer' | 'number' | 'boolean' | 'uuid' | 'json';

/** The holder of a valid bearer token. */
export interface Caller {
  subject?: string;
  /** `<resource path>:<action>` entries of the token's scope. */
  permissions: string[];
}

/**
 * One HTTP request, its parameters resolved by the host (route, then mapped headers, query
 * parameters and body; later ones win).
 *
 * @example
 * const orderId = request.param('orderId', 'uuid');          // 400 naming it if not a UUID
 * const limit = request.param('limit', 'integer', { default: 20 });
 */
export class Request {
  readonly ingressId: string;
  readonly method: string;
  readonly path: string;
  readonly params: { [name: string]: Json };
  readonly mode: 'sse' | 'json';
  /** `Last-Event-ID` (or the `lastEventId` query parameter) of a reconnecting client. */
  readonly lastEventId?: string;
  readonly body?: Uint8Array;
  readonly caller?: Caller;
  /** The parameter `name` as `kind` (default `text`); throws a 400 `SluiceError` naming it. */
  param(name: string, kind?: ParamKind, options?: { default?: unknown }): any;
}

/** A live subscription, a source of `Event`s for a `Stream`. */
export class Events {
  /**
   * Send `select(event)` for every event (the platform's `select`); `undefined` or `null`
   * skips it, a thrown `SluiceError` is sent as an `error` event and the stream goes on.
   *
   * @example
   * events(`actors/order/${orderId}`, 'checkpoint').map((e) => Record.event('updated').data(e));
   */
  map(select: (event: Event) => unknown): Events;
  /** True when `after` was given and the bus no longer held every event after it. */
  gap(): boolean;
  merge(...others: Array<Stream | Events | unknown>): Stream;
}

/**
 * Subscribe to `topics` × `eventTypes` (none: every type): the platform's
 * `events(topic, type)`. With `after` (a bus event id, e.g. `Last-Event-ID`), the events the
 * bus still holds after it come first. Throws a `SluiceError` (`FORBIDDEN` when the `acl`
 * does not grant a topic).
 */
export function events(topics: string | string[], eventTypes?: string | string[], options?: { after?: number }): Events;

/**
 * The values one response yields: the platform's `from`. A stream with a subscription runs
 * until the client disconnects.
 *
 * @example
 * // The document's "Multiple Streams":
 * Stream.once(Record.event('init').data({ orderId, paymentId })).merge(
 *   events(`actors/order/${orderId}`, 'checkpoint').map((e) => Record.event('orderUpdated').data(e)),
 *   events(`actors/payment/${paymentId}`, 'checkpoint').map((e) => Record.event('paymentUpdated').data(e)),
 * );
 */
export class Stream {
  /** One value: `from 'Hello world'`. */
  static once(value: unknown): Stream;
  /** The values of an iterable, computed as the host pulls them. */
  static iter(values: Iterable<unknown>): Stream;
  /** A `Stream` as itself, an `Events` source as its events, anything else as `once`. */
  static of(value: unknown): Stream;
  /** Ready values first, in the order given, then events in arrival order. */
  merge(...others: Array<Stream | Events | unknown>): Stream;
  /**
   * The next batch as the JSON texts the host receives (1 to `max`; empty at the end). With
   * `block` false it never waits: empty also when no event has arrived yet.
   */
  take(max: number, block?: boolean): string[];
  /** `record-stream.poll-batch`: the next batch without waiting, and what the host does next. */
  poll(max: number): [string[], 'more' | 'wait' | 'end'];
}

/**
 * What the host receives for a yielded value, as JSON text: `JSON.stringify`, except that
 * an `Event` anywhere in it keeps its id and data as the host sent them.
 */
export function encode(value: unknown): string;

/**
 * A read of one edge of the store. Values for `?` are bound by the host, so they can never
 * change the query's shape.
 *
 * @example
 * const sku = query('skus').fields('skuId', 'skuNumber').filter('skuNumber == ?', skuNumber).first();
 */
export class Query {
  fields(...names: string[]): Query;
  filter(expression: string, ...args: Json[]): Query;
  orderBy(order: string): Query;
  /** At most `limit` records (the host caps it at 100). */
  limit(limit: number): Query;
  all(): Array<{ [field: string]: Json }>;
  first(): { [field: string]: Json } | undefined;
}

/** Start a query of `edge` (the `acl` must grant `<edge>:read`). */
export function query(edge: string): Query;

/** One message to an actor; `alias` keys its result in the response `data`. */
export interface Message {
  type: string;
  body?: Json;
  alias?: string;
}

/**
 * Deliver `messages` to actor `actorType`/`actorId` in order and in one transaction: the
 * platform's `messageActor(type, id, [...])`. Returns `{actorId, paths, data, errors}`.
 *
 * @example
 * const stock = messageActor('sku', skuId, ['calculateAvailableStock']);
 * messageActor('sku', skuId, [{ type: 'reserve', body: { quantity: 2 } }], { preview: true });
 */
export function messageActor(
  actorType: string,
  actorId: string,
  messages: Array<Message | string>,
  options?: { preview?: boolean },
): { actorId: string; paths: string[]; data: { [key: string]: Json }; errors: Json[] };

/** Write to the host log, tagged with the ingress and request (`console.log` does too). */
export function log(message: string, level?: 'trace' | 'debug' | 'info' | 'warn' | 'error'): void;
/** Milliseconds since the Unix epoch, from the host clock. */
export function now(): number;
/** A new random (v4) UUID, hyphenated. */
export function newId(): string;

/**
 * The `handler` export of an ingress component. `handle(request)` returns a `Stream`, an
 * `events(...)` source or one value. A thrown `SluiceError` is an HTTP error; anything else
 * traps the instance (a 500 before the stream, `COMPONENT_FAILED` after), its stack in the
 * host log.
 *
 * @example
 * import { Stream, ingress } from 'sluice';
 * export const handler = ingress(() => Stream.once('Hello world'));
 */
export function ingress(handle: (request: Request) => unknown): unknown;

/** Which actor a batch of messages is for. */
export interface ActorContext {
  actorType: string;
  actorId: string;
  /** `<type>/<id>` */
  name: string;
  isNew: boolean;
  preview: boolean;
  /** Every message is a query: the batch must not change the state. */
  readOnly: boolean;
  /** JSON stored and published with the checkpoint when the state changes. */
  checkpointMetadata?: Json;
}

/** One message an actor handles. */
export class ActorMessage {
  readonly type: string;
  readonly body?: Json;
  readonly alias?: string;
  /** `UNKNOWN_MESSAGE`: "unknown message type '…'". */
  unknown(): SluiceError;
}

/**
 * The `actorHandler` export of an actor component. `handle` changes `state` in place and
 * returns the message's result, or throws a `SluiceError` to reject it; a call's messages
 * apply all together or not at all, and the state is stored only when it changed.
 *
 * @example
 * export const actorHandler = actor({
 *   initial: () => ({ count: 0 }),
 *   handle(state, ctx, message) {
 *     if (message.type === 'increment') state.count += 1;
 *     else if (message.type !== 'get') throw message.unknown();
 *     return state.count;
 *   },
 * });
 */
export function actor<S>(definition: {
  initial: () => S;
  handle: (state: S, ctx: ActorContext, message: ActorMessage) => unknown;
}): unknown;

/** The batch logic of `actor`, exported for tests: results, and the new state if it changed. */
export function runActor<S>(
  handle: (state: S, ctx: ActorContext, message: ActorMessage) => unknown,
  initial: () => S,
  ctx: ActorContext,
  stateText: string | undefined,
  messages: ActorMessage[],
): { results: unknown[]; changed: boolean; state?: S; checkpointMetadata?: Json };
