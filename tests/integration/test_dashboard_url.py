"""`mnemosyne dashboard-url`: the login link of a live instance opens the web dashboard."""

from __future__ import annotations

import re
import urllib.parse

from tests.helpers import assert_one_line_error, http_request

LISTENING = re.compile(r"API server \[([0-9a-f]{8})\] listening on (http://127\.0\.0\.1:\d+)")


def test_the_link_logs_in_with_a_strict_cookie(start_daemon, cli):
    assert_one_line_error(cli("dashboard-url"), 5, "no live instance with an API")
    daemon = start_daemon("--with-api", "--api-addr", "127.0.0.1:0")
    instance_id, url = LISTENING.search(daemon.wait_for_line("listening on")).groups()
    daemon.wait_for_line("ready:")
    link = cli("dashboard-url").ok().stdout.strip()
    other = cli("dashboard-url", "--instance", instance_id).ok().stdout.strip()
    assert link.startswith(f"{url}/login?code=") and other.startswith(f"{url}/login?code=")
    assert link != other and daemon.token not in link
    assert http_request(url + "/", auth=False).status == 401
    login = http_request(link, auth=False)
    assert login.status == 303 and login.headers["location"] == "/"
    cookie = login.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    page = http_request(url + "/", headers={"Cookie": cookie.split(";")[0]}, auth=False)
    assert page.status == 200 and b"<html" in page.body.lower()
    again = http_request(link, auth=False)  # a one-time link
    assert again.status == 401 and "set-cookie" not in again.headers
    wrong = http_request(f"{url}/login?token=" + urllib.parse.quote("x" * 64), auth=False)
    assert wrong.status == 401 and "set-cookie" not in wrong.headers
    assert_one_line_error(cli("dashboard-url", "--instance", "ffffffff"), 5, "ffffffff")
