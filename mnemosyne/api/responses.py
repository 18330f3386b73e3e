"""JSON responses for the WSGI fast paths, shaped like the CherryPy routes' answers.

Every error is a JSON object {"error": message, "status": code}. Every response says
`nosniff`; documents a browser renders (the CherryPy routes, the page) also get the framing
and referrer headers (and Cache-Control). The fast paths leave those out: they mean nothing for
JSON without validators, and each header costs cheroot about 3 % of /health's throughput.
Must not: decide status codes (callers do).
"""

from __future__ import annotations

import http
import json
from collections.abc import Callable
from typing import Any

NOSNIFF = ("X-Content-Type-Options", "nosniff")
SECURITY_HEADERS = (
    NOSNIFF,
    ("Referrer-Policy", "no-referrer"),
    ("X-Frame-Options", "DENY"),
)
JSON_TYPE = "application/json"


STATUS_LINES = {status.value: f"{status.value} {status.phrase}" for status in http.HTTPStatus}
# json.dumps with options builds a new encoder per call; this one is built once.
ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))



def error_body(code: int, message: str) -> dict[str, Any]:
    """Return the JSON error object every route uses."""
    return {"error": message, "status": code}


def json_bytes(body: Any) -> bytes:
    """Serialize *body* compactly as UTF-8 JSON."""
    return ENCODER.encode(body).encode()


def rendered(code: int, body: dict[str, Any], headers: list[tuple[str, str]] | None = None,
             ) -> tuple[str, list[tuple[str, str]], bytes]:
    """Return the status line, headers and bytes of a JSON answer (errors: the error shape)."""
    if code >= 400 and "status" not in body:
        body = error_body(code, str(body.get("error", http.HTTPStatus(code).phrase)))
    data = json_bytes(body)
    return STATUS_LINES[code], [("Content-Type", JSON_TYPE), ("Content-Length", str(len(data))),
                                NOSNIFF, *(headers or [])], data


def json_response(start_response: Callable[..., Any], code: int, body: dict[str, Any],
                  headers: list[tuple[str, str]] | None = None) -> list[bytes]:
    """Start a JSON response and return its body; errors (>= 400) get the error shape."""
    status, all_headers, data = rendered(code, body, headers)
    start_response(status, all_headers)
    return [data]
