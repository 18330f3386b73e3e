"""The access checks in front of every route, on a real server."""

from __future__ import annotations

import logging

from tests.helpers import http_request


def test_without_a_token_configured_everything_is_open(running_api):
    assert http_request(running_api.url + "/health").status == 200
    assert http_request(running_api.url + "/memories").status == 200


def test_with_a_token_every_route_but_health_needs_it(make_api):
    running = make_api(api_token="s3cret")
    for path in ("/memories", "/events", "/", "/openapi.json", "/instances", "/events/recent"):
        refused = http_request(running.url + path)
        assert refused.status == 401, path
        assert refused.json()["status"] == 401
        assert refused.headers["www-authenticate"].startswith("Bearer")
    assert "dashboard-url" in http_request(running.url + "/").json()["error"]
    wrong = http_request(running.url + "/memories", headers={"Authorization": "Bearer nope"})
    assert wrong.status == 401
    good = http_request(running.url + "/memories", headers={"Authorization": "Bearer s3cret"})
    assert good.status == 200
    assert http_request(running.url + "/health").status == 200


def test_query_token_is_accepted_on_events_only(make_api):
    running = make_api(api_token="s3cret")
    for path in ("/memories", "/instances", "/events/recent", "/openapi.json", "/"):
        assert http_request(f"{running.url}{path}?access_token=s3cret").status == 401, path
    from tests.helpers import SseClient  # noqa: PLC0415

    stream = SseClient(running.url + "/events?access_token=s3cret")
    try:
        assert stream.status == 200
    finally:
        stream.close()


def test_health_without_the_token_hides_the_problems(make_api):
    running = make_api(api_token="s3cret", checks=(lambda: "main loop stalled at /secret/x",))
    public = http_request(running.url + "/health")
    assert public.status == 503
    assert "problems" not in public.json()
    assert "/secret" not in public.body.decode()
    private = http_request(running.url + "/health", headers={"Authorization": "Bearer s3cret"})
    assert private.json()["problems"] == ["main loop stalled at /secret/x"]


def test_foreign_host_is_refused_everywhere(make_api, caplog):
    running = make_api(api_token="s3cret")
    auth = {"Authorization": "Bearer s3cret"}
    with caplog.at_level(logging.WARNING, "mnemosyne.api.access"):
        for path in ("/health", "/memories", "/login?token=s3cret", "/"):
            refused = http_request(running.url + path, headers={**auth, "Host": "evil.example"})
            assert refused.status == 403, path
            assert "evil.example" in refused.json()["error"]
    assert len([r for r in caplog.records if "refused" in r.getMessage()]) == 1
    for host in ("localhost:3000", "127.0.0.1", "[::1]:1"):
        assert http_request(running.url + "/health", headers={"Host": host}).status == 200


def test_configured_host_names_are_allowed(make_api):
    running = make_api(api_allowed_hosts="box.lan, other")
    for host in ("box.lan", "BOX.lan:3000", "other:1"):
        assert http_request(running.url + "/health", headers={"Host": host}).status == 200
    assert http_request(running.url + "/health", headers={"Host": "box.lan.evil"}).status == 403


def test_foreign_origin_cannot_write(make_api):
    running = make_api()
    refused = http_request(running.url + "/memories", "POST", {"content": "x"},
                           headers={"Origin": "http://evil.example:3000"})
    assert refused.status == 403
    assert http_request(running.url + "/memories").json() == []
    allowed = http_request(running.url + "/memories", "POST", {"content": "x"},
                           headers={"Origin": running.url})
    assert allowed.status == 201


def test_login_sets_a_strict_cookie_that_opens_the_dashboard(make_api):
    running = make_api(api_token="s3cret")
    assert "set-cookie" not in http_request(running.url + "/login?token=nope").headers
    assert http_request(running.url + "/login?token=nope").status == 401
    login = http_request(running.url + "/login?token=s3cret")
    assert login.status == 303
    assert login.headers["location"] == "/"
    cookie = login.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    pair = cookie.split(";")[0]
    for path in ("/", "/memories", "/instances"):
        assert http_request(running.url + path, headers={"Cookie": pair}).status == 200, path
    forged = pair.split("=")[0] + "=forged"
    assert http_request(running.url + "/memories", headers={"Cookie": forged}).status == 401


def test_login_codes_need_the_token_and_open_one_session(make_api):
    running = make_api(api_token="s3cret")
    assert http_request(running.url + "/login-codes", "POST").status == 401
    issued = http_request(running.url + "/login-codes", "POST",
                          headers={"Authorization": "Bearer s3cret"})
    assert issued.status == 201
    path = issued.json()["path"]
    assert path.startswith("/login?code=") and "s3cret" not in path
    assert http_request(running.url + path).status == 303
    assert http_request(running.url + path).status == 401
    wrong_method = http_request(running.url + "/login-codes",
                                headers={"Authorization": "Bearer s3cret"})
    assert wrong_method.status == 405


def test_a_refused_body_is_never_read_as_the_next_request(make_api):
    """A refused POST's body is not drained and parsed: the connection closes after the 401."""
    import socket  # noqa: PLC0415

    running = make_api(api_token="s3cret")
    smuggled = b"GET /memories HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer s3cret\r\n\r\n"
    request = (b"POST /memories HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
               + f"Content-Length: {len(smuggled)}\r\n\r\n".encode() + smuggled)
    with socket.create_connection(("127.0.0.1", running.api.address.port), timeout=10) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 401 ")
    assert answer.count(b"HTTP/1.1 ") == 1
