"""`Record`: one SSE event (or JSON response) built field by field."""

from __future__ import annotations

from typing import Any

from ._errors import Error


class Record:
    """A record whose fields become one SSE event: `event`, `id`, `retry` and `data` are
    the SSE fields; any other field is kept in the JSON. Fields keep the order they were
    set in. In JSON mode the first record is the response body.

    The document's "Example with All Fields":

    >>> Record.event("heartbeat").id("hb-42").retry(5000).data({"timestamp": "2026-01-11T19:30:00Z"}).to_json()
    {'event': 'heartbeat', 'id': 'hb-42', 'retry': 5000, 'data': {'timestamp': '2026-01-11T19:30:00Z'}}
    """

    __slots__ = ("_fields",)

    def __init__(self, **fields: Any) -> None:
        """A record with `fields`, in keyword order.

        >>> Record(orderId="ORD-123", status="shipped").to_json()
        {'orderId': 'ORD-123', 'status': 'shipped'}
        """
        self._fields: dict = dict(fields)

    @classmethod
    def event(cls, name: str) -> "Record":
        """A record with SSE event name `name`.

        >>> Record.event("orderUpdated").data({"status": "shipped"}).to_json()
        {'event': 'orderUpdated', 'data': {'status': 'shipped'}}
        """
        return cls().field("event", name)

    @classmethod
    def error(cls, error: Error) -> "Record":
        """The error record `{"error":{…}}`; yielded mid-stream it is sent as an SSE
        `error` event and the stream goes on.

        >>> Record.error(Error("STREAM_ERROR", "feed broke")).to_json()
        {'error': {'code': 'STREAM_ERROR', 'message': 'feed broke'}}
        """
        return cls().field("error", error.to_json()["error"])

    def id(self, id: Any) -> "Record":
        """The SSE `id`, as text.

        >>> Record.event("updated").id(42).to_json()
        {'event': 'updated', 'id': '42'}
        """
        return self.field("id", str(id))

    def retry(self, milliseconds: int) -> "Record":
        """The SSE `retry`: how long a browser waits before reconnecting."""
        return self.field("retry", milliseconds)

    def data(self, data: Any) -> "Record":
        """The SSE `data`: any JSON value.

        >>> Record.event("init").data([1, 2, 3]).to_json()
        {'event': 'init', 'data': [1, 2, 3]}
        """
        return self.field("data", data)

    def field(self, name: str, value: Any) -> "Record":
        """Set any field; setting one again replaces its value in place."""
        self._fields[name] = value
        return self

    def get(self, name: str) -> Any:
        """A field's value, or `None`."""
        return self._fields.get(name)

    def to_json(self) -> dict:
        """The record as the JSON object the host receives."""
        return dict(self._fields)
