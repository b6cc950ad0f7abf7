"""The exports: `@ingress` wires a handler function to `handler.handle`, `@actor` an actor
function to `actor-handler.handle`. Each defines the class componentize-py looks for
(`Handler`, `ActorHandler`) in the handler's own module, so components never touch the
bindings."""

from __future__ import annotations

import copy
import json
import sys
from dataclasses import dataclass, field
from typing import Any, Callable, List, Optional, Tuple

from . import _bindings
from ._errors import Error, to_json_text
from ._request import Request
from ._stream import Stream, encode


class _RecordStream:
    """The exported `record-stream` resource over one `Stream`."""

    def __init__(self, stream: Stream) -> None:
        self._stream = stream

    def poll_batch(self, max: int) -> Tuple[List[str], Any]:
        batch, after = self._stream.poll(max)
        return batch, getattr(_bindings.handler.AfterBatch, after.upper())  # type: ignore[union-attr]


def ingress(handler: Callable[[Request], Any]) -> Callable[[Request], Any]:
    """Export `handler(request)` as this component's handler; it returns a `Stream`, an
    `events(...)` source, or one value to send. Raising `Error` answers with an HTTP
    error; any other exception traps the instance: the client gets a 500 before the
    stream starts (`COMPONENT_FAILED` after), and the traceback goes to the host log.

    Example::

        from sluice import Request, Stream, ingress

        @ingress
        def hello(request: Request) -> Stream:
            return Stream.once("Hello world")
    """

    class Handler:
        def handle(self, request: Any) -> _RecordStream:
            try:
                result = handler(Request._from_wit(request))
            except Error as err:
                raise _bindings.err_type()(err._to_wit()) from None
            return _RecordStream(Stream.of(result))

    sys.modules[handler.__module__].Handler = Handler  # type: ignore[attr-defined]
    return handler


@dataclass
class ActorContext:
    """Which actor a batch of messages is for."""

    actor_type: str
    actor_id: str
    is_new: bool = False
    """True while the actor has no stored state (it is being created)."""
    preview: bool = False
    """True when the caller asked for a preview: nothing will be stored or published."""
    read_only: bool = False
    """True when every message is a query (`spec.queries`): the batch must not change
    the state."""
    checkpoint_metadata: Any = None
    """JSON stored and published with the checkpoint, when the state changes."""

    @property
    def name(self) -> str:
        """`<type>/<id>`."""
        return f"{self.actor_type}/{self.actor_id}"


@dataclass(frozen=True)
class ActorMessage:
    """One message to an actor: its `type`, `alias` and JSON `body`."""

    type: str
    body: Any = None
    alias: Optional[str] = None

    def unknown(self) -> Error:
        """The error for a message type the actor does not know.

        >>> ActorMessage("explode").unknown().message
        "unknown message type 'explode'"
        """
        return Error("UNKNOWN_MESSAGE", f"unknown message type '{self.type}'")


@dataclass
class Batch:
    """What one `messageActor` call produced: each message's result or `Error`, and the
    new state when it changed."""

    results: List[Any] = field(default_factory=list)
    state: Any = None
    changed: bool = False
    checkpoint_metadata: Any = None


def run_actor(
    handle: Callable[[Any, ActorContext, ActorMessage], Any],
    initial: Callable[[], Any],
    ctx: ActorContext,
    state: Optional[str],
    messages: List[ActorMessage],
) -> Batch:
    """Run `messages` in order against the loaded state (or `initial()` for a new actor):
    all or nothing. After the first `Error` the rest are `SKIPPED` and nothing is stored.

    >>> def counter(state, ctx, message):
    ...     if message.type == "add":
    ...         state["count"] += message.body
    ...     return state["count"]
    >>> batch = run_actor(counter, lambda: {"count": 0}, ActorContext("c", "1"), '{"count":1}',
    ...                   [ActorMessage("add", 2), ActorMessage("get")])
    >>> batch.results, batch.state, batch.changed
    ([3, 3], {'count': 3}, True)
    >>> run_actor(counter, lambda: {"count": 0}, ActorContext("c", "1"), '{"count":1}',
    ...           [ActorMessage("get")]).changed
    False
    """
    loaded = initial() if state is None else json.loads(state)
    before = None if state is None and not ctx.read_only else copy.deepcopy(loaded)
    batch = Batch()
    for index, message in enumerate(messages):
        try:
            batch.results.append(handle(loaded, ctx, message))
            ctx.is_new = False
        except Error as err:
            batch.results.append(err)
            skipped = Error("SKIPPED", f"not run: message {index} ('{message.type}') was rejected")
            batch.results += [skipped] * (len(messages) - index - 1)
            return batch
    if messages and (before is None or before != loaded):
        batch.state, batch.changed = loaded, True
        batch.checkpoint_metadata = ctx.checkpoint_metadata
    return batch


def actor(initial: Callable[[], Any]) -> Callable[[Callable], Callable]:
    """Export `handle(state, ctx, message)` as this component's actor: the component is
    then an `actor` world component. `state` is the actor's JSON state (a new actor starts
    from `initial()`); `handle` changes it in place and returns the message's result, or
    raises `Error` to reject the message. Messages of one call apply all together or not
    at all, and the state is stored only when it changed.

    Example::

        from sluice import Error, actor

        @actor(initial=lambda: {"count": 0})
        def counter(state, ctx, message):
            if message.type == "increment":
                state["count"] += 1
            elif message.type != "get":
                raise message.unknown()
            return state["count"]
    """

    def export(handle: Callable) -> Callable:
        class ActorHandler:
            def handle(self, context: Any, state: Optional[str], messages: List[Any]) -> Any:
                wit = _bindings.actor_handler
                ctx = ActorContext(
                    context.actor_type,
                    context.actor_id,
                    context.is_new,
                    context.preview,
                    context.read_only,
                )
                batch = run_actor(
                    handle,
                    initial,
                    ctx,
                    state,
                    [
                        ActorMessage(m.type, None if m.body is None else json.loads(m.body), m.alias)
                        for m in messages
                    ],
                )
                results = [
                    wit.MessageResult_Err(r._to_wit())
                    if isinstance(r, Error)
                    else wit.MessageResult_Ok(encode(r))
                    for r in batch.results
                ]
                metadata = batch.checkpoint_metadata
                return wit.Outcome(
                    to_json_text(batch.state) if batch.changed else None,
                    results,
                    None if metadata is None else to_json_text(metadata),
                )

        sys.modules[handle.__module__].ActorHandler = ActorHandler  # type: ignore[attr-defined]
        return handle

    return export
