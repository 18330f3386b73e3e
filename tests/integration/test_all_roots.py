"""Real `mnemosyne serve` processes in different coordination roots, and `instances` finding them.

The problem this guards against: an instance started in the home directory (as systemd starts
one) uses the user's state directory as its root, while `instances` run inside a repository
read the repository's `.mnemosyne/`, showed nothing, and did not say which root it had read.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

FAST = {"MNEMOSYNE_HEARTBEAT_INTERVAL_S": "0.2"}
NO_ROOT = {"MNEMOSYNE_ROOT": ""}  # empty counts as unset: the root follows the directory


def listing(cli, *args, cwd=None, env=None):
    result = cli("instances", "--format", "json", *args, cwd=cwd, env=env).ok()
    return {view["instance_id"]: view for view in json.loads(result.stdout)}, result.stderr


@pytest.fixture
def three_roots(start_daemon, cli, git_repo, isolated_env):
    """Instances in a repository's root, in MNEMOSYNE_ROOT, and in the state directory."""
    home = Path(isolated_env["HOME"])
    state_root = Path(isolated_env["XDG_STATE_HOME"]) / "mnemosyne"
    daemons = [start_daemon("--instance-id", "aaaa0001", env={**FAST, **NO_ROOT},
                            cwd=git_repo / "src"),
               start_daemon("--instance-id", "bbbb0002", env=FAST),
               start_daemon("--instance-id", "cccc0003", env={**FAST, **NO_ROOT}, cwd=home)]
    for daemon in daemons:
        daemon.wait_for_line("ready:")
    return {"aaaa0001": git_repo / ".mnemosyne", "bbbb0002": cli.root, "cccc0003": state_root}


def test_instances_says_which_root_it_shows(cli, three_roots, git_repo):
    result = cli("instances", env=NO_ROOT, cwd=git_repo).ok()
    assert result.stderr == (f"mnemosyne: coordination root {git_repo / '.mnemosyne'} "
                             "(1 instance(s))\n")
    table = result.stdout.splitlines()
    assert table[0].split()[-1] == "UNIT" and "ROOT" not in table[0]
    assert [line.split()[0] for line in table[1:]] == ["aaaa0001"]
    views, stderr = listing(cli, env=NO_ROOT, cwd=git_repo)
    assert stderr == ""  # JSON stays quiet: the root is in every entry
    assert views["aaaa0001"]["root"] == str(git_repo / ".mnemosyne")
    assert list(views) == ["aaaa0001"]


def test_all_roots_lists_every_roots_instances(cli, three_roots, git_repo, isolated_env):
    for cwd in (git_repo, Path(isolated_env["HOME"])):  # the same answer from anywhere
        views, _ = listing(cli, "--all-roots", env=NO_ROOT, cwd=cwd)
        assert {key: view["root"] for key, view in views.items()} == {
            key: str(root) for key, root in three_roots.items()}
        assert {view["state"] for view in views.values()} == {"live"}
    result = cli("instances", "--all-roots", env=NO_ROOT, cwd=git_repo).ok()
    header, *rows = result.stdout.splitlines()
    assert header.split()[-1] == "ROOT"
    assert {row.split()[0]: row.split()[-1] for row in rows} == {
        key: str(root) for key, root in three_roots.items()}
    notes = result.stderr.splitlines()
    assert sorted(notes) == sorted(f"mnemosyne: coordination root {root} (1 instance(s))"
                                   for root in three_roots.values())


def test_all_roots_skips_gone_unsafe_and_unreadable_roots(cli, three_roots, tmp_path):
    gone = tmp_path / "gone"
    cli("instances", env={"MNEMOSYNE_ROOT": str(gone)}).ok()  # records it
    shutil.rmtree(gone)
    moved = tmp_path / "moved"
    cli("instances", env={"MNEMOSYNE_ROOT": str(tmp_path / "link")}).ok()
    (tmp_path / "link").rename(moved)
    (tmp_path / "link").symlink_to(moved)
    unreadable = tmp_path / "unreadable"
    cli("instances", env={"MNEMOSYNE_ROOT": str(unreadable)}).ok()
    (unreadable / "process_registry.json").symlink_to(tmp_path / "elsewhere.json")
    result = cli("instances", "--all-roots", "--format", "json").ok()
    views = {view["instance_id"] for view in json.loads(result.stdout)}
    assert views == set(three_roots)
    warnings = [line for line in result.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 3, result.stderr
    assert any(f"{gone} no longer exists" in line for line in warnings)
    assert any(f"{tmp_path / 'link'}: it is a symbolic link" in line for line in warnings)
    assert any(f"registry of {unreadable}" in line for line in warnings)
    assert not gone.exists()
    assert not (tmp_path / "elsewhere.json").exists()


def test_all_roots_skips_another_users_root(cli, three_roots, tmp_path):
    """Needs to run as root (to hand a directory to another user, uid 65534)."""
    if os.geteuid() != 0:
        pytest.skip("needs root to make a directory of another user")
    theirs = tmp_path / "theirs"
    cli("instances", env={"MNEMOSYNE_ROOT": str(theirs)}).ok()
    os.chown(theirs, 65534, 65534)
    result = cli("instances", "--all-roots", "--format", "json").ok()
    assert {view["instance_id"] for view in json.loads(result.stdout)} == set(three_roots)
    assert f"refusing coordination directory {theirs}: it belongs to user id 65534" \
        in result.stderr


DASH = [sys.executable, "-c", "from mnemosyne.cli.dash import main; raise SystemExit(main())"]


def test_dash_names_the_root_it_read_and_all_roots_finds_the_api(start_daemon, isolated_env,
                                                                  git_repo):
    daemon = start_daemon("--with-api", "--api-addr", "127.0.0.1:0", "--instance-id",
                          "dddd0004", env=NO_ROOT, cwd=Path(isolated_env["HOME"]))
    url = re.search(r"listening on (http://\S+)", daemon.wait_for_line("listening on")).group(1)
    daemon.wait_for_line("ready:")
    env = {**isolated_env, **NO_ROOT}

    def dash(*args):
        return subprocess.run([*DASH, *args, "--once"], env=env, cwd=git_repo, timeout=60,
                              capture_output=True, text=True, check=False)

    missing = dash("--all")
    assert missing.returncode == 5
    assert missing.stderr == ("mnemosyne-dash: error: no live instance with an API in the "
                              f"registry of coordination root {git_repo / '.mnemosyne'}: start "
                              "one with 'mnemosyne serve --with-api'\n")
    found = dash("--all-roots")
    assert found.returncode == 0, found.stderr
    assert [item["url"] for item in json.loads(found.stdout)["instances"]] == [url]
