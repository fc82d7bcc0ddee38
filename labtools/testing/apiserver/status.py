"""Kubernetes `Status` errors raised inside the fake API server and rendered by the router."""

from __future__ import annotations

from typing import Any

from .resources import Resource


class ApiError(Exception):
    """An API failure that the server answers as a `Status` object."""

    def __init__(
        self, code: int, reason: str, message: str, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status(self) -> dict[str, Any]:
        """The `Status` body of this error."""
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
        }
        if self.details is not None:
            body["details"] = self.details
        body["code"] = self.code
        return body


def _details(res: Resource, name: str) -> dict[str, Any]:
    details: dict[str, Any] = {"name": name}
    if res.group:
        details["group"] = res.group
    details["kind"] = res.plural
    return details


def not_found(res: Resource, name: str) -> ApiError:
    """404 NotFound for one object."""
    return ApiError(
        404, "NotFound", f'{res.group_resource} "{name}" not found', _details(res, name)
    )


def already_exists(res: Resource, name: str) -> ApiError:
    """409 AlreadyExists for a create."""
    return ApiError(
        409, "AlreadyExists", f'{res.group_resource} "{name}" already exists', _details(res, name)
    )


def conflict(res: Resource, name: str) -> ApiError:
    """409 Conflict for an update with a stale resourceVersion."""
    msg = (
        f'Operation cannot be fulfilled on {res.group_resource} "{name}": the object has '
        "been modified; please apply your changes to the latest version and try again"
    )
    return ApiError(409, "Conflict", msg, _details(res, name))


def invalid(res: Resource, name: str, causes: list[tuple[str, str, str]]) -> ApiError:
    """422 Invalid with field causes given as (field, reason type, message)."""
    parts = [f"{fld}: {msg}" for fld, _typ, msg in causes]
    text = parts[0] if len(parts) == 1 else "[" + ", ".join(parts) + "]"
    kind = res.kind
    details = _details(res, name)
    details["kind"] = kind
    details["causes"] = [{"reason": typ, "message": msg, "field": fld} for fld, typ, msg in causes]
    return ApiError(
        422,
        "Invalid",
        f"{kind}.{res.group or ''}".rstrip(".") + f' "{name}" is invalid: {text}',
        details,
    )


def bad_request(message: str) -> ApiError:
    """400 BadRequest."""
    return ApiError(400, "BadRequest", message)


def method_not_allowed(
    message: str = "the server does not allow this method on the requested resource",
) -> ApiError:
    """405 MethodNotAllowed."""
    return ApiError(405, "MethodNotAllowed", message, {})


def unsupported_media(content_type: str, message: str | None = None) -> ApiError:
    """415 UnsupportedMediaType."""
    return ApiError(
        415,
        "UnsupportedMediaType",
        message
        or f"the body of the request was in an unknown format - accepted "
        f"media types include: application/json, application/yaml, "
        f'application/vnd.kubernetes.protobuf (got "{content_type}")',
        {},
    )


def not_found_path() -> ApiError:
    """404 for an unknown URL."""
    return ApiError(404, "NotFound", "the server could not find the requested resource", {})
