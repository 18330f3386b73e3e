"""The web dashboard in a real headless Chromium against a real instance."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.browser

LISTENING = re.compile(r"listening on (http://127\.0\.0\.1:\d+)")


def wait_for(browser, condition, timeout=20):
    from selenium.webdriver.support.ui import WebDriverWait  # noqa: PLC0415

    return WebDriverWait(browser, timeout, poll_frequency=0.1).until(lambda _: condition())


def text_of(browser, selector):
    from selenium.webdriver.common.by import By  # noqa: PLC0415

    return browser.find_element(By.CSS_SELECTOR, selector).text


def log_in(browser, cli, url):
    """Open the login link `mnemosyne dashboard-url` prints; it leads to the dashboard."""
    link = cli("dashboard-url").ok().stdout.strip()
    assert link.startswith(url + "/login?code=")
    browser.get(link)
    wait_for(browser, lambda: browser.current_url == url + "/")


def test_without_login_the_page_says_how_to_log_in(browser, start_daemon, cli):
    daemon = start_daemon("--with-api", "--api-addr", "127.0.0.1:0")
    url = LISTENING.search(daemon.wait_for_line("listening on")).group(1)
    daemon.wait_for_line("ready:")
    browser.get(url + "/")
    assert "mnemosyne dashboard-url" in browser.page_source
    log_in(browser, cli, url)
    wait_for(browser, lambda: text_of(browser, "#connection") == "live")
    cookies = browser.get_cookies()
    assert len(cookies) == 1 and cookies[0]["httpOnly"] and cookies[0]["sameSite"] == "Strict"
    assert browser.execute_script("return document.cookie") == ""


def test_page_shows_the_instance_and_live_memories(browser, start_daemon, cli):
    daemon = start_daemon("--with-api", "--api-addr", "127.0.0.1:0", "--instance-id",
                          "a1b2c3d4")
    url = LISTENING.search(daemon.wait_for_line("listening on")).group(1)
    daemon.wait_for_line("ready:")
    log_in(browser, cli, url)
    wait_for(browser, lambda: text_of(browser, "#instance-id") == "a1b2c3d4")
    wait_for(browser, lambda: text_of(browser, "#connection") == "live")
    assert text_of(browser, "#health") == "ok"
    wait_for(browser, lambda: "a1b2c3d4" in text_of(browser, "#instances tbody"))
    cli("remember", "-c", "seen in the browser", "-n", "project:web").ok()
    wait_for(browser, lambda: "seen in the browser" in text_of(browser, "#events"))
    first = text_of(browser, "#events li:not([hidden])")  # a heartbeat may come after, hidden
    assert "memory_stored" in first and "project:web" in first
    assert "heartbeat" not in text_of(browser, "#events")  # hidden by default
    errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert errors == []


def test_content_is_shown_as_text_not_html(browser, start_daemon, cli):
    daemon = start_daemon("--with-api", "--api-addr", "127.0.0.1:0")
    url = LISTENING.search(daemon.wait_for_line("listening on")).group(1)
    daemon.wait_for_line("ready:")
    log_in(browser, cli, url)
    wait_for(browser, lambda: text_of(browser, "#connection") == "live")
    cli("remember", "-c", "<img src=x onerror=document.title='pwned'>").ok()
    wait_for(browser, lambda: "<img src=x" in text_of(browser, "#events"))
    assert browser.title == "Mnemosyne dashboard"
