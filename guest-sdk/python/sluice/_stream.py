"""`Stream`: the values one response yields, from ready values and event subscriptions,
merged in arrival order, pulled by the host one batch at a time."""

from __future__ import annotations

import uuid
from typing import Any, Callable, Iterable, Iterator, List, Optional, Tuple, Union

from ._capabilities import Event, Events, EventsError, wait, wake_on
from ._errors import Error, to_json_text
from ._record import Record


class Stream:
    """The values one response yields: the platform's `from`. Build it from ready values
    (`Stream.once`, `Stream.iter`) and event sources (`events(...).map(...)`), and combine
    several with `merge`: whatever is ready first, then events in the order they arrive
    from any source. Any JSON-able value, `Record`, `Event` or `Error` can be yielded.

    A stream with a subscription runs until the client disconnects, except that when the
    host closes a subscription (the client fell too far behind) the stream yields a
    `STREAM_CLOSED` error and ends.

    >>> Stream.once("Hello world").take(5)
    ['"Hello world"']
    >>> Stream.iter([1, 2]).merge(Stream.once(Record.event("init"))).take(5)
    ['1', '2', '{"event":"init"}']

    An exception other than `Error` fails the stream, after the values before it:

    >>> failing = Stream.iter(n // (2 - n) for n in range(3))
    >>> failing.take(5)
    ['0', '1']
    >>> failing.take(5)
    Traceback (most recent call last):
    ...
    ZeroDivisionError: integer division or modulo by zero

    The document's "Multiple Streams"::

        Stream.once(Record.event("init").data({"orderId": order_id})).merge(
            events(f"actors/order/{order_id}", "checkpoint").map(
                lambda e: Record.event("orderUpdated").data(e)),
            events(f"actors/payment/{payment_id}", "checkpoint").map(
                lambda e: Record.event("paymentUpdated").data(e)))
    """

    def __init__(self) -> None:
        self._ready: List[Iterator[Any]] = []
        self._sources: List[Events] = []
        # An exception raised while a batch already held values: raised in the next pull,
        # so the values computed before it still reach the client.
        self._failure: Optional[BaseException] = None

    @classmethod
    def once(cls, value: Any) -> "Stream":
        """A stream of one value: `from 'Hello world'`."""
        return cls.iter([value])

    @classmethod
    def iter(cls, values: Iterable[Any]) -> "Stream":
        """The values of an iterable, computed as the host pulls them."""
        stream = cls()
        stream._ready.append(iter(values))
        return stream

    @classmethod
    def of(cls, value: Any) -> "Stream":
        """`value` as a stream: a `Stream` as itself, an `Events` source as its events,
        anything else as `Stream.once(value)`."""
        if isinstance(value, Stream):
            return value
        stream = cls()
        if isinstance(value, Events):
            stream._sources.append(value)
        else:
            stream._ready.append(iter([value]))
        return stream

    def merge(self, *others: Any) -> "Stream":
        """This stream and `others` (streams or `events(...)` sources) as one: ready values
        first, in the order given, then events in arrival order."""
        merged = Stream()
        for part in (self, *others):
            part = Stream.of(part)
            merged._ready += part._ready
            merged._sources += part._sources
        return merged

    def take(self, max: int, block: bool = True) -> List[str]:
        """The next batch as the JSON texts the host receives: between 1 and `max`,
        waiting only for the first; empty when the stream has ended. With `block` false it
        never waits: empty also when no event has arrived yet."""
        if self._failure is not None:
            failure, self._failure = self._failure, None
            raise failure
        values: List[str] = []
        while self._ready and len(values) < max:
            try:
                value = next(self._ready[0])
            except StopIteration:
                self._ready.pop(0)
                continue
            except Error as err:
                value = err
            except Exception as failure:
                if not values:
                    raise
                self._failure = failure
                return values
            values.append(encode(value))
        while not values and self._sources:
            try:
                arrived = wait(self._sources, max, None if block else 0)
            except EventsError as err:
                self._sources = []
                return [encode(err)]
            for index, event in arrived:
                try:
                    value = _selected(self._sources[index], event)
                except Exception as failure:
                    if not values:
                        raise
                    self._failure = failure
                    return values
                if value is not None:
                    values.append(encode(value))
            if not block:
                break
        return values

    def poll(self, max: int) -> Tuple[List[str], str]:
        """`record-stream.poll-batch`: the next batch without waiting, and what the host
        does next: `more`, `end`, or `wait`: nothing to send, so the stream names its
        sources to the host, which pulls again once one has an event. Its instance holds no
        stack meanwhile.

        >>> last = Stream.once("last")
        >>> last.poll(5)
        (['"last"'], 'more')
        >>> last.poll(5)
        ([], 'end')
        """
        batch = self.take(max, block=False)
        if batch or self._ready:
            return batch, "more"
        if not self._sources:
            return batch, "end"
        wake_on(self._sources)
        return batch, "wait"


def _selected(source: Events, event: Event) -> Any:
    if source._select is None:
        return event
    try:
        return source._select(event)
    except Error as err:
        return err


def encode(value: Any) -> str:
    """What the host receives for a yielded value, as JSON text.

    >>> encode(Record.event("init").data({"n": 1})), encode(Error("X", "y")), encode("é")
    ('{"event":"init","data":{"n":1}}', '{"error":{"code":"X","message":"y"}}', '"é"')
    """
    return to_json_text(_plain(value))


def _plain(value: Any) -> Any:
    if isinstance(value, (Record, Event, Error)):
        return _plain(value.to_json())
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


Handler = Callable[..., Union[Stream, Events, Any]]
