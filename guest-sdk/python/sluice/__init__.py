"""Write Sluice ingress and actor components in plain, synchronous Python.

An ingress component turns one HTTP request into a `Stream` of values. The host sends each
value as one Server-Sent Event (when the client asked for `text/event-stream`) or the
first one as the JSON response. Components reach the outside world only through the host:
the event bus (`events`), the store (`query`) and actors (`message_actor`), each granted
per ingress in its `acl`.

The SDK mirrors the platform's own language: `from` becomes `Stream.once` or an `events`
source, `select` becomes `Events.map`, and several `from`s become `Stream.merge`. The
contract underneath is `wit/ingress.wit` (world `ingress`) and `wit/actor.wit` (world
`actor`); `sluice build` makes the component with componentize-py.

The document's "Complete Example"::

    from sluice import Error, Record, Request, Stream, events, ingress, message_actor, query

    @ingress
    def handle(request: Request) -> Stream:
        sku_number = request.param("skuNumber")
        sku = query("skus").fields("skuId", "skuNumber").filter("skuNumber == ?", sku_number).first()
        if sku is None:
            raise Error.not_found("SKU not found")
        stock = lambda: message_actor("sku", sku["skuId"], ["calculateAvailableStock"])
        return Stream.once(Record.event("init").data(stock())).merge(
            events(f"actors/sku/{sku['skuId']}", "checkpoint").map(
                lambda _: Record.event("stockUpdated").data(stock())))

Errors: raising `Error` (or a capability's `QueryError`, `EventsError`, `ActorError`) from
the handler gives the client an HTTP error `{"error":{"code":…,"message":…}}`. Once the
stream has started, an `Error` raised in a `map` function is sent as an `error` event and
the stream goes on. Any other exception traps the instance: a 500 before the stream
starts, an `error` event with code `COMPONENT_FAILED` after; the traceback is in the host
log either way.
"""

from ._capabilities import (
    ActorError,
    Event,
    Events,
    EventsError,
    Message,
    Query,
    QueryError,
    events,
    log,
    message_actor,
    new_id,
    now,
    query,
)
from ._errors import Error
from ._export import ActorContext, ActorMessage, actor, ingress
from ._record import Record
from ._request import Caller, Mode, Request
from ._stream import Stream

WIT_PACKAGE = "sluice:ingress@0.1.0"
"""The WIT package this SDK was built against (`wit/` of the Sluice repository)."""

__all__ = [
    "ActorContext",
    "ActorError",
    "ActorMessage",
    "Caller",
    "Error",
    "Event",
    "Events",
    "EventsError",
    "Message",
    "Mode",
    "Query",
    "QueryError",
    "Record",
    "Request",
    "Stream",
    "WIT_PACKAGE",
    "actor",
    "events",
    "ingress",
    "log",
    "message_actor",
    "new_id",
    "now",
    "query",
]
