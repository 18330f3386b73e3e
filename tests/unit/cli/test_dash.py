"""The mnemosyne-dash command line: snapshots, errors and exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from mnemosyne.cli.dash import build_parser, main


def test_help_names_the_exit_codes():
    assert "3 an instance did not answer" in build_parser().format_help()


def test_snapshot_prints_json(running_api, capsys, monkeypatch, isolated_env):
    for name, value in isolated_env.items():
        monkeypatch.setenv(name, value)
    assert main(["--api", running_api.url, "--once", "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["instances"][0]["health"]["instance_id"] == "a1b2c3d4"


def test_errors_are_one_line_with_their_codes(capsys, monkeypatch, isolated_env):
    for name, value in isolated_env.items():
        monkeypatch.setenv(name, value)
    assert main(["--api", "ftp://x"]) == 2
    assert capsys.readouterr().err.startswith("mnemosyne-dash: error: --api 'ftp://x'")
    assert main([]) == 2
    assert main(["--all", "--once"]) == 5
    assert "no live instance with an API" in capsys.readouterr().err
    assert main(["--bogus"]) == 2
    assert main(["--api", "127.0.0.1:1", "--once"]) == 3
    assert json.loads(capsys.readouterr().out)["instances"][0]["reachable"] is False


def test_a_reader_that_went_away_ends_the_snapshot_quietly(isolated_env):
    """`mnemosyne-dash ... | head -1`: stdout is a pipe nobody reads any more."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        result = subprocess.run(
            [sys.executable, "-c", "import sys; from mnemosyne.cli.dash import main; "
                                   "sys.exit(main())",
             "--api", "http://127.0.0.1:1", "--once"],
            stdout=write_end, stderr=subprocess.PIPE, text=True, env=isolated_env,
            timeout=60, check=False)
    finally:
        os.close(write_end)
    assert (result.returncode, result.stderr) == (0, "")
