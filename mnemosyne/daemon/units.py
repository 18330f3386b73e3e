"""Install the systemd user units for this installation, and create instances.

`install` writes the packaged units (mnemosyne@.service, mnemosyne.target, the doctor
service and timer) into the user unit directory with ExecStart pointing at the program that
runs now (for pip and pipx users; distro packages ship the same units under
/usr/lib/systemd/user), then reloads the user manager; `install --enable` also enables the
doctor timer and mnemosyne.target. `new` makes an instance id and its environment file
`%E/mnemosyne/<id>.env` (for `--repo DIR`: MNEMOSYNE_WORKDIR, which `serve` moves into, since
WorkingDirectory= cannot come from a variable, and MNEMOSYNE_ROOT, the repository's root),
then enables the instance under mnemosyne.target; `uninstall` removes what `install` wrote.
Must not: touch units it did not write (a file without our marker line is left alone).
"""

from __future__ import annotations

import dataclasses
import logging
import shlex
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path

from mnemosyne.atomicfile import atomic_output
from mnemosyne.coord.identity import new_instance_id, validate_instance_id
from mnemosyne.coord.root import choose_root_path, locate_git
from mnemosyne.errors import MnemosyneError, UnavailableError, UsageError

logger = logging.getLogger(__name__)

MARKER = "# Installed by `mnemosyne systemd install`; `mnemosyne systemd uninstall` removes it."
PACKAGED_PROGRAM = "/usr/bin/mnemosyne"
TARGET = "mnemosyne.target"
TIMER = "mnemosyne-doctor.timer"
ENABLE_COMMANDS = (("enable", "--now", TIMER), ("enable", TARGET))
SAFE_ENV_CHARACTERS = "/._,:@%+=-"


@dataclasses.dataclass(frozen=True)
class UnitPaths:
    """Where the user's units and per-instance environment files live."""

    units: Path
    environment: Path

    @classmethod
    def for_config_dir(cls, config_home: Path) -> UnitPaths:
        """Return the paths under *config_home* (`$XDG_CONFIG_HOME`, `%E` in units)."""
        return cls(config_home / "systemd" / "user", config_home / "mnemosyne")


def program_command() -> str:
    """Return how systemd should start this installation of mnemosyne (absolute)."""
    script = Path(sys.argv[0])
    if script.name == "mnemosyne" and script.exists():
        return shlex.quote(str(script.resolve()))
    return f"{shlex.quote(sys.executable)} -m mnemosyne"


def packaged_units() -> dict[str, str]:
    """Return the unit files shipped inside the package, by name."""
    folder = resources.files("mnemosyne.daemon").joinpath("unitfiles")
    return {item.name: item.read_text("utf-8") for item in folder.iterdir() if item.is_file()}


def rendered_units() -> dict[str, str]:
    """Return the unit files as `install` writes them (marker line, this program), by name."""
    command = program_command()
    return {name: f"{MARKER}\n{text.replace(PACKAGED_PROGRAM, command)}"
            for name, text in packaged_units().items()}


def systemctl_available() -> bool:
    """Return True if `systemctl` is on PATH."""
    return shutil.which("systemctl") is not None


def systemctl(*args: str) -> bool:
    """Run `systemctl --user ARGS`; return False (with a one-line warning) without systemctl.

    Raises MnemosyneError if systemctl fails.
    """
    if not systemctl_available():
        logger.warning("systemctl not found: run `systemctl --user %s` yourself",
                       " ".join(args))
        return False
    result = subprocess.run(["systemctl", "--user", *args], capture_output=True, text=True,
                            check=False)
    if result.returncode != 0:
        raise MnemosyneError(f"systemctl --user {' '.join(args)} failed: "
                             f"{result.stderr.strip() or result.returncode}")
    return True


def is_enabled(unit: str) -> bool | None:
    """Return whether *unit* is enabled, or None if systemctl cannot tell."""
    if not systemctl_available():
        return None
    result = subprocess.run(["systemctl", "--user", "is-enabled", unit], capture_output=True,
                            text=True, check=False)
    state = result.stdout.strip()
    return state in ("enabled", "enabled-runtime", "static", "alias") if state else None


def install(paths: UnitPaths, reload: bool = True, enable: bool = False) -> list[Path]:
    """Write the units with this installation's program; return the files written.

    With *enable*, also enable and start the doctor timer and enable mnemosyne.target, so
    that enabled instances start at login. Raises UnavailableError if the unit directory
    cannot be written, MnemosyneError if systemctl fails.
    """
    written = []
    try:
        paths.units.mkdir(parents=True, exist_ok=True)
        for name, text in rendered_units().items():
            target = paths.units / name
            target.write_text(text, encoding="utf-8")
            written.append(target)
    except OSError as error:
        raise UnavailableError(f"cannot write units into {paths.units}: "
                               f"{error.strerror or error}", error.errno) from None
    if reload and systemctl("daemon-reload") and enable:
        for arguments in ENABLE_COMMANDS:
            systemctl(*arguments)
    return written


