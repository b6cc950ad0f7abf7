"""`Request`: one HTTP request with its parameters resolved, and typed parameter access."""

from __future__ import annotations

import json
import math
import uuid
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Callable, Dict, List, Optional, Tuple, Type, TypeVar, Union

from ._errors import Error

T = TypeVar("T")


class Mode(Enum):
    """How the client asked to receive the response."""

    SSE = "sse"
    """`Accept` admits `text/event-stream`: every yielded value becomes one SSE event."""
    JSON = "json"
    """Anything else: the first yielded value is the JSON response."""


@dataclass(frozen=True)
class Caller:
    """The holder of a valid bearer token: its subject and the permissions its `scope`
    grants, written `<resource path>:<action>` (`*` is any action or path segment).

    >>> caller = Caller("ada", ["orders/*:read", "actors/sku:*"])
    >>> caller.allows("orders/ORD-123", "read"), caller.allows("orders/ORD-123/lines", "read")
    (True, False)
    >>> caller.allows("actors/sku", "reserve"), caller.allows("orders/ORD-123", "write")
    (True, False)
    """

    subject: Optional[str]
    permissions: List[str] = field(default_factory=list)

    def allows(self, resource: str, action: str) -> bool:
        """Does some permission allow `action` on `resource` (a `/`-separated path)?
        Entries that are not `<path>:<action>` allow nothing."""
        for permission in self.permissions:
            path, colon, granted = permission.rpartition(":")
            if colon and granted in ("*", action) and _path_matches(path, resource):
                return True
        return False


def _path_matches(pattern: str, resource: str) -> bool:
    wanted, given = pattern.split("/"), resource.split("/")
    return len(wanted) == len(given) and all(w in ("*", g) for w, g in zip(wanted, given))


def _text(value: Any) -> Optional[str]:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return value if isinstance(value, str) else json.dumps(value)
    return None


def _integer(value: Any) -> Optional[int]:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value, 10)
        except ValueError:
            return None
    return None


def _number(value: Any) -> Optional[float]:
    if isinstance(value, bool):
        return None
    try:
        number = float(value) if isinstance(value, (int, float, str)) else None
    except ValueError:
        return None
    return number if number is not None and math.isfinite(number) else None


def _boolean(value: Any) -> Optional[bool]:
    if isinstance(value, bool):
        return value
    return {"true": True, "false": False}.get(value) if isinstance(value, str) else None


def _uuid(value: Any) -> Optional[uuid.UUID]:
    if not isinstance(value, str) or len(value) not in (32, 36):
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


# What each parameter type accepts, and how the 400 describes it.
_CONVERSIONS: Dict[Any, Tuple[str, Callable[[Any], Any]]] = {
    str: ("text", _text),
    int: ("an integer", _integer),
    float: ("a number", _number),
    bool: ("true or false", _boolean),
    uuid.UUID: ("a UUID", _uuid),
    object: ("JSON", lambda value: value),
}


class Request:
    """One incoming HTTP request, with its parameters already resolved by the host.

    Parameters come, later ones winning, from the route (`{skuNumber}`), mapped headers,
    mapped query parameters and the body. Route, header and query values are strings;
    fields of a structured body keep their JSON type. Read them typed with `param`.

    >>> req = Request(path="/ingress/api/orders/ORD-1", params={"orderId": "ORD-1", "limit": "5"})
    >>> req.param("orderId"), req.param("limit", int), req.param("history", bool, default=False)
    ('ORD-1', 5, False)
    """

    def __init__(
        self,
        *,
        ingress_id: str = "",
        method: str = "GET",
        path: str = "/",
        params: Optional[Dict[str, Any]] = None,
        mode: Mode = Mode.SSE,
        last_event_id: Optional[str] = None,
        body: Optional[bytes] = None,
        caller: Optional[Caller] = None,
    ) -> None:
        self.ingress_id = ingress_id
        """The ingress id, e.g. `api/skus/stock-events`."""
        self.method = method
        """Upper-case HTTP method."""
        self.path = path
        """The request path."""
        self.params: Dict[str, Any] = dict(params or {})
        """Every parameter, by name, as JSON values."""
        self.mode = mode
        """SSE or JSON mode."""
        self.last_event_id = last_event_id
        """`Last-Event-ID` (or the `lastEventId` query parameter) of a reconnecting client."""
        self.body = body
        """The raw body, when the ingress maps it with `body: { mode: raw }`."""
        self.caller = caller
        """The caller, when the request carried a valid bearer token."""

    _MISSING: Any = object()

    def param(self, name: str, kind: Union[Type[T], Any] = str, *, default: Any = _MISSING) -> Any:
        """The parameter `name` as `kind`: `str` (the default), `int`, `float`, `bool`,
        `uuid.UUID`, or `object` for any JSON value.

        Raises `Error.missing_parameter` (400) when it is absent or `null` and no `default`
        is given, and `Error.invalid_parameter` (400, naming it) when it is not a `kind`.

        >>> Request(params={"orderId": "ORD-123"}).param("orderId", uuid.UUID)
        Traceback (most recent call last):
        ...
        sluice._errors.Error: INVALID_PARAMETER: parameter 'orderId' must be a UUID, got "ORD-123"
        """
        value = self.params.get(name)
        if value is None:
            if default is not Request._MISSING:
                return default
            raise Error.missing_parameter(name)
        try:
            expected, convert = _CONVERSIONS[kind]
        except KeyError:
            raise TypeError(f"a parameter cannot be read as {kind!r}") from None
        converted = convert(value)
        if converted is None:
            shown = json.dumps(value, ensure_ascii=False)
            if len(shown) > 64:
                shown = shown[:64] + "…"
            raise Error.invalid_parameter(name, f"parameter '{name}' must be {expected}, got {shown}")
        return converted

    @classmethod
    def _from_wit(cls, request: Any) -> "Request":
        from . import _bindings

        caller = request.caller
        return cls(
            ingress_id=request.ingress_id,
            method=request.method,
            path=request.path,
            params={name: json.loads(value) for name, value in request.params},
            mode=Mode.SSE if request.mode == _bindings.types.Mode.SSE else Mode.JSON,
            last_event_id=request.last_event_id,
            body=request.body,
            caller=None if caller is None else Caller(caller.subject, list(caller.permissions)),
        )
