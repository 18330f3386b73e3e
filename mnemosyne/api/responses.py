"""JSON responses for the WSGI fast paths, shaped like the CherryPy routes' answers.

Every response the API sends carries the same security headers, and every error is a JSON
object {"error": message, "status": code}.
Must not: decide status codes (callers do).
"""

from __future__ import annotations

import http
import json
from collections.abc import Callable
from typing import Any

SECURITY_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Frame-Options", "DENY"),
)
JSON_TYPE = "application/json"


def status_line(code: int) -> str:
    """Return e.g. '404 Not Found'."""
    return f"{code} {http.HTTPStatus(code).phrase}"


def error_body(code: int, message: str) -> dict[str, Any]:
    """Return the JSON error object every route uses."""
    return {"error": message, "status": code}


def json_bytes(body: Any) -> bytes:
    """Serialize *body* compactly as UTF-8 JSON."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def json_response(start_response: Callable[..., Any], code: int, body: dict[str, Any],
                  headers: list[tuple[str, str]] | None = None) -> list[bytes]:
    """Start a JSON response and return its body; errors (>= 400) get the error shape."""
    if code >= 400 and "status" not in body:
        body = error_body(code, str(body.get("error", http.HTTPStatus(code).phrase)))
    data = json_bytes(body)
    start_response(status_line(code), [("Content-Type", JSON_TYPE),
                                       ("Content-Length", str(len(data))),
                                       ("Cache-Control", "no-store"),
                                       *SECURITY_HEADERS, *(headers or [])])
    return [data]