def enable_hints() -> list[str]:
    """Return the lines that tell how to enable what `install --enable` would."""
    commands = [f"  systemctl --user {' '.join(arguments)}" for arguments in ENABLE_COMMANDS]
    return ["To run the doctor regularly and start enabled instances at login:", *commands,
            "(or `mnemosyne systemd install --enable`; to start them at boot, without "
            "logging in: loginctl enable-linger $USER)"]


def env_file_value(value: str) -> str:
    """Quote *value* for a systemd environment file (double quotes, backslash escapes).

    Raises UsageError if it holds a line break or NUL, which no env file line can.
    """
    if any(character in value for character in "\n\r\0"):
        raise UsageError(f"{value!r} must be one line: it goes into an environment file")
    if value and all(character.isalnum() or character in SAFE_ENV_CHARACTERS
                     for character in value):
        return value
    return '"' + "".join(f"\\{c}" if c in '"\\`$' else c for c in value) + '"'


def repository_environment(repo: str, state_dir: Path) -> dict[str, str]:
    """Return MNEMOSYNE_WORKDIR and MNEMOSYNE_ROOT for an instance serving *repo*.

    The root is the one `serve` would choose started in *repo*: `.mnemosyne` at the top of
    its main worktree. Raises UsageError if *repo* is not a directory inside a git worktree.
    """
    directory = Path(repo).expanduser().absolute()
    if not repo or not directory.is_dir():
        raise UsageError(f"--repo {repo}: no such directory")
    if locate_git(directory) is None:
        raise UsageError(f"--repo {repo}: not inside a git worktree")
    root = choose_root_path(None, directory, state_dir)
    return {"MNEMOSYNE_WORKDIR": str(directory), "MNEMOSYNE_ROOT": str(root)}


@dataclasses.dataclass(frozen=True)
class NewInstance:
    """What `systemd new` made: the unit, its environment file, and notes for the user."""

    unit: str
    environment: Path
    notes: tuple[str, ...] = ()


def new_instance(paths: UnitPaths, instance_id: str | None = None, args: str = "", *,
                 start: bool = False, enable: bool = True,
                 environment: dict[str, str] | None = None) -> NewInstance:
    """Write an instance's environment file; enable and start it as asked.

    *environment* adds variables (e.g. from repository_environment). Enabling hangs the
    instance under mnemosyne.target, so that it starts again at the next login. Without
    systemctl, a warning says so and the file is still written.
    Raises UsageError for a bad id or value, UnavailableError if the file cannot be written,
    MnemosyneError if systemctl fails.
    """
    instance_id = validate_instance_id(instance_id) if instance_id else new_instance_id()
    lines = [f"# Written by `mnemosyne systemd new` for mnemosyne@{instance_id}.service."]
    for name, value in {"MNEMOSYNE_ARGS": args, **(environment or {})}.items():
        quoted = env_file_value(value) if value else ""
        lines.append(f"{name}={quoted}")
    target = paths.environment / f"{instance_id}.env"
    try:
        paths.environment.mkdir(parents=True, exist_ok=True, mode=0o700)
        with atomic_output(target) as stream:
            stream.write("\n".join(lines) + "\n")
    except OSError as error:
        raise UnavailableError(f"cannot write {target}: {error.strerror or error}",
                               error.errno) from None
    unit = f"mnemosyne@{instance_id}.service"
    verbs = (["enable", "--now"] if start else ["enable"]) if enable else \
        (["start"] if start else [])
    notes: list[str] = []
    if verbs and systemctl(*verbs, unit) and enable and is_enabled(TARGET) is False:
        notes.append(f"{TARGET} is not enabled, so {unit} will not start at login: "
                     f"systemctl --user enable {TARGET}")
    return NewInstance(unit, target, tuple(notes))


def uninstall(paths: UnitPaths, reload: bool = True) -> list[Path]:
    """Remove the units `install` wrote (and only those); return what was removed.

    The doctor timer and mnemosyne.target are disabled first (the timer stopped), so that no
    link to a removed unit is left; running instances keep running.
    """
    ours = [name for name in packaged_units() if _written_by_us(paths.units / name)]
    for name in sorted(set(packaged_units()) - set(ours)):
        if (paths.units / name).exists():
            logger.warning("left %s alone: it was not written by mnemosyne systemd install",
                           paths.units / name)
    if reload:
        for arguments in (("disable", "--now", TIMER), ("disable", TARGET)):
            if arguments[-1] in ours and is_enabled(arguments[-1]):
                systemctl(*arguments)
    removed = []
    for name in ours:
        (paths.units / name).unlink()
        removed.append(paths.units / name)
    if reload and removed:
        systemctl("daemon-reload")
    return removed


def _written_by_us(path: Path) -> bool:
    try:
        return path.read_text(encoding="utf-8").split("\n", 1)[0] == MARKER
    except OSError:
        return False
