"""`Error`: what a component raises to answer with an HTTP error, or yields mid-stream."""

from __future__ import annotations

import json
from typing import Any, Optional


class Error(Exception):
    """An application error: a `code`, a human-readable `message`, optionally an HTTP
    `status` and JSON `details`.

    Raised from the handler before the stream starts, it becomes an HTTP error response
    `{"error":{"code":…,"message":…}}`. The status is `status` when set, else it follows
    from the code: `BAD_REQUEST`, `INVALID_*`, `MISSING_*` → 400, `UNAUTHORIZED` → 401,
    `FORBIDDEN` → 403, `NOT_FOUND` → 404, `CONFLICT`/`ALREADY_EXISTS` → 409,
    `TOO_MANY_REQUESTS` → 429, `UNAVAILABLE` → 503, anything else → 500. Raised inside a
    `map` function, or yielded, it becomes an SSE `error` event and the stream goes on.

    >>> err = Error.not_found("SKU not found")
    >>> err.code, err.to_json()
    ('NOT_FOUND', {'error': {'code': 'NOT_FOUND', 'message': 'SKU not found'}})
    >>> Error("STOCK_LOCKED", "try again", status=423).status
    423
    """

    def __init__(
        self,
        code: str,
        message: str,
        *,
        status: Optional[int] = None,
        details: Any = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.details = details

    @classmethod
    def bad_request(cls, message: str) -> "Error":
        """Code `BAD_REQUEST` (400).

        >>> Error.bad_request("no items").code
        'BAD_REQUEST'
        """
        return cls("BAD_REQUEST", message)

    @classmethod
    def unauthorized(cls, message: str) -> "Error":
        """Code `UNAUTHORIZED` (401).

        >>> Error.unauthorized("log in").code
        'UNAUTHORIZED'
        """
        return cls("UNAUTHORIZED", message)

    @classmethod
    def forbidden(cls, message: str) -> "Error":
        """Code `FORBIDDEN` (403).

        >>> Error.forbidden("not your order").code
        'FORBIDDEN'
        """
        return cls("FORBIDDEN", message)

    @classmethod
    def not_found(cls, message: str) -> "Error":
        """Code `NOT_FOUND` (404).

        >>> Error.not_found("SKU not found").code
        'NOT_FOUND'
        """
        return cls("NOT_FOUND", message)

    @classmethod
    def conflict(cls, message: str) -> "Error":
        """Code `CONFLICT` (409).

        >>> Error.conflict("already shipped").code
        'CONFLICT'
        """
        return cls("CONFLICT", message)

    @classmethod
    def unavailable(cls, message: str) -> "Error":
        """Code `UNAVAILABLE` (503).

        >>> Error.unavailable("try later").code
        'UNAVAILABLE'
        """
        return cls("UNAVAILABLE", message)

    @classmethod
    def internal(cls, message: str) -> "Error":
        """Code `INTERNAL_ERROR` (500).

        >>> Error.internal("oops").code
        'INTERNAL_ERROR'
        """
        return cls("INTERNAL_ERROR", message)

    @classmethod
    def missing_parameter(cls, name: str) -> "Error":
        """What `Request.param` raises for an absent parameter: code `MISSING_PARAMETER`,
        status 400, details `{"parameter": name}`.

        >>> Error.missing_parameter("orderId").message
        "parameter 'orderId' is required"
        """
        return cls(
            "MISSING_PARAMETER",
            f"parameter '{name}' is required",
            status=400,
            details={"parameter": name},
        )

    @classmethod
    def invalid_parameter(cls, name: str, message: str) -> "Error":
        """What `Request.param` raises for a parameter of the wrong type: code
        `INVALID_PARAMETER`, status 400, details `{"parameter": name}`.

        >>> Error.invalid_parameter("limit", "parameter 'limit' must be positive").details
        {'parameter': 'limit'}
        """
        return cls("INVALID_PARAMETER", message, status=400, details={"parameter": name})

    def to_json(self) -> dict:
        """The error record `{"error":{"code","message","status"?,"details"?}}`.

        >>> Error("X", "y", details={"n": 1}).to_json()
        {'error': {'code': 'X', 'message': 'y', 'details': {'n': 1}}}
        """
        error: dict = {"code": self.code, "message": self.message}
        if self.status is not None:
            error["status"] = self.status
        if self.details is not None:
            error["details"] = self.details
        return {"error": error}

    def _to_wit(self):  # the `types.error` record of the bindings
        from . import _bindings

        details = None if self.details is None else to_json_text(self.details)
        return _bindings.types.Error(self.code, self.message, self.status, details)


def to_json_text(value: Any) -> str:
    """Compact JSON, as the host reads it (`ensure_ascii=False` keeps text as written)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
