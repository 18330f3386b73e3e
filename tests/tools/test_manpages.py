"""The man pages in man/ are current, complete, lint-clean and render."""

import argparse
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from mnemosyne.cli import dash
from mnemosyne.cli.main import COMMANDS, build_parser
from mnemosyne.config import SETTINGS
from mnemosyne.errors import ExitCode
from tools import manpages

MAN = Path(__file__).resolve().parents[2] / "man"
NAMES = sorted(manpages.PAGES)


def committed(name: str) -> str:
    return (MAN / name).read_text(encoding="utf-8")


def walk(parser: argparse.ArgumentParser):
    """Yield every parser reachable from *parser*, with its command path."""
    stack = [((), parser)]
    while stack:
        path, current = stack.pop()
        yield path, current
        stack += [((*path, name), sub) for name, sub in manpages.subparsers(current).items()]


@pytest.mark.parametrize("name", NAMES)
def test_committed_pages_are_up_to_date(name):
    assert committed(name) == manpages.PAGES[name](), "run: python -m tools.manpages man"


def test_every_page_is_committed():
    on_disk = sorted(path.relative_to(MAN).as_posix() for path in MAN.glob("man*/*"))
    assert on_disk == NAMES


def test_every_command_and_flag_of_the_help_is_in_the_pages():
    page = committed("man1/mnemosyne.1")
    for path, parser in walk(build_parser()):
        if path:
            assert f".SS {manpages.escape(' '.join(path))}\n" in page, path
        for action in parser._actions:
            for flag in action.option_strings:
                assert manpages.escape(flag) in page, (path, flag)
            if not action.option_strings and action.choices \
                    and not isinstance(action, argparse._SubParsersAction):
                for choice in action.choices:
                    assert manpages.escape(str(choice)) in page, (path, choice)
    dash_page = committed("man1/mnemosyne-dash.1")
    for action in dash.build_parser()._actions:
        for flag in action.option_strings:
            assert manpages.escape(flag) in dash_page, flag


def test_pages_cover_every_command_code_and_setting():
    page = manpages.render_mnemosyne_1()
    assert all(f".SS {manpages.escape(name)}\n" in page for name in COMMANDS)
    assert all(f".B {code.value}\n" in page for code in ExitCode)
    conf = manpages.render_mnemosyne_conf_5()
    assert all(manpages.escape(setting.name) in conf for setting in SETTINGS)


def test_exit_status_tables_come_from_the_enum():
    codes = {code.value for code in ExitCode}
    for name in ("man1/mnemosyne.1", "man1/mnemosyne-dash.1"):
        table = committed(name).split(".SH EXIT STATUS\n")[1].split("\n.SH ")[0]
        listed = [int(line[3:]) for line in table.splitlines() if line.startswith(".B ")]
        assert listed and set(listed) <= codes, name
    assert ExitCode.USAGE.describe() in committed("man1/mnemosyne-dash.1").replace("\\-", "-")


def test_escape():
    assert manpages.escape(".start\n'quote -x \\") == "\\&.start\n\\&'quote \\-x \\e"
    assert manpages.escape("run `a --b` now`") == "run \\fBa \\-\\-b\\fR now\\(ga"
    assert manpages.escape("3000\u20133010 \u2014") == "3000\\[u2013]3010 \\(em"


@pytest.mark.parametrize("name", NAMES)
def test_no_markdown_and_a_complete_see_also(name):
    text = committed(name)
    assert "`" not in text
    see_also = text.split(".SH SEE ALSO\n")[1]
    for page in manpages.SYSTEMD_PAGES + manpages.OWN_PAGES:
        title, number = page[:-1].split("(")
        if page != manpages.OWN_PAGES[NAMES_TO_OWN[name]]:
            assert f"\\fB{manpages.escape(title)}\\fR({number})" in see_also, page


NAMES_TO_OWN = {"man1/mnemosyne.1": 0, "man1/mnemosyne-dash.1": 1, "man5/mnemosyne.conf.5": 2,
                "man5/mnemosyne@.service.5": 3, "man7/mnemosyne-multi-instance.7": 4}


def test_service_page_has_its_examples():
    text = committed("man5/mnemosyne@.service.5").replace("\\-", "-")
    for example in ("systemctl --user start mnemosyne@a1b2c3d4",
                    "journalctl --user -u mnemosyne@a1b2c3d4",
                    "journalctl MNEMOSYNE_INSTANCE=a1b2c3d4", "loginctl enable-linger",
                    "WatchdogSec=", "mnemosyne.target", "mnemosyne-doctor.timer", "%i"):
        assert example in text, example


def test_multi_instance_page_has_its_troubleshooting():
    text = committed("man7/mnemosyne-multi-instance.7")
    for heading in ("Address already in use", "All ports exhausted", "database is locked",
                    "A stale registry"):
        assert f".SS {heading}\n" in text, heading


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (Debian: apt-get install mandoc groff-base man-db)")
    return path


@pytest.mark.parametrize("name", NAMES)
def test_mandoc_lint_reports_nothing(name):
    result = subprocess.run([tool("mandoc"), "-Tlint", str(MAN / name)], capture_output=True,
                            text=True, check=False)
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


@pytest.mark.parametrize("name", NAMES)
def test_groff_reports_nothing(name):
    result = subprocess.run([tool("groff"), "-ww", "-z", "-man", str(MAN / name)],
                            capture_output=True, text=True, check=False)
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


@pytest.mark.parametrize("name", NAMES)
def test_man_renders_the_page(name):
    environment = {**os.environ, "MANWIDTH": "80", "MAN_KEEP_FORMATTING": "", "LC_ALL": "C.UTF-8"}
    result = subprocess.run([tool("man"), "-l", str(MAN / name)], capture_output=True,
                            text=True, check=False, env=environment)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert "NAME" in result.stdout and "SEE ALSO" in result.stdout
    page_name = committed(name).split(".SH NAME\n")[1].split(" \\- ")[0].replace("\\-", "-")
    assert f"{page_name} - " in result.stdout
