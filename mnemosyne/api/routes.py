"""The CherryPy application: memory routes, the instance list, the OpenAPI document, the page.

Routes answer JSON with the CLI's validation and messages: a `UsageError` is 400, a missing
memory 404, a database that cannot be written 503, a body over the limit 413, a body that is
not JSON 400, an unknown route 404 and a wrong method 405 (with Allow) - every error as
{"error": message, "status": code}. Unexpected exceptions are logged with their traceback and
answered with a JSON 500 that reveals nothing. CherryPy runs as a plain WSGI application: its
engine (autoreloader, signal handlers, port checks) is never started.
Must not: serve /health or /events (front.py keeps those off CherryPy's dispatch).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import importlib.resources
import json
import logging
import sys
from collections.abc import Callable, Iterator
from typing import Any

import cherrypy

from mnemosyne.api.events import EventHub
from mnemosyne.api.gate import close_after_response
from mnemosyne.api.openapi import openapi_document
from mnemosyne.api.responses import JSON_TYPE, SECURITY_HEADERS, error_body, json_bytes
from mnemosyne.errors import ExitCode, MnemosyneError, UsageError
from mnemosyne.store import model
from mnemosyne.store.backend import MemoryBackend
from mnemosyne.store.query import make_recall_query

logger = logging.getLogger(__name__)

HTTP_STATUS_BY_EXIT_CODE = {
    ExitCode.USAGE: 400,
    ExitCode.NOT_FOUND: 404,
    ExitCode.CONFLICT: 409,
    ExitCode.UNAVAILABLE: 503,
}
MEMORY_FIELDS = {"content", "namespace", "importance", "tags", "memory_type", "summary"}
MAX_RECENT = 10_000
QUERY_FIELDS = {"q", "namespace", "type", "limit", "min_importance", "tags"}
PAGE_SECURITY = ("default-src 'self'; connect-src 'self'; img-src 'self' data:; "
                 "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
STATIC_FILES = {"dashboard.html": "text/html; charset=utf-8",
                "dashboard.js": "text/javascript; charset=utf-8",
                "dashboard.css": "text/css; charset=utf-8"}


@dataclasses.dataclass(frozen=True)
class ApiContext:
    """What the routes work with, handed in by the daemon."""

    store: MemoryBackend
    hub: EventHub
    instances: Callable[[], list[dict[str, Any]]]
    max_body_bytes: int


def http_status(error: MnemosyneError) -> int:
    """Return the HTTP status that stands for *error*'s exit code."""
    return HTTP_STATUS_BY_EXIT_CODE.get(error.exit_code, 500)


@contextlib.contextmanager
def mnemosyne_errors() -> Iterator[None]:
    """Turn a MnemosyneError into the matching HTTP error."""
    try:
        yield
    except MnemosyneError as error:
        raise cherrypy.HTTPError(http_status(error), error.message) from None


def respond(body: Any, status: int = 200) -> bytes:
    """Set a JSON response and return its bytes."""
    cherrypy.response.status = status
    cherrypy.response.headers["Content-Type"] = JSON_TYPE
    cherrypy.response.headers["Cache-Control"] = "no-store"
    return json_bytes(body)


def json_error_page(status: str, message: str, traceback: str, version: str) -> bytes:
    """Render every CherryPy error as the API's JSON error object."""
    del traceback, version  # never shown to clients
    cherrypy.response.headers["Content-Type"] = JSON_TYPE
    code = int(str(status).split()[0])
    text = str(message) if message else str(status)
    request = cherrypy.request
    if code == 404 and (text in ("Nothing matches the given URI", "")
                        or text.startswith("The path ")):
        text = f"no route {request.path_info}"
    elif code == 405 and text == "Specified method is invalid for this resource":
        allowed = cherrypy.response.headers.get("Allow", "")
        text = f"method {request.method} is not allowed on {request.path_info} " \
               f"(allowed: {allowed})"
    return json_bytes(error_body(code, text))


def log_unexpected_error() -> None:
    """Log the traceback of an unexpected exception and answer a bare JSON 500."""
    error = sys.exc_info()[1]  # CherryPy calls this while handling the exception
    logger.error("unexpected error serving %s %s", cherrypy.request.method,
                 cherrypy.request.path_info, exc_info=error)
    cherrypy.response.status = 500
    cherrypy.response.headers["Content-Type"] = JSON_TYPE
    cherrypy.response.body = [json_bytes(error_body(500, "internal error; see the log"))]


