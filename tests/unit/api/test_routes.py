"""Every CherryPy route over real HTTP: success, validation errors, JSON error shape."""

from __future__ import annotations

import logging
import socket

import pytest

from tests.helpers import SseClient, http_request


def post(url, body, **kwargs):
    return http_request(url + "/memories", "POST", body, **kwargs)


def assert_error(result, status, fragment):
    assert result.status == status, result.body
    assert result.headers["content-type"] == "application/json"
    body = result.json()
    assert body["status"] == status and fragment in body["error"], body
    assert not result.body.endswith(b" ")


def test_store_then_fetch_search_and_delete(running_api):
    url = running_api.url
    created = post(url, {"content": "the cache lives in redis", "namespace": "project:app",
                         "tags": ["infra", "cache"], "importance": 8,
                         "memory_type": "architecture", "summary": "cache"})
    assert created.status == 201
    memory = created.json()
    assert created.headers["location"] == f"/memories/{memory['id']}"
    assert memory["namespace"] == "project:app" and memory["tags"] == ["infra", "cache"]
    assert http_request(f"{url}/memories/{memory['id']}").json() == memory
    assert http_request(f"{url}/memories/{memory['id'][:8]}").json()["id"] == memory["id"]
    hits = http_request(f"{url}/memories?q=redis&namespace=project:app&type=architecture")
    assert hits.status == 200 and [hit["id"] for hit in hits.json()] == [memory["id"]]
    assert "score" in hits.json()[0]
    deleted = http_request(f"{url}/memories/{memory['id']}", "DELETE")
    assert deleted.status == 200 and deleted.json()["id"] == memory["id"]
    assert_error(http_request(f"{url}/memories/{memory['id']}"), 404, "no memory")
    assert running_api.store.count() == 0


def test_tags_may_be_a_comma_separated_string(running_api):
    memory = post(running_api.url, {"content": "x", "tags": "a, b"}).json()
    assert memory["tags"] == ["a", "b"]


def test_search_publishes_memory_recalled(running_api):
    post(running_api.url, {"content": "postgres tuning notes"})
    client = SseClient(running_api.url + "/events")
    http_request(running_api.url + "/memories?q=postgres&limit=5")
    event = client.events_until(lambda e: e.event == "memory_recalled")[-1]
    assert event.json()["data"]["query"] == "postgres"
    assert event.json()["data"]["results"] == 1
    client.close()


@pytest.mark.parametrize(("body", "fragment"), [
    ({"namespace": "global"}, "content is required"),
    ({"content": "x", "colour": "red"}, "unknown field colour"),
    ({"content": ""}, "content"),
    ({"content": "x", "namespace": "bad namespace"}, "namespace"),
    ({"content": "x", "importance": 11}, "importance"),
    ({"content": "x", "memory_type": "poem"}, "unknown memory type"),
    ({"content": "x", "tags": [1, 2]}, "tags must be"),
    ({"content": 5}, "content"),
])
def test_invalid_memories_are_400_and_store_nothing(running_api, body, fragment):
    assert_error(post(running_api.url, body), 400, fragment)
    assert running_api.store.count() == 0


def test_bodies_that_are_not_json_objects(running_api):
    url = running_api.url
    json_type = {"Content-Type": "application/json"}
    assert_error(post(url, b"{not json", headers=json_type), 400, "not valid JSON")
    assert_error(post(url, b"[1, 2]", headers=json_type), 400, "must be a JSON object")
    assert_error(post(url, b"\xff\xfe", headers=json_type), 400, "not valid JSON")
    assert_error(post(url, b"content=x", headers={"Content-Type": "text/plain"}), 415,
                 "application/json")


def test_body_over_the_limit_is_413(make_api):
    running = make_api(api_max_body_bytes=1000)
    big = {"content": "x" * 2000}
    assert_error(post(running.url, big), 413, "over 1000 bytes")
    assert running.store.count() == 0


