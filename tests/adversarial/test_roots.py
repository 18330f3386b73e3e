"""Hostile entries in the per-user index of coordination roots, against real instances.

The index (`$XDG_STATE_HOME/mnemosyne/roots/`) is writable by anything running as the user.
Each test plants one attack, then starts `mnemosyne serve` and checks that it became ready
and heartbeats, that `instances` and `instances --all-roots` still answer (exit 0, the live
instance listed, at most a few warning lines) and that nothing was written outside the index.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from mnemosyne.coord.roots import entry_name, index_directory

FAST = {"MNEMOSYNE_HEARTBEAT_INTERVAL_S": "0.2"}


@pytest.fixture
def index(isolated_env) -> Path:
    state = Path(isolated_env["XDG_STATE_HOME"]) / "mnemosyne"
    state.mkdir(parents=True, mode=0o700)
    return index_directory(state)


def assert_still_served(start_daemon, cli, max_warnings=1):
    daemon = start_daemon("--instance-id", "a0a0a0a0", env=FAST)
    daemon.wait_for_line("ready:")
    for args in ((), ("--all-roots",)):
        result = cli("instances", "--format", "json", *args).ok()
        views = {view["instance_id"]: view for view in json.loads(result.stdout)}
        assert views["a0a0a0a0"]["state"] == "live"
        assert views["a0a0a0a0"]["root"] == str(cli.root)
        assert len(result.stderr.splitlines()) <= max_warnings, result.stderr
    first = views["a0a0a0a0"]["last_heartbeat"]
    deadline = time.monotonic() + 10
    while json.loads(cli("instances", "--format", "json").ok().stdout)[0]["last_heartbeat"] \
            == first:
        assert time.monotonic() < deadline, "no heartbeat"
        time.sleep(0.1)
    assert daemon.process.poll() is None
    return daemon


def test_index_that_is_a_file_does_not_stop_serve(start_daemon, cli, index):
    index.write_text("not a directory")
    daemon = assert_still_served(start_daemon, cli, max_warnings=2)  # recording, reading
    assert any("could not record the coordination root" in line for line in daemon.lines)
    assert index.read_text() == "not a directory"


def test_index_that_is_a_link_is_neither_written_nor_read(start_daemon, cli, index, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / entry_name(tmp_path / "bait")).write_text(f"{tmp_path / 'bait'}\n")
    (tmp_path / "bait").mkdir()
    index.symlink_to(elsewhere)
    assert_still_served(start_daemon, cli, max_warnings=2)
    assert os.listdir(elsewhere) == [entry_name(tmp_path / "bait")]
    assert not (tmp_path / "bait" / "locks").exists()  # never prepared as a root


def test_fifo_in_place_of_the_roots_entry_does_not_block(start_daemon, cli, index):
    index.mkdir(mode=0o700)
    os.mkfifo(index / entry_name(cli.root))
    assert_still_served(start_daemon, cli)
    assert (index / entry_name(cli.root)).read_text() == f"{cli.root}\n"


def test_entry_linking_to_a_secret_file_is_replaced_not_followed(start_daemon, cli, index,
                                                                 tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("keep")
    index.mkdir(mode=0o700)
    (index / entry_name(cli.root)).symlink_to(secret)
    assert_still_served(start_daemon, cli)
    assert secret.read_text() == "keep"
    assert not (index / entry_name(cli.root)).is_symlink()


def test_ten_thousand_garbage_entries_make_one_warning(start_daemon, cli, index):
    index.mkdir(mode=0o700)
    for number in range(10_000):
        (index / f"{number:032x}.root").write_text("relative/path\n")
    started = time.monotonic()
    assert_still_served(start_daemon, cli, max_warnings=2)
    result = cli("instances", "--all-roots").ok()
    warnings = [line for line in result.stderr.splitlines() if "WARN" in line]
    assert len(warnings) == 1 and "skipped 10000 entries" in warnings[0], result.stderr
    assert time.monotonic() - started < 30


def test_entries_naming_other_places_are_skipped_and_left_alone(start_daemon, cli, index,
                                                                 tmp_path):
    """Entries naming a plain directory, a link to / and a missing path change nothing there."""
    from mnemosyne.coord.roots import record_root  # noqa: PLC0415

    plain = tmp_path / "plain"
    plain.mkdir()
    plain.chmod(0o755)
    (tmp_path / "to-root").symlink_to("/")
    missing = tmp_path / "missing"
    for place in (plain, tmp_path / "to-root", missing):
        record_root(index.parent, place)
    daemon = start_daemon("--instance-id", "a0a0a0a0", env=FAST)
    daemon.wait_for_line("ready:")
    result = cli("instances", "--all-roots", "--format", "json").ok()
    assert [view["instance_id"] for view in json.loads(result.stdout)] == ["a0a0a0a0"]
    assert len(result.stderr.splitlines()) == 3, result.stderr
    assert list(plain.iterdir()) == [] and plain.stat().st_mode & 0o777 == 0o755
    assert not missing.exists()
    assert not Path("/locks").exists()
    assert daemon.process.poll() is None
