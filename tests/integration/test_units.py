"""The unit files in systemd/ verify without a warning, and run only commands the CLI has."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mnemosyne.cli.main import CommandLineError, build_parser
from tests.helpers import assert_one_line_error

UNITS = Path(__file__).resolve().parents[2] / "systemd"
MAN = Path(__file__).resolve().parents[2] / "man"  # verify runs `man` on Documentation=
PROGRAM = Path(sys.executable).with_name("mnemosyne")


@pytest.fixture
def installed_units(tmp_path):
    """The units as `mnemosyne systemd install` writes them: ExecStart is this program."""
    directory = tmp_path / "units"
    directory.mkdir()
    for unit in UNITS.iterdir():
        text = unit.read_text().replace("/usr/bin/mnemosyne", str(PROGRAM))
        (directory / unit.name).write_text(text)
    return directory


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze missing")
@pytest.mark.parametrize("name", ["mnemosyne@a1b2c3d4.service", "mnemosyne.target",
                                  "mnemosyne-doctor.service", "mnemosyne-doctor.timer"])
def test_unit_verifies_cleanly(installed_units, tmp_path, name):
    template = name.replace("a1b2c3d4", "")
    unit = installed_units / template
    target = unit if template == name else installed_units / name
    if target != unit:
        target.symlink_to(unit)
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    result = subprocess.run(["systemd-analyze", "--user", "verify", str(target)],
                            capture_output=True, text=True, check=False,
                            env={"PATH": "/usr/bin:/bin", "XDG_RUNTIME_DIR": str(runtime),
                                 "HOME": str(tmp_path), "MANPATH": f"{MAN}:"})
    # verify exits 0 on unknown keys: any output at all is a failure.
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_service_runs_what_the_registry_and_exit_codes_expect():
    text = (UNITS / "mnemosyne@.service").read_text()
    for line in ("Type=notify", "ExecStart=/usr/bin/mnemosyne serve --instance-id %i --with-api",
                 "RestartPreventExitStatus=2 6 7", "LogExtraFields=MNEMOSYNE_INSTANCE=%i",
                 "EnvironmentFile=-%E/mnemosyne/%i.env", "RuntimeDirectory=mnemosyne/%i",
                 "PartOf=mnemosyne.target", "WatchdogSec=10s"):
        assert line in text
    directives = "\n".join(line for line in text.splitlines() if not line.startswith("#"))
    assert "StateDirectory" not in directives and "%S" not in directives


def unit_commands(text: str) -> list[tuple[str, list[str]]]:
    """Return each Exec*= line of a unit as (directive, words), prefixes like `-` removed."""
    commands = []
    for line in text.splitlines():
        directive, _, value = line.partition("=")
        if directive.startswith("Exec") and value:
            words = shlex.split(value.lstrip("-@:+!"))
            commands.append((directive, words))
    return commands


def command_words(words: list[str]) -> list[str]:
    """The words after the program, as the unit would pass them with a valid instance id."""
    assert "%%" not in " ".join(words)
    return [word.replace("%i", "a1b2c3d4") for word in words[1:] if word != "$MNEMOSYNE_ARGS"]


# Commands a unit may run besides mnemosyne itself.
OTHER_PROGRAMS = {("ExecReload", "/bin/kill -HUP $MAINPID")}


@pytest.mark.parametrize("name", [path.name for path in sorted(UNITS.iterdir())])
def test_every_command_a_unit_runs_exists_in_the_cli(name):
    """ExecStart= (and any Exec*= that runs mnemosyne) parses with the CLI's own parser."""
    parser = build_parser()
    for directive, words in unit_commands((UNITS / name).read_text()):
        if words[0] != "/usr/bin/mnemosyne":
            assert (directive, " ".join(words)) in OTHER_PROGRAMS
            continue
        arguments = command_words(words)
        parsed = parser.parse_args(arguments)  # CommandLineError (a test failure) if not
        assert parsed.command == arguments[0]


