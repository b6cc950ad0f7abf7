"""The host's capabilities: the event bus (`events`), the store (`query`), actors
(`message_actor`) and the host services (`log`, `now`, `new_id`).

Each is granted per ingress in its `acl`; a call the `acl` does not grant raises an error
with code `FORBIDDEN`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterable, List, Optional, Sequence, Union

from . import _bindings
from ._errors import Error, to_json_text


@dataclass(frozen=True)
class Event:
    """One event from the bus. It is sent (for example as a record's `data`) as
    `{"topic","eventType","id","timestamp","data"}`, the timestamp in RFC 3339 UTC.

    >>> Event("actors/order/ORD-123", "checkpoint", 42, 1768159800000, {"status": "shipped"}).to_json()
    {'topic': 'actors/order/ORD-123', 'eventType': 'checkpoint', 'id': 42, 'timestamp': '2026-01-11T19:30:00.000Z', 'data': {'status': 'shipped'}}
    """

    topic: str
    event_type: str
    id: int
    """Bus-wide, strictly increasing; its decimal form is a good SSE `id`."""
    timestamp: int
    """Milliseconds since the Unix epoch, when the bus accepted the event."""
    data: Any

    def to_json(self) -> dict:
        return {
            "topic": self.topic,
            "eventType": self.event_type,
            "id": self.id,
            "timestamp": rfc3339(self.timestamp),
            "data": self.data,
        }


def rfc3339(millis: int) -> str:
    """Milliseconds since the epoch as RFC 3339 UTC with milliseconds.

    >>> rfc3339(0)
    '1970-01-01T00:00:00.000Z'
    """
    moment = datetime.fromtimestamp(millis / 1000, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{millis % 1000:03d}Z"


class EventsError(Error):
    """A subscription could not be made or read. `kind` is `forbidden`, `invalid`,
    `closed` or `unavailable`; the code is `FORBIDDEN`, `EVENTS_ERROR`, `STREAM_CLOSED`
    or `UNAVAILABLE`."""

    _CODES = {"forbidden": "FORBIDDEN", "closed": "STREAM_CLOSED", "unavailable": "UNAVAILABLE"}

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(self._CODES.get(kind, "EVENTS_ERROR"), message)
        self.kind = kind


class QueryError(Error):
    """A query failed. `kind` is `forbidden`, `unknown-edge`, `syntax`, `invalid`,
    `store` or `unavailable`; the code is `FORBIDDEN`, `UNAVAILABLE` or `QUERY_ERROR`,
    and a syntax error's details hold the byte `position` in the filter."""

    _CODES = {"forbidden": "FORBIDDEN", "unavailable": "UNAVAILABLE"}

    def __init__(self, kind: str, message: str, position: Optional[int] = None) -> None:
        details = None if position is None else {"position": position}
        super().__init__(self._CODES.get(kind, "QUERY_ERROR"), message, details=details)
        self.kind = kind


class ActorError(Error):
    """A `message_actor` call failed and changed nothing. `kind` is `forbidden`,
    `unknown-type`, `not-found`, `failed` or `unavailable`; the code is `FORBIDDEN`,
    `NOT_FOUND`, `UNAVAILABLE` or `ACTOR_ERROR`."""

    _CODES = {"forbidden": "FORBIDDEN", "not-found": "NOT_FOUND", "unavailable": "UNAVAILABLE"}

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(self._CODES.get(kind, "ACTOR_ERROR"), message)
        self.kind = kind


def _kind(variant: Any) -> str:
    """`QueryError_UnknownEdge` → `unknown-edge`: the WIT case name of a variant value."""
    name = type(variant).__name__.split("_", 1)[1]
    return "".join("-" + c.lower() if c.isupper() else c for c in name).lstrip("-")


def _events_error(err: Any) -> EventsError:
    return EventsError(_kind(err.value), err.value.value)


class Events:
    """A live subscription, made by `events(...)`: a source of `Event`s for a `Stream`.
    `map` turns each event into what is sent (the platform's `select`)."""

    def __init__(self, subscription: Any, select: Any = None) -> None:
        self._subscription = subscription
        self._select = select

    def map(self, select: Any) -> "Events":
        """Send `select(event)` for every event; `None` skips it. A raised `Error` is sent
        as an `error` event and the stream goes on. Example::

            events(f"actors/order/{order_id}", "checkpoint").map(
                lambda e: Record.event("updated").data(e))
        """
        return Events(self._subscription, select)

    def gap(self) -> bool:
        """True when `after` was given and the bus no longer held every event after it:
        the component should send fresh state first."""
        return self._subscription.gap()

    def merge(self, *others: Any) -> Any:
        """This source and `others`, in arrival order (see `Stream.merge`)."""
        from ._stream import Stream

        return Stream.of(self).merge(*others)


def events(
    topics: Union[str, Sequence[str]],
    event_types: Union[str, Sequence[str]] = (),
    *,
    after: Optional[int] = None,
) -> Events:
    """Subscribe to `topics` × `event_types` (none: every type): the platform's
    `events(topic, type)`. With `after` (a bus event id, e.g. a reconnecting client's
    `Last-Event-ID`), the events the bus still holds after it come first.

    Raises `EventsError` (`FORBIDDEN` when the `acl` does not grant a topic). Example::

        orders = events(f"actors/order/{order_id}", "checkpoint")
        payments = events(f"actors/payment/{payment_id}", "checkpoint", after=5)
    """
    wit, Err = _bindings.events, _bindings.err_type()
    try:
        subscription = wit.subscribe(_strings(topics), _strings(event_types), after)
    except Err as err:
        raise _events_error(err) from None
    return Events(subscription)


def wait(sources: List[Events], max: int, timeout_ms: Optional[int] = None) -> List[tuple]:
    """Wait for the next events of `sources`: `(index, Event)` in arrival order. With
    `timeout_ms`, empty if none arrived in time (0: take what has arrived, never wait)."""
    wit, Err = _bindings.events, _bindings.err_type()
    try:
        arrived = wit.wait([source._subscription for source in sources], max, timeout_ms)
    except Err as err:
        raise _events_error(err) from None
    return [
        (index, Event(e.topic, e.event_type, e.id, e.timestamp, json.loads(e.data)))
        for index, e in arrived
    ]


def wake_on(sources: List[Events]) -> None:
    """Have the host pull again once one of `sources` has an event (`after-batch.wait`)."""
    _bindings.events.wake_on([source._subscription for source in sources])  # type: ignore[union-attr]


def _strings(value: Union[str, Sequence[str]]) -> List[str]:
    return [value] if isinstance(value, str) else list(value)


class Query:
    """A read of one edge (collection) of the store, built step by step and run with
    `all()` or `first()`. Values for `?` in the filter are bound by the host, so they can
    never change the query's shape.

    >>> q = query("skus").fields("skuId", "skuNumber").filter("skuNumber == ?", "PROD-001")
    >>> q.order_by("skuNumber").limit(10)._arguments
    ['PROD-001']
    """

    def __init__(self, edge: str) -> None:
        self._edge = edge
        self._fields: List[str] = []
        self._filter: Optional[str] = None
        self._arguments: List[Any] = []
        self._order_by: Optional[str] = None
        self._limit: Optional[int] = None

    def fields(self, *names: str) -> "Query":
        """Return only these fields (default: all)."""
        self._fields = list(names)
        return self

    def filter(self, expression: str, *arguments: Any) -> "Query":
        """Keep records matching `expression`, e.g. `skuNumber == ? and stock > 0`, its
        `?` placeholders taking `arguments` in order."""
        self._filter, self._arguments = expression, list(arguments)
        return self

    def order_by(self, order: str) -> "Query":
        """Sort, e.g. `createdAt desc, skuNumber`."""
        self._order_by = order
        return self

    def limit(self, limit: int) -> "Query":
        """At most `limit` records (the host caps it at 100)."""
        self._limit = limit
        return self

    def all(self) -> List[dict]:
        """Every matching record. Raises `QueryError`."""
        return self._run(self._limit)

    def first(self) -> Optional[dict]:
        """The first matching record, or `None`. Raises `QueryError`."""
        rows = self._run(1)
        return rows[0] if rows else None

    def _run(self, limit: Optional[int]) -> List[dict]:
        wit, Err = _bindings.query, _bindings.err_type()
        request = wit.QueryRequest(
            self._edge,
            self._fields,
            self._filter,
            [to_json_text(argument) for argument in self._arguments],
            self._order_by,
            limit,
        )
        try:
            return [json.loads(row) for row in wit.run(request)]
        except Err as err:
            cause = err.value
            if _kind(cause) == "syntax":
                raise QueryError("syntax", cause.value.message, cause.value.position) from None
            raise QueryError(_kind(cause), cause.value) from None


def query(edge: str) -> Query:
    """Start a query of `edge` (the `acl` must grant `<edge>:read`): the platform's
    `query skus(skuId, skuNumber) filter …`.

    >>> query("skus").fields("skuId").filter("skuNumber == ?", "PROD-001")._filter
    'skuNumber == ?'
    """
    return Query(edge)


@dataclass(frozen=True)
class Message:
    """One message to an actor: its `type`, an optional JSON `body`, and the `alias` its
    result is keyed by in the response `data` (default: `type`)."""

    type: str
    body: Any = None
    alias: Optional[str] = None


def message_actor(
    actor_type: str,
    actor_id: str,
    messages: Iterable[Union[Message, str]],
    *,
    preview: bool = False,
) -> Any:
    """Deliver `messages` (a `Message`, or just a type) to actor `actor_type`/`actor_id`,
    in order and in one transaction: the platform's `messageActor(type, id, [...])`.
    Returns `{"actorId","paths","data":{<alias or type>: result},"errors"}`. With
    `preview`, nothing is stored or published.

    Raises `ActorError`. Example::

        stock = message_actor("sku", sku_id, ["calculateAvailableStock"])
        message_actor("sku", sku_id, [Message("reserve", {"quantity": 2})], preview=True)
    """
    wit, Err = _bindings.actors, _bindings.err_type()
    wit_messages = []
    for message in messages:
        if isinstance(message, str):
            message = Message(message)
        body = None if message.body is None else to_json_text(message.body)
        wit_messages.append(wit.Message(message.type, message.alias, body))
    try:
        return json.loads(wit.message_actor(actor_type, actor_id, wit_messages, preview))
    except Err as err:
        raise ActorError(_kind(err.value), err.value.value) from None


_LEVELS = ("trace", "debug", "info", "warn", "error")


def log(message: str, *, level: str = "info") -> None:
    """Write to the host log, tagged with the ingress and request. `level` is one of
    `trace`, `debug`, `info`, `warn`, `error`. (Anything printed also reaches the log.)
    Example::

        log(f"looking up {sku_number}", level="debug")
    """
    host = _bindings.host
    if level not in _LEVELS:
        raise ValueError(f"level must be one of {', '.join(_LEVELS)}, not {level!r}")
    host.log(getattr(host.Level, level.upper()), message)


def now() -> int:
    """Milliseconds since the Unix epoch, from the host clock."""
    return _bindings.host.now()


def new_id() -> str:
    """A new random (v4) UUID, hyphenated."""
    return _bindings.host.new_id()
