import json

import pytest

from mnemosyne.mcp import protocol
from mnemosyne.mcp.protocol import ProtocolError


def test_parse_message_accepts_objects_and_batches():
    assert protocol.parse_message(b'{"a": 1}') == {"a": 1}
    assert protocol.parse_message('[{"a": 1}]') == [{"a": 1}]


@pytest.mark.parametrize(("data", "code", "fragment"), [
    (b"{nope", protocol.PARSE_ERROR, "not JSON"),
    (b"\xff\xfe", protocol.PARSE_ERROR, "UTF-8"),
    (b"[" * 100_000, protocol.PARSE_ERROR, "nested"),
    (b"x" * (protocol.MAX_MESSAGE_BYTES + 1), protocol.PARSE_ERROR, "larger"),
    (b"42", protocol.INVALID_REQUEST, "object"),
])
def test_parse_message_refuses(data, code, fragment):
    with pytest.raises(ProtocolError) as caught:
        protocol.parse_message(data)
    assert caught.value.code == code and fragment in caught.value.message
    response = caught.value.to_response()
    assert response["id"] is None and response["error"]["code"] == code


def test_check_request_and_notification():
    request = protocol.check_request({"jsonrpc": "2.0", "id": 7, "method": "ping"})
    assert (request.method, request.params, request.request_id, request.is_notification) == \
        ("ping", {}, 7, False)
    note = protocol.check_request({"jsonrpc": "2.0", "method": "notifications/initialized",
                                   "params": None})
    assert note.is_notification and note.request_id is None


@pytest.mark.parametrize(("message", "code", "request_id"), [
    ({"id": 1, "method": "ping"}, protocol.INVALID_REQUEST, 1),
    ({"jsonrpc": "1.0", "id": "x", "method": "ping"}, protocol.INVALID_REQUEST, "x"),
    ({"jsonrpc": "2.0", "id": None, "method": "ping"}, protocol.INVALID_REQUEST, None),
    ({"jsonrpc": "2.0", "id": True, "method": "ping"}, protocol.INVALID_REQUEST, None),
    ({"jsonrpc": "2.0", "id": 2, "method": ""}, protocol.INVALID_REQUEST, 2),
    ({"jsonrpc": "2.0", "id": 3, "method": "ping", "params": [1]}, protocol.INVALID_PARAMS, 3),
    ("text", protocol.INVALID_REQUEST, None),
])
def test_check_request_refuses(message, code, request_id):
    with pytest.raises(ProtocolError) as caught:
        protocol.check_request(message)
    assert caught.value.code == code and caught.value.request_id == request_id


def test_responses_are_recognised():
    assert protocol.is_response({"jsonrpc": "2.0", "id": 1, "result": {}})
    assert not protocol.is_response({"jsonrpc": "2.0", "id": 1, "method": "ping"})


def test_version_negotiation():
    assert protocol.negotiate_version("2024-11-05") == "2024-11-05"
    assert protocol.negotiate_version("2025-03-26") == "2025-03-26"
    assert protocol.negotiate_version("2025-06-18") == "2025-06-18"
    assert protocol.negotiate_version("2099-01-01") == protocol.LATEST_VERSION
    assert protocol.has_structured_output(None)
    assert protocol.has_structured_output("2025-06-18")
    assert not protocol.has_structured_output("2025-03-26")


def test_encode_message_is_one_line_even_with_newlines_and_lone_surrogates():
    line = protocol.encode_message(protocol.make_result(1, {"text": "a\nb é"}))
    assert "\n" not in line and "é" in line
    assert json.loads(line)["result"]["text"] == "a\nb é"
    escaped = protocol.encode_message(protocol.make_result(1, {"text": "\ud800"}))
    assert "\\ud800" in escaped
    error = protocol.make_error(None, protocol.INTERNAL_ERROR, "boom", data={"x": 1})
    assert error["error"] == {"code": -32603, "message": "boom", "data": {"x": 1}}