def test_chunked_body_over_the_limit_is_413(make_api):
    running = make_api(api_max_body_bytes=1000)
    body = b'{"content": "' + b"x" * 1500 + b'"}'
    request = (b"POST /memories HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
               b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
               + f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n")
    # One write: the server may answer 413 and close before reading all of it.
    with socket.create_connection(("127.0.0.1", running.api.address.port), timeout=10) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert b'"over 1000 bytes"' not in answer and b"over 1000 bytes" in answer
    assert running.store.count() == 0


@pytest.mark.parametrize("content_type", ["multipart/form-data",
                                          "application/x-www-form-urlencoded",
                                          "application/json; charset=latin-1"])
def test_odd_content_types_never_break_the_server(running_api, content_type):
    result = post(running_api.url, b'{"content": "x"}', headers={"Content-Type": content_type})
    assert result.status in (201, 415), result.body


def test_content_over_the_store_limit_is_400(make_api):
    running = make_api(max_content_bytes=10)
    assert_error(post(running.url, {"content": "x" * 11}), 400, "content")


@pytest.mark.parametrize(("query", "fragment"), [
    ("limit=0", "limit"), ("limit=abc", "limit"), ("namespace=", "namespace"),
    ("type=poem", "unknown memory type"), ("bogus=1", "unknown query parameter bogus"),
    ("q=a*", "too short"), ("min_importance=99", "importance"),
    ("q=a&q=b", "more than once"),
])
def test_invalid_searches_are_400(running_api, query, fragment):
    assert_error(http_request(f"{running_api.url}/memories?{query}"), 400, fragment)


def test_bad_ids(running_api):
    url = running_api.url
    assert_error(http_request(f"{url}/memories/zz"), 400, "not a memory id")
    assert_error(http_request(f"{url}/memories/abcdef12"), 404, "no memory")
    assert_error(http_request(f"{url}/memories/abcdef12", "DELETE"), 404, "no memory")
    assert_error(http_request(f"{url}/memories/abcdef12?x=1"), 400, "unknown query parameter")
    assert_error(http_request(f"{url}/memories/abcdef12?x=1", "DELETE"), 400,
                 "unknown query parameter x")
    for path in ("/instances", "/openapi.json"):
        assert_error(http_request(f"{url}{path}?x=1"), 400, "unknown query parameter x")
    assert http_request(f"{url}/?access_token=t&x=1").status == 200
    assert_error(http_request(f"{url}/memories/a/b"), 404, "")


def test_unknown_routes_and_wrong_methods(running_api):
    url = running_api.url
    assert_error(http_request(f"{url}/nope"), 404, "no route /nope")
    wrong = http_request(f"{url}/memories", "PUT", b"{}")
    assert_error(wrong, 405, "method PUT is not allowed on /memories")
    assert "POST" in wrong.headers["allow"]
    assert_error(http_request(f"{url}/memories", "DELETE"), 405, "")
    assert_error(http_request(f"{url}/memories/abcd", "POST", {"content": "x"}), 405, "")
    assert_error(http_request(f"{url}/instances", "POST", b""), 405, "")


def test_instances_route_returns_the_registry_view(make_api):
    views = [{"instance_id": "a1b2c3d4", "state": "live"}]
    running = make_api(instances=lambda: views)
    assert http_request(running.url + "/instances").json() == views


def test_unexpected_errors_are_a_bare_json_500_and_logged(make_api, caplog):
    def broken():
        raise RuntimeError("secret detail")

    running = make_api(instances=broken)
    with caplog.at_level(logging.ERROR):
        result = http_request(running.url + "/instances")
    assert_error(result, 500, "internal error")
    assert b"secret detail" not in result.body
    assert "secret detail" in caplog.text and "RuntimeError" in caplog.text


def test_openapi_and_the_page(running_api):
    document = http_request(running_api.url + "/openapi.json").json()
    assert document["openapi"].startswith("3.") and "/memories" in document["paths"]
    page = http_request(running_api.url + "/")
    assert page.status == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    for asset, kind in (("dashboard.js", "text/javascript"), ("dashboard.css", "text/css")):
        result = http_request(f"{running_api.url}/{asset}")
        assert result.status == 200 and result.headers["content-type"].startswith(kind)


def test_every_response_has_the_security_headers(running_api):
    for path in ("/", "/nope", "/health", "/memories"):
        headers = http_request(running_api.url + path).headers
        assert headers["x-content-type-options"] == "nosniff", path
        assert "access-control-allow-origin" not in headers, path


def test_recent_events_as_json(running_api):
    hub = running_api.api.hub
    for index in range(5):
        hub.publish("e", {"n": index})
    recent = http_request(running_api.url + "/events/recent?limit=2").json()
    assert [event["data"]["n"] for event in recent] == [3, 4]
    assert recent[0]["instance_id"] == "a1b2c3d4"
    assert len(http_request(running_api.url + "/events/recent").json()) == 5
    for bad in ("limit=0", "limit=x", "limit=10001", "other=1"):
        assert_error(http_request(f"{running_api.url}/events/recent?{bad}"), 400, "")
    assert_error(http_request(running_api.url + "/events/recent", "POST", b""), 405, "")


def raw_exchange(url, request: bytes) -> bytes:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request)
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_a_chunked_body_over_the_limit_is_413_and_closes(make_api):
    running = make_api(api_max_body_bytes=10)
    answer = raw_exchange(running.url, b"POST /memories HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                          b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
                          b"\r\n20\r\n" + b"x" * 32 + b"\r\n0\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 413") and answer.count(b"HTTP/1.1 ") == 1


def test_a_large_body_cut_short_is_400_naming_both_lengths(running_api):
    answer = raw_exchange(running_api.url, b"POST /memories HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                          b"Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
                          + b"x" * 70_000)
    assert answer.startswith(b"HTTP/1.1 400")
    assert b"ended after 70000 of the 100000 bytes" in answer
    assert b"Connection: close" in answer
