"""Host, Origin, token and session rules."""

from __future__ import annotations

from mnemosyne.api.access import (
    HostCheck,
    LoginCodes,
    Sessions,
    TokenCheck,
    bearer_token,
    cookie_value,
    host_name,
)


def test_host_name_parsing():
    assert host_name("LocalHost:3000") == "localhost"
    assert host_name("[::1]:80") == "[::1]"
    assert host_name("127.0.0.1") == "127.0.0.1"
    assert host_name("a:b") is None
    assert host_name("[::1") is None
    assert host_name(":80") is None


def test_host_allowlist():
    check = HostCheck("0.0.0.0", ["box.lan", "::2"])
    for host in (None, "127.0.0.1:9", "localhost", "[::1]", "0.0.0.0:3000", "box.lan", "[::2]:5"):
        assert check.host_allowed(host), host
    for host in ("evil.example:3000", "127.0.0.1.evil", "", "localhost:x", "box.lan@evil"):
        assert not check.host_allowed(host), host


def test_origin_and_method():
    check = HostCheck("127.0.0.1")
    assert check.origin_allowed("http://127.0.0.1:3000")
    assert not check.origin_allowed("https://127.0.0.1:3000")
    assert not check.origin_allowed("null")
    assert not check.origin_allowed("http://evil.example")
    post = {"REQUEST_METHOD": "POST", "HTTP_ORIGIN": "http://evil.example"}
    assert "origin" in check.refusal(post)
    assert check.refusal({**post, "REQUEST_METHOD": "GET"}) is None


def test_refusals_are_logged_once_per_interval(caplog):
    now = [0.0]
    check = HostCheck("127.0.0.1", clock=lambda: now[0])
    for _ in range(5):
        check.log_refusal("x")
    now[0] = 61.0
    check.log_refusal("y")
    messages = [record.getMessage() for record in caplog.records]
    assert messages == ["API request refused: x",
                        "API request refused: y (4 more refused since the last report)"]


def test_sessions_are_bounded():
    sessions = Sessions(limit=2)
    first, second, third = sessions.open(), sessions.open(), sessions.open()
    assert not sessions.valid(first)
    assert sessions.valid(second) and sessions.valid(third)
    assert not sessions.valid("nope")


def test_token_check():
    check = TokenCheck("t0k", 3000)
    assert check.cookie_name == "mnemosyne_session_3000"
    assert check.authorized({"HTTP_AUTHORIZATION": "Bearer t0k"})
    assert not check.authorized({"QUERY_STRING": "access_token=t0k"})
    assert check.authorized({"QUERY_STRING": "access_token=t0k"}, query_allowed=True)
    cookie = check.login_cookie().split(";")[0]
    assert check.authorized({"HTTP_COOKIE": f"a=b; {cookie}"})
    assert TokenCheck(None, 1).authorized({})
    assert not TokenCheck(None, 1).matches("")
    assert bearer_token({"HTTP_AUTHORIZATION": "Basic x"}) is None
    assert cookie_value({"HTTP_COOKIE": "x=1;y=2"}, "y") == "2"


def test_login_codes_work_once_and_expire():
    now = [0.0]
    codes = LoginCodes(clock=lambda: now[0], ttl_s=10, limit=2)
    first = codes.issue()
    assert codes.redeem(first) and not codes.redeem(first)
    late = codes.issue()
    now[0] = 11.0
    assert not codes.redeem(late)
    a, b, c = codes.issue(), codes.issue(), codes.issue()
    assert not codes.redeem(a) and codes.redeem(b) and codes.redeem(c)
    assert not codes.redeem("nope")
