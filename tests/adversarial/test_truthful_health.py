"""/health and the watchdog tell whether the instance can write right now.

Attacks: the database's `-wal` and `-shm` files made read-only under a running instance, and
another program holding SQLite's write lock. Under root the instance runs without any
capability (`setpriv --bounding-set=-all`), so that file modes bind it as they bind a user.
Each test checks that the instance answers the truth within a second, names the file at
fault, and recovers by itself.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import pytest

from tests.helpers import (
    collect_datagrams,
    fill_file_system,
    http_request,
    notify_server,
    small_tmpfs,
)

LISTENING = re.compile(r"listening on (http://\S+)")
NO_CAPABILITIES = ("setpriv", "--bounding-set=-all", "--inh-caps=-all") \
    if os.geteuid() == 0 else ()


def start_instance(start_daemon, tmp_path, env=None):
    daemon = start_daemon("--with-api", "--api-addr", "127.0.0.1:0", env=env,
                          prefix=NO_CAPABILITIES)
    url = LISTENING.search(daemon.wait_for_line("listening on")).group(1)
    daemon.wait_for_line("ready:")
    return daemon, url


def wait_for_health(url, status, within_s):
    """Return the first /health answer with *status* within *within_s* seconds."""
    deadline = time.monotonic() + within_s
    while True:
        answer = http_request(f"{url}/health")
        if answer.status == status or time.monotonic() > deadline:
            assert answer.status == status, answer.json()
            return answer.json()
        time.sleep(0.05)


def store(url, content):
    return http_request(f"{url}/memories", "POST", {"content": content})


def watchdog_pings(server, seconds):
    """Return how many WATCHDOG=1 datagrams arrived in the next *seconds*."""
    count = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            count += server.recv(4096) == b"WATCHDOG=1"
        except TimeoutError:
            continue
    return count


def test_read_only_wal_and_shm_degrade_health_stop_the_watchdog_and_are_named(
        start_daemon, tmp_path, db_path):
    server = notify_server(tmp_path)
    try:
        daemon, url = start_instance(start_daemon, tmp_path, env={
            "NOTIFY_SOCKET": str(tmp_path / "notify.sock"), "WATCHDOG_USEC": "200000"})
        collect_datagrams(server, lambda datagram: datagram == "WATCHDOG=1")
        assert store(url, "before").status == 201
        wal, shm = (db_path.with_name(db_path.name + suffix) for suffix in ("-wal", "-shm"))
        wal.chmod(0o444)
        shm.chmod(0o444)
        body = wait_for_health(url, 503, within_s=1.0)
        assert body["db"] == "error"
        assert any(f"{wal} is read-only" in problem for problem in body["problems"]), body
        refused = store(url, "while read-only")
        assert refused.status == 503
        assert str(wal) in refused.json()["error"], refused.json()
        watchdog_pings(server, 0.5)  # pings already under way
        assert watchdog_pings(server, 1.0) == 0
        wal.chmod(0o600)
        shm.chmod(0o600)
        assert wait_for_health(url, 200, within_s=1.0)["db"] == "ok"
        assert store(url, "after").status == 201
        assert watchdog_pings(server, 1.0) > 0
        assert daemon.process.poll() is None
    finally:
        server.close()


@pytest.mark.timeout(60)
def test_a_write_lock_held_by_another_program_degrades_health_then_recovers(
        start_daemon, tmp_path, db_path):
    daemon, url = start_instance(start_daemon, tmp_path)
    assert store(url, "before").status == 201
    holder = subprocess.Popen(
        [sys.executable, "-c", "import apsw, sys, time\n"
         "connection = apsw.Connection(sys.argv[1])\n"
         "connection.execute('BEGIN IMMEDIATE')\n"
         "print('locked', flush=True)\n"
         "sys.stdin.readline()\n"
         "connection.execute('ROLLBACK')\n", str(db_path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "locked\n"
        locked_at = time.monotonic()
        assert http_request(f"{url}/health").status == 200  # a short lock is normal
        body = wait_for_health(url, 503, within_s=7.0)
        assert time.monotonic() - locked_at < 5.0 + 1.5
        assert any(f"held by process {holder.pid}" in problem for problem in body["problems"])
        holder.stdin.write("\n")
        holder.stdin.flush()
        assert holder.wait(10) == 0
        assert wait_for_health(url, 200, within_s=1.0)["db"] == "ok"
        assert store(url, "after").status == 201
        assert daemon.process.poll() is None
    finally:
        if holder.poll() is None:
            holder.kill()
        holder.wait()
        holder.stdin.close()
        holder.stdout.close()


@pytest.fixture
def small_database_directory(db_path):
    """The database's directory on an 8 MiB private tmpfs (root only), unmounted at teardown."""
    with small_tmpfs(db_path.parent, "8m") as directory:
        yield directory


def test_a_full_disk_degrades_health_within_a_second_then_recovers(
        start_daemon, tmp_path, small_database_directory):
    daemon, url = start_instance(start_daemon, tmp_path)
    assert store(url, "before").status == 201
    filler = small_database_directory / "filler"
    fill_file_system(filler)
    body = wait_for_health(url, 503, within_s=1.0)
    assert body["db"] == "error"
    assert any(f"no space left for the database in {small_database_directory}" in problem
               for problem in body["problems"]), body
    filler.unlink()
    assert wait_for_health(url, 200, within_s=1.0)["db"] == "ok"
    assert store(url, "after").status == 201
    assert daemon.process.poll() is None
