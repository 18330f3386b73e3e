import logging
import os
import socket
import time

import pytest

from mnemosyne import logs
from mnemosyne.daemon import systemd
from mnemosyne.daemon.systemd import ServiceManager, safe_status, unit_from_cgroup


@pytest.fixture
def notify_socket(tmp_path, monkeypatch):
    """A datagram socket standing in for systemd's, bound to a path."""
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(str(tmp_path / "notify"))
    server.settimeout(2)
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "notify"))
    yield server
    server.close()


@pytest.fixture
def abstract_notify_socket(monkeypatch):
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    name = f"mnemosyne-test-{os.getpid()}"
    server.bind("\0" + name)
    server.settimeout(2)
    monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
    yield server
    server.close()


def test_datagram_sequence(notify_socket, monkeypatch):
    monkeypatch.setenv("WATCHDOG_USEC", "10000000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    manager = ServiceManager.from_environment()
    assert manager.watchdog_interval_s == 5.0
    manager.ready("instance a1b2c3d4 → no API")
    manager.status("3 peers")
    manager.watchdog()
    manager.stopping()
    manager.failed("cannot bind", 98)
    manager.close()
    received = [notify_socket.recv(4096) for _ in range(5)]
    assert received == [b"READY=1\nSTATUS=instance a1b2c3d4 -> no API", b"STATUS=3 peers",
                        b"WATCHDOG=1", b"STOPPING=1\nSTATUS=stopping",
                        b"STATUS=failed: cannot bind\nERRNO=98"]


def test_abstract_socket_and_variables_hidden_from_children(abstract_notify_socket,
                                                             monkeypatch):
    monkeypatch.setenv("LISTEN_FDS", "1")
    manager = ServiceManager.from_environment()
    manager.watchdog()
    manager.close()
    assert abstract_notify_socket.recv(64) == b"WATCHDOG=1"
    for name in systemd.INHERITED_VARIABLES:
        assert name not in os.environ


def test_watchdog_meant_for_another_process_is_ignored(notify_socket, monkeypatch):
    monkeypatch.setenv("WATCHDOG_USEC", "10000000")
    monkeypatch.setenv("WATCHDOG_PID", "1")
    manager = ServiceManager.from_environment()
    assert manager.watchdog_interval_s is None
    manager.close()


def test_off_systemd_everything_is_a_no_op(monkeypatch):
    for name in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "INVOCATION_ID"):
        monkeypatch.delenv(name, raising=False)
    manager = ServiceManager.from_environment()
    assert (manager.notifier, manager.watchdog_interval_s, manager.unit) == (None, None, None)
    manager.ready("x")
    manager.watchdog()
    manager.stopping()
    assert not systemd.under_systemd()


def test_safe_status():
    assert safe_status("a → b — c\nd") == "a -> b - c d"
    assert safe_status("日本") == "??"
    assert len(safe_status("x" * 500)) == 200


def test_unit_name_from_cgroup():
    v2 = "0::/user.slice/user-0.slice/user@0.service/app.slice/mnemosyne@a1b2c3d4.service\n"
    assert unit_from_cgroup(v2) == "mnemosyne@a1b2c3d4.service"
    v1 = ("12:pids:/x\n1:name=systemd:/user.slice/user@0.service/app.slice/"
          "mnemosyne@a1b2c3d4.service\n0::/\n")
    assert unit_from_cgroup(v1) == "mnemosyne@a1b2c3d4.service"
    assert unit_from_cgroup("0::/user.slice/session-2.scope\n") is None


def test_journal_stream_must_match_stderr(monkeypatch):
    status = os.fstat(2)
    monkeypatch.setenv("JOURNAL_STREAM", f"{status.st_dev}:{status.st_ino}")
    assert systemd.stderr_is_journal()
    monkeypatch.setenv("JOURNAL_STREAM", f"{status.st_dev}:{status.st_ino + 1}")
    assert not systemd.stderr_is_journal()
    monkeypatch.setenv("JOURNAL_STREAM", "garbage")
    assert not systemd.stderr_is_journal()


