"""The OpenAPI document describes the routes that exist (and only those)."""

from __future__ import annotations

from mnemosyne.api.openapi import openapi_document
from tests.helpers import http_request


def test_document_shape():
    document = openapi_document()
    assert document["openapi"] == "3.0.3"
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            assert operation["responses"], (path, method)


def test_every_documented_operation_exists(running_api):
    created = http_request(running_api.url + "/memories", "POST", {"content": "x"}).json()
    for path, item in openapi_document()["paths"].items():
        concrete = path.replace("{memory_id}", created["id"])
        for method in item:
            if method in ("parameters", "delete") or path == "/events":
                continue
            result = http_request(running_api.url + concrete, method.upper(),
                                  {"content": "y"} if method == "post" else None)
            assert result.status not in (404, 405), (method, path, result.body)
