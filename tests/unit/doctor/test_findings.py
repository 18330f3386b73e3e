import json

import pytest

from mnemosyne.doctor.findings import (
    STATUSES,
    Finding,
    exit_code,
    listed,
    overall_status,
    report_document,
    report_lines,
    summary,
)
from mnemosyne.errors import ExitCode


def test_an_unknown_status_is_refused():
    with pytest.raises(ValueError, match="unknown finding status"):
        Finding("root", "bad", "x")


@pytest.mark.parametrize(("statuses", "code", "overall"), [
    ((), ExitCode.OK, "healthy"),
    (("ok", "skipped", "fixed"), ExitCode.OK, "healthy"),
    (("ok", "warn"), ExitCode.ERROR, "warnings"),
    (("fixed", "kept"), ExitCode.ERROR, "warnings"),
    (("kept", "problem", "ok"), ExitCode.PROBLEMS, "problems"),
])
def test_exit_code_is_the_worst_left(statuses, code, overall):
    findings = [Finding("root", status, "m") for status in statuses]
    assert exit_code(findings) == code
    assert overall_status(findings) == overall
    assert int(ExitCode.PROBLEMS) == 4 and int(ExitCode.ERROR) == 1


def test_summary_counts_every_status():
    counts = summary([Finding("a", "ok", "m"), Finding("b", "ok", "m"), Finding("c", "kept", "m")])
    assert counts == {**dict.fromkeys(STATUSES, 0), "ok": 2, "kept": 1}


def test_the_document_has_its_stable_shape_and_is_json():
    findings = [Finding("worktrees", "fixed", "removed", {"path": "/x"}, "/r"),
                Finding("config", "warn", "w")]
    document = json.loads(json.dumps(report_document(findings)))
    assert set(document) == {"version", "status", "checks", "summary"}
    assert document["status"] == "warnings"
    assert document["checks"][0] == {"name": "worktrees", "status": "fixed", "message": "removed",
                                     "details": {"path": "/x"}, "fixed": True, "root": "/r"}
    assert document["checks"][1]["fixed"] is False and document["checks"][1]["root"] is None


def test_listed_names_the_first_few_and_counts_the_rest():
    assert listed([]) == ""
    assert listed(["a", "b"]) == "a, b"
    assert listed([str(n) for n in range(8)], most=3) == "0, 1, 2 and 5 more"


def test_report_lines_colour_and_details():
    findings = [Finding("queue", "problem", "bad things", {"files": ["x"]}, "/root"),
                Finding("config", "ok", "fine")]
    plain = report_lines(findings)
    assert plain[0].startswith("problem queue") and plain[0].endswith("bad things")
    assert plain[-1] == "doctor: problems (1 ok, 1 problem)"
    assert not any("\033[" in line for line in plain)
    verbose = report_lines(findings, verbose=True)
    assert any(line.strip() == "root: /root" for line in verbose)
    assert any(line.strip() == "files: ['x']" for line in verbose)
    coloured = report_lines(findings, colour=True)
    assert coloured[0].startswith("\033[31m")