def read_body(max_bytes: int) -> bytes:
    """Return the raw request body, at most *max_bytes*. Raises HTTPError 400, 408 or 413.

    A body that ends before its Content-Length, or a malformed chunk, is a 400; a body that
    does not arrive in time (the socket times out, or the gate cut it off) a 408.
    """
    declared = cherrypy.request.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise cherrypy.HTTPError(413, f"request body is over {max_bytes} bytes")
    # CherryPy's own body processing is off (it fails on e.g. multipart without a boundary):
    # the raw stream is read here, never more than the limit allows.
    # A body not read to its end leaves the connection mid-request: it is closed after the
    # answer, so that the rest is never taken for a new request.
    try:
        raw = cherrypy.request.rfile.read(max_bytes + 1)
    except TimeoutError:
        close_after_response()
        raise cherrypy.HTTPError(408, "the request body did not arrive in time") from None
    except (ValueError, OSError) as error:  # cheroot: bad chunk size, connection reset
        close_after_response()
        raise cherrypy.HTTPError(400, f"request body is malformed: "
                                      f"{str(error)[:80] or type(error).__name__}") from None
    if len(raw) > max_bytes:
        close_after_response()
        raise cherrypy.HTTPError(413, f"request body is over {max_bytes} bytes")
    if declared.isdigit() and len(raw) < int(declared):
        close_after_response()
        raise cherrypy.HTTPError(400, f"request body ended after {len(raw)} of the "
                                      f"{declared} bytes its Content-Length announced")
    return raw


def read_json_body(max_bytes: int) -> dict[str, Any]:
    """Return the request body as a JSON object. Raises HTTPError 400, 408, 413 or 415.

    The body must be UTF-8 JSON, nested less deeply than the parser's recursion limit, with
    no lone surrogate (such as U+D800) in a string: none of these can be stored.
    """
    content_type = cherrypy.request.headers.get("Content-Type", "")
    if content_type.split(";")[0].strip().lower() != JSON_TYPE:
        raise cherrypy.HTTPError(415, "send the body as application/json")
    raw = read_body(max_bytes)
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise cherrypy.HTTPError(400, "request body is not valid JSON") from None
    except RecursionError:
        raise cherrypy.HTTPError(400, "request body is nested too deeply") from None
    if not isinstance(data, dict):
        raise cherrypy.HTTPError(400, "request body must be a JSON object")
    try:
        json_bytes(data)  # UTF-8 encodes every string: a lone surrogate fails here
    except UnicodeEncodeError:
        raise cherrypy.HTTPError(400, "request body has a lone surrogate (such as \\ud800) "
                                      "in a string, which is not valid Unicode") from None
    except RecursionError:
        raise cherrypy.HTTPError(400, "request body is nested too deeply") from None
    return data


def reject_unknown(given: set[str], known: set[str], what: str) -> None:
    """Raise a 400 naming the unknown fields, if any."""
    unknown = sorted(given - known)
    if unknown:
        allowed = f"known: {', '.join(sorted(known))}" if known else f"this route takes no {what}"
        raise cherrypy.HTTPError(400, f"unknown {what} {', '.join(unknown)} ({allowed})")


def single(params: dict[str, Any], name: str) -> str | None:
    """Return one query parameter; a repeated one is a 400."""
    value = params.get(name)
    if isinstance(value, list):
        raise cherrypy.HTTPError(400, f"query parameter {name} given more than once")
    return value


class MemoryItem:
    """/memories/{id}: one memory, by id or unique id prefix."""

    exposed = True

    def __init__(self, context: ApiContext) -> None:
        self.context = context

    def GET(self, memory_id: str, **params: Any) -> bytes:  # noqa: N802
        """Return one memory."""
        reject_unknown(set(params), set(), "query parameter")
        with mnemosyne_errors():
            return respond(self.context.store.get(memory_id).to_dict())

    def DELETE(self, memory_id: str, **params: Any) -> bytes:  # noqa: N802
        """Forget one memory; answer what was deleted."""
        reject_unknown(set(params), set(), "query parameter")
        with mnemosyne_errors():
            memory = self.context.store.forget(memory_id)
        return respond(memory.to_dict())


class Memories:
    """/memories: search and store; /memories/{id} goes to MemoryItem."""

    exposed = True

    def __init__(self, context: ApiContext) -> None:
        self.context = context
        self.item = MemoryItem(context)

    def _cp_dispatch(self, vpath: list[str]) -> MemoryItem | None:
        """Route /memories/{id} (exactly one more segment) to the item resource."""
        if len(vpath) != 1:
            return None
        cherrypy.request.params["memory_id"] = vpath.pop(0)
        return self.item

    def GET(self, **params: Any) -> bytes:  # noqa: N802
        """Recall memories: full text, filters, importance and recency."""
        reject_unknown(set(params), QUERY_FIELDS, "query parameter")
        with mnemosyne_errors():
            query = make_recall_query(
                single(params, "q") or "", namespace=single(params, "namespace"),
                memory_types=single(params, "type"), tags=single(params, "tags"),
                min_importance=single(params, "min_importance"),
                limit=single(params, "limit") or 10)
            hits = self.context.store.recall(query)
        if query.text:
            self.context.hub.publish("memory_recalled", {
                "query": query.text, "namespace": query.namespace, "results": len(hits),
                "memory_ids": [hit.memory.id for hit in hits]})
        return respond([hit.to_dict() for hit in hits])

    def POST(self) -> bytes:  # noqa: N802
        """Store a memory from a JSON object; 201 with the stored memory."""
        data = read_json_body(self.context.max_body_bytes)
        reject_unknown(set(data), MEMORY_FIELDS, "field")
        if "content" not in data:
            raise cherrypy.HTTPError(400, "field content is required")
        tags = data.get("tags")
        text_tags = tags is None or isinstance(tags, str) or (
            isinstance(tags, list) and all(isinstance(tag, str) for tag in tags))
        with mnemosyne_errors():
            if not text_tags:
                raise UsageError("tags must be a list of strings or a comma-separated string")
            memory = self.context.store.remember(
                data["content"], namespace=data.get("namespace", "global"),
                importance=data.get("importance", model.DEFAULT_IMPORTANCE), tags=tags,
                memory_type=data.get("memory_type", model.DEFAULT_MEMORY_TYPE),
                summary=data.get("summary"))
        cherrypy.response.headers["Location"] = f"/memories/{memory.id}"
        return respond(memory.to_dict(), 201)


