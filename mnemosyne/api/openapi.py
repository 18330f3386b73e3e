"""The OpenAPI 3 description of the API, served at /openapi.json and fuzzed by the tests.

Written by hand next to the routes it describes (routes.py, health.py, sse.py): a route that
changes without this document is caught by the fuzz test, which only sends what is declared.
Must not: import CherryPy (the document is plain data).
"""

from __future__ import annotations

import functools
from typing import Any

from mnemosyne import __version__
from mnemosyne.store import model

ERROR = {"$ref": "#/components/schemas/Error"}
MEMORY = {"$ref": "#/components/schemas/Memory"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    texts = {400: "invalid input", 404: "no such memory", 405: "wrong method",
             413: "request body too large", 415: "body is not application/json",
             503: "the database cannot be used now"}
    return {str(code): _json(ERROR, texts[code]) for code in codes}


MEMORY_ID = {"name": "memory_id", "in": "path", "required": True,
             "description": "a memory id, or a unique prefix of at least 4 hex digits",
             "schema": {"type": "string", "pattern": "^[0-9a-f][0-9a-f-]{3,35}$"}}
NAMESPACE = {"type": "string", "pattern": f"^({model.NAMESPACE_RE.pattern})$",
             "example": "project:myapp"}
TEXT = r"^[^\u0000]*\S[^\u0000]*$"  # not blank, no NUL

SCHEMAS: dict[str, Any] = {
    "Error": {"type": "object", "required": ["error", "status"],
              "properties": {"error": {"type": "string"}, "status": {"type": "integer"}}},
    "Memory": {"type": "object", "required": ["id", "namespace", "content", "memory_type",
                                              "importance", "tags", "created_at"],
               "properties": {
                   "id": {"type": "string"}, "namespace": {"type": "string"},
                   "content": {"type": "string"},
                   "summary": {"type": "string", "nullable": True},
                   "memory_type": {"type": "string", "enum": list(model.MEMORY_TYPES)},
                   "importance": {"type": "integer", "minimum": 1, "maximum": 10},
                   "tags": {"type": "array", "items": {"type": "string"}},
                   "created_at": {"type": "string"}, "updated_at": {"type": "string"},
                   "access_count": {"type": "integer"},
                   "last_accessed_at": {"type": "string", "nullable": True},
                   "archived": {"type": "boolean"},
                   "superseded_by": {"type": "string", "nullable": True},
                   "score": {"type": "number"}}},
    "NewMemory": {"type": "object", "required": ["content"], "additionalProperties": False,
                  "properties": {
                      "content": {"type": "string", "pattern": TEXT, "maxLength": 16384,
                                  "description": "at most max_content_bytes UTF-8 bytes"},
                      "namespace": NAMESPACE,
                      "importance": {"type": "integer", "minimum": 1, "maximum": 10},
                      "tags": {"type": "array", "maxItems": model.MAX_TAGS, "items": {
                          "type": "string", "pattern": f"^{model.TAG_RE.pattern}$"}},
                      "memory_type": {"type": "string", "enum": list(model.MEMORY_TYPES)},
                      "summary": {"type": "string", "pattern": TEXT, "nullable": True,
                                  "maxLength": model.MAX_SUMMARY_LENGTH}}},
    "Health": {"type": "object",
               "required": ["status", "version", "instance_id", "subscribers", "uptime_s",
                            "port", "db"],
               "properties": {
                   "status": {"type": "string", "enum": ["ok", "degraded"]},
                   "version": {"type": "string"}, "instance_id": {"type": "string"},
                   "subscribers": {"type": "integer", "description": "open SSE streams"},
                   "uptime_s": {"type": "number"}, "port": {"type": "integer"},
                   "db": {"type": "string", "enum": ["ok", "error"]},
                   "problems": {"type": "array", "items": {"type": "string"}}}},
}


@functools.cache
def openapi_document() -> dict[str, Any]:
    """Return the OpenAPI 3.0 document (built once)."""
    memory_list = {"type": "array", "items": MEMORY}
    return {
        "openapi": "3.0.3",
        "info": {"title": "Mnemosyne instance API", "version": __version__,
                 "description": "One instance's memories, health and live events. Every "
                                "route but /health needs the user's API token (the token "
                                "file, or MNEMOSYNE_API_TOKEN), and a Host that is loopback, "
                                "the bound address or in api_allowed_hosts."},
        "security": [{"bearer": []}],
        "components": {"schemas": SCHEMAS, "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer",
                       "description": "~/.config/mnemosyne/api-token, or "
                                      "MNEMOSYNE_API_TOKEN"}}},
        "paths": {
            "/health": {"get": {
                "summary": "Instance health; 503 when degraded (problems only with the token)",
                "security": [],
                "responses": {"200": _json({"$ref": "#/components/schemas/Health"}, "ok"),
                              "503": _json({"$ref": "#/components/schemas/Health"},
                                           "degraded: the database cannot be written")}}},
            "/instances": {"get": {
                "summary": "The process registry, judged now",
                "responses": {"200": _json({"type": "array", "items": {"type": "object"}},
                                           "every registered instance")}}},
            "/memories": {
                "get": {"summary": "Recall memories (full text, importance, recency)",
                        "parameters": [
                            {"name": "q", "in": "query", "schema": {"type": "string"}},
                            {"name": "namespace", "in": "query", "schema": NAMESPACE},
                            {"name": "type", "in": "query", "schema": {
                                "type": "string", "enum": list(model.MEMORY_TYPES)}},
                            {"name": "tags", "in": "query", "description": "TAG,TAG",
                             "schema": {"type": "string"}},
                            {"name": "min_importance", "in": "query",
                             "schema": {"type": "integer", "minimum": 1, "maximum": 10}},
                            {"name": "limit", "in": "query",
                             "schema": {"type": "integer", "minimum": 1, "maximum": 1000}}],
                        "responses": {"200": _json(memory_list, "best matches first"),
                                      **_errors(400, 503)}},
                "post": {"summary": "Store a memory",
                         "requestBody": {"required": True, "content": {"application/json": {
                             "schema": {"$ref": "#/components/schemas/NewMemory"}}}},
                         "responses": {"201": _json(MEMORY, "stored"),
                                       **_errors(400, 413, 415, 503)}}},
            "/memories/{memory_id}": {
                "parameters": [MEMORY_ID],
                "get": {"summary": "One memory",
                        "responses": {"200": _json(MEMORY, "the memory"),
                                      **_errors(400, 404)}},
                "delete": {"summary": "Forget one memory",
                           "responses": {"200": _json(MEMORY, "what was deleted"),
                                         **_errors(400, 404, 503)}}},
            "/events": {"get": {
                "summary": "Live events (Server-Sent Events); resume with Last-Event-ID",
                "parameters": [{"name": "Last-Event-ID", "in": "header",
                                "schema": {"type": "string"}}],
                "responses": {
                    "200": {"description": "an endless event stream",
                            "content": {"text/event-stream": {"schema": {"type": "string"}}}},
                    **_errors(400),
                    "503": _json(ERROR, "too many subscribers (see Retry-After)")}}},
            "/events/recent": {"get": {
                "summary": "The newest buffered events as JSON, oldest first",
                "parameters": [{"name": "limit", "in": "query", "schema": {
                    "type": "integer", "minimum": 1, "maximum": 10000}}],
                "responses": {"200": _json({"type": "array", "items": {"type": "object"}},
                                           "event envelopes"),
                              **_errors(400)}}},
            "/openapi.json": {"get": {"summary": "This document",
                                      "responses": {"200": _json({"type": "object"},
                                                                 "OpenAPI 3")}}},
            "/": {"get": {"summary": "The web dashboard",
                          "responses": {"200": {"description": "HTML page", "content": {
                              "text/html": {"schema": {"type": "string"}}}}}}},
        },
    }