def test_journal_handler_sends_native_entries_with_the_instance(tmp_path):
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(str(tmp_path / "journal"))
    handler = systemd.JournalHandler("mnemosyne", tmp_path / "journal")
    handler.setFormatter(logging.Formatter("%(instance_prefix)s%(message)s"))
    context = logs.InstanceContextFilter()
    context.instance_id = "a1b2c3d4"
    handler.addFilter(context)
    record = logging.LogRecord("mnemosyne.x", logging.WARNING, __file__, 7, "two\nlines",
                               None, None)
    handler.handle(record)
    datagram = server.recv(65536)
    handler.close()
    server.close()
    assert b"PRIORITY=4\n" in datagram
    assert b"SYSLOG_IDENTIFIER=mnemosyne\n" in datagram
    assert b"MNEMOSYNE_INSTANCE=a1b2c3d4\n" in datagram
    body = b"[a1b2c3d4] two\nlines"
    assert b"MESSAGE\n" + len(body).to_bytes(8, "little") + body + b"\n" in datagram


def test_no_journal_socket_means_no_handler(tmp_path, monkeypatch):
    monkeypatch.setattr(systemd, "JOURNAL_SOCKET", tmp_path / "missing")
    assert systemd.journal_handler("mnemosyne") is None


def test_a_full_notify_queue_never_blocks_the_daemon(notify_socket):
    """Regression: a reader that stopped reading froze instances inside sd_notify."""
    manager = ServiceManager.from_environment()
    began = time.monotonic()
    for _ in range(5000):
        manager.status("x" * 100)
    manager.close()
    assert time.monotonic() - began < 5


def test_reloading_carries_the_monotonic_clock(notify_socket):
    manager = ServiceManager.from_environment()
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    manager.reloading()
    manager.close()
    fields = dict(line.split("=", 1) for line in notify_socket.recv(4096).decode().splitlines())
    assert fields["RELOADING"] == "1" and fields["STATUS"] == "reloading"
    assert before <= int(fields["MONOTONIC_USEC"]) <= before + 10_000_000


@pytest.mark.parametrize(("unit", "instance"), [
    ("mnemosyne@a1b2c3d4.service", "a1b2c3d4"), ("mnemosyne@BAD.service", "BAD"),
    ("mnemosyne-doctor.service", None), (None, None), ("mnemosyne@.service", None)])
def test_instance_of_unit(unit, instance):
    assert systemd.instance_of_unit(unit) == instance


def test_a_failure_goes_to_status_and_the_journal(tmp_path, notify_socket, monkeypatch):
    journal = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    journal.bind(str(tmp_path / "journal"))
    journal.settimeout(2)
    monkeypatch.setattr(systemd, "JOURNAL_SOCKET", tmp_path / "journal")
    status = os.fstat(2)
    monkeypatch.setenv("JOURNAL_STREAM", f"{status.st_dev}:{status.st_ino}")
    monkeypatch.delenv("INVOCATION_ID", raising=False)
    try:
        assert systemd.report_failure("mnemosyne: error: bad flag", "bad flag") is None
        assert notify_socket.recv(4096) == b"STATUS=failed: bad flag"
        entry = journal.recv(4096).decode()
        assert entry.splitlines() == ["MESSAGE=mnemosyne: error: bad flag", "PRIORITY=3",
                                      "SYSLOG_IDENTIFIER=mnemosyne"]
        journal.close()  # no journald: the line comes back for stderr, with its priority
        (tmp_path / "journal").unlink()
        assert systemd.report_failure("mnemosyne: error: x", "x") == "<3>mnemosyne: error: x"
    finally:
        journal.close()


def test_off_systemd_a_failure_is_just_the_line(monkeypatch):
    for name in ("NOTIFY_SOCKET", "JOURNAL_STREAM", "INVOCATION_ID"):
        monkeypatch.delenv(name, raising=False)
    assert systemd.report_failure("mnemosyne: error: x", "x") == "mnemosyne: error: x"
