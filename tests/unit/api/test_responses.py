"""The JSON response helper of the fast paths."""

from __future__ import annotations

import json

from mnemosyne.api.responses import STATUS_LINES, error_body, json_response


def test_json_response_and_error_shape():
    started = []
    body = json_response(lambda status, headers: started.append((status, dict(headers))),
                         404, {"error": "gone"}, [("X-Extra", "1")])
    status, headers = started[0]
    assert status == "404 Not Found"
    assert headers["Content-Type"] == "application/json" and headers["X-Extra"] == "1"
    assert headers["Content-Length"] == str(len(body[0]))
    assert json.loads(body[0]) == {"error": "gone", "status": 404}


def test_helpers():
    assert STATUS_LINES[503] == "503 Service Unavailable"
    assert error_body(400, "bad") == {"error": "bad", "status": 400}