def test_the_parse_check_catches_a_command_that_does_not_exist():
    with pytest.raises(CommandLineError, match="invalid choice"):
        build_parser().parse_args(command_words(["/usr/bin/mnemosyne", "no-such-command"]))
    with pytest.raises(CommandLineError, match="unrecognized"):
        build_parser().parse_args(command_words(
            ["/usr/bin/mnemosyne", "serve", "--instance-id", "%i", "--no-such-flag"]))


def test_new_with_a_repository_writes_its_root_and_directory(cli, git_repo, isolated_env):
    result = cli("systemd", "new", "--no-enable", "--instance-id", "a1b2c3d4",
                 "--repo", str(git_repo / "src"), "--args", "--worktree always").ok()
    assert result.stdout == "mnemosyne@a1b2c3d4.service\n"
    env = Path(isolated_env["XDG_CONFIG_HOME"]) / "mnemosyne" / "a1b2c3d4.env"
    assert env.read_text().splitlines()[1:] == [
        'MNEMOSYNE_ARGS="--worktree always"', f"MNEMOSYNE_WORKDIR={git_repo / 'src'}",
        f"MNEMOSYNE_ROOT={git_repo / '.mnemosyne'}"]
    assert env.stat().st_mode & 0o777 == 0o600


def test_new_resolves_a_relative_repository(cli, git_repo, isolated_env):
    cli("systemd", "new", "--no-enable", "--instance-id", "a1b2c3d4", "--repo", "src",
        cwd=git_repo).ok()
    env = Path(isolated_env["XDG_CONFIG_HOME"]) / "mnemosyne" / "a1b2c3d4.env"
    assert f"MNEMOSYNE_WORKDIR={git_repo / 'src'}" in env.read_text().splitlines()


@pytest.mark.parametrize(("repo", "problem"), [("missing", "no such directory"),
                                               ("plain", "not inside a git worktree")])
def test_new_refuses_a_repository_that_is_not_one(cli, tmp_path, isolated_env, repo, problem):
    (tmp_path / "plain").mkdir()
    result = cli("systemd", "new", "--no-enable", "--instance-id", "a1b2c3d4",
                 "--repo", str(tmp_path / repo))
    assert_one_line_error(result, 2, f"--repo {tmp_path / repo}: {problem}")
    assert not (Path(isolated_env["XDG_CONFIG_HOME"]) / "mnemosyne" / "a1b2c3d4.env").exists()


@pytest.mark.parametrize("flags", [["--repo", "."], ["--no-enable"], ["--start"]])
def test_new_only_flags_are_refused_elsewhere(cli, flags):
    assert_one_line_error(cli("systemd", "uninstall", *flags), 2, "go with `systemd new`")


def test_enable_goes_with_install_only(cli):
    assert_one_line_error(cli("systemd", "new", "--enable"), 2,
                          "--enable goes with `systemd install`")


def test_without_systemctl_new_says_so_in_one_line_and_writes_the_file(cli, tmp_path,
                                                                      isolated_env):
    """PATH holds no systemctl: nothing reaches a user manager of this machine."""
    result = cli("systemd", "new", "--start", "--instance-id", "b1b2c3d4",
                 env={"PATH": str(tmp_path / "empty")}).ok()
    assert result.stdout == "mnemosyne@b1b2c3d4.service\n"
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "systemctl not found: run `systemctl --user enable --now " \
           "mnemosyne@b1b2c3d4.service` yourself" in lines[0]
    assert (Path(isolated_env["XDG_CONFIG_HOME"]) / "mnemosyne" / "b1b2c3d4.env").exists()


@pytest.mark.parametrize("flags", [[], ["--enable"]])
def test_install_prints_how_to_enable_the_timer_and_the_target(cli, tmp_path, isolated_env,
                                                               flags):
    """Without --enable, or without systemctl (PATH holds none), the commands are printed."""
    result = cli("systemd", "install", *flags, env={"PATH": str(tmp_path / "empty")}).ok()
    assert "  systemctl --user enable --now mnemosyne-doctor.timer\n" in result.stdout
    assert "  systemctl --user enable mnemosyne.target\n" in result.stdout
    assert "loginctl enable-linger $USER" in result.stdout
    units = Path(isolated_env["XDG_CONFIG_HOME"]) / "systemd" / "user"
    assert (units / "mnemosyne@.service").exists()