class Instances:
    """/instances: the process registry, as `mnemosyne instances --format json` shows it."""

    exposed = True

    def __init__(self, context: ApiContext) -> None:
        self.context = context

    def GET(self, **params: Any) -> bytes:  # noqa: N802
        """Return every registry entry, judged now."""
        reject_unknown(set(params), set(), "query parameter")
        with mnemosyne_errors():
            return respond(self.context.instances())


class RecentEvents:
    """/events/recent: the buffered events as JSON (for scripts and dashboard snapshots)."""

    exposed = True

    def __init__(self, context: ApiContext) -> None:
        self.context = context

    def GET(self, limit: str = "100", **params: Any) -> bytes:  # noqa: N802
        """Return the newest *limit* buffered events, oldest first."""
        reject_unknown(set(params), set(), "query parameter")
        if not limit.isdigit() or not 1 <= int(limit) <= MAX_RECENT:
            raise cherrypy.HTTPError(400, f"limit must be a whole number from 1 to {MAX_RECENT}")
        events = self.context.hub.recent(int(limit))
        return respond([event.envelope() for event in events])


class Events:
    """/events itself is served by front.py (SSE); here only what lies below it."""

    def __init__(self, context: ApiContext) -> None:
        self.recent = RecentEvents(context)


class OpenApi:
    """/openapi.json: the description of every route."""

    exposed = True

    def GET(self, **params: Any) -> bytes:  # noqa: N802
        """Return the OpenAPI 3 document."""
        reject_unknown(set(params), set(), "query parameter")
        return respond(openapi_document())


@functools.cache
def static_file(name: str) -> bytes:
    """Return a packaged dashboard asset."""
    return (importlib.resources.files("mnemosyne.api") / "static" / name).read_bytes()


class StaticFile:
    """One packaged dashboard asset."""

    exposed = True

    def __init__(self, name: str) -> None:
        self.name = name

    def GET(self, **params: Any) -> bytes:  # noqa: N802
        """Return the asset with a strict Content-Security-Policy.

        Query parameters are ignored (a page URL may carry any).
        """
        del params
        headers = cherrypy.response.headers
        headers["Content-Type"] = STATIC_FILES[self.name]
        headers["Content-Security-Policy"] = PAGE_SECURITY
        headers["Cache-Control"] = "no-cache"
        return static_file(self.name)


class Root(StaticFile):
    """/ (the web dashboard) and everything under it."""

    def __init__(self, context: ApiContext) -> None:
        super().__init__("dashboard.html")
        self.memories = Memories(context)
        self.instances = Instances(context)
        self.events = Events(context)
        self.openapi_json = OpenApi()
        self.dashboard_js = StaticFile("dashboard.js")
        self.dashboard_css = StaticFile("dashboard.css")


def finish_response() -> None:
    """Add the headers every API response carries; undo CherryPy's error-page padding.

    CherryPy pads short error bodies with spaces (for Internet Explorer 5); compact JSON never
    ends in a space, so stripping them gives back the exact document.
    """
    response = cherrypy.response
    for name, value in SECURITY_HEADERS:
        response.headers[name] = value
    if response.headers.get("Content-Type") == JSON_TYPE and \
            int(str(response.status).split()[0]) >= 400:
        body = response.collapse_body().rstrip(b" ")
        response.body = [body]
        response.headers["Content-Length"] = str(len(body))


def build_application(context: ApiContext) -> cherrypy.Application:
    """Return the CherryPy WSGI application (not mounted on cherrypy.tree: no globals)."""
    cherrypy.config.update({"environment": "production", "log.screen": False,
                            "engine.autoreload.on": False, "checker.on": False})
    cherrypy.tools.mnemosyne_headers = cherrypy.Tool("before_finalize", finish_response)
    config = {"/": {
        "request.dispatch": cherrypy.dispatch.MethodDispatcher(),
        "request.show_tracebacks": False,
        "request.show_mismatched_params": False,
        "request.error_response": log_unexpected_error,
        "request.process_request_body": False,
        "error_page.default": json_error_page,
        "tools.encode.on": False,
        "tools.mnemosyne_headers.on": True,
        "log.access_file": "",
        "log.error_file": "",
    }}
    application = cherrypy.Application(Root(context), script_name="", config=config)
    application.log.access_log.propagate = False
    return application
