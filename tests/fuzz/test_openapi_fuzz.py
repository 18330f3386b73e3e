"""Schemathesis against a real instance, from its own /openapi.json: no 5xx, ever.

Every documented operation (the endless /events stream aside) gets schema-valid and invalid
requests, then stateful sequences (store, fetch, delete). Every response must be right: no
server error, documented status codes, content types, headers and Allow lists, bodies that
match their schemas, no use after delete. Left out are the two checks that compare how strict
the schema is with how strict the server is: the server accepts empty query parameters as
absent and skips empty tags, and JSON Schema's (ECMA) regex whitespace class is not
Python's, so a few tag strings differ at the edges. Afterwards the database must pass
SQLite's integrity check.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import apsw
import pytest

from tests.helpers import http_request

LISTENING = re.compile(r"listening on (http://127\.0\.0\.1:\d+)")


def schemathesis_command() -> str:
    beside = Path(sys.executable).with_name("schemathesis")
    found = str(beside) if beside.exists() else shutil.which("schemathesis")
    if found is None:
        pytest.skip("schemathesis is not installed (pip install -e '.[test]')")
    return found


def test_no_server_errors_and_the_schema_holds(start_daemon, cli, tmp_path, db_path):
    command = schemathesis_command()
    daemon = start_daemon("--with-api", "--api-addr", "127.0.0.1:0")
    url = LISTENING.search(daemon.wait_for_line("listening on")).group(1)
    daemon.wait_for_line("ready:")
    result = subprocess.run(
        [command, "run", f"{url}/openapi.json", "--header",
         f"Authorization: Bearer {daemon.token}", "--checks", "all", "--exclude-checks",
         "negative_data_rejection,positive_data_acceptance", "--exclude-path", "/events",
         "--max-examples", "25", "--workers", "2",
         "--phases", "examples,fuzzing,stateful", "--seed", "20261128",
         "--report-dir", str(tmp_path / "report")],
        capture_output=True, text=True, timeout=600, cwd=tmp_path, check=False)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert http_request(url + "/health").json()["status"] == "ok"
    assert daemon.process.poll() is None
    connection = apsw.Connection(str(db_path))
    assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    connection.close()
    for line in cli("export").ok().stdout.splitlines():
        json.loads(line)
