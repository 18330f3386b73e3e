"""Install the systemd user units for this installation, and create instances.

`install` writes the packaged units (mnemosyne@.service, mnemosyne.target, the doctor
service and timer) into the user unit directory with ExecStart pointing at the program that
runs now (for pip and pipx users; distro packages ship the same units under
/usr/lib/systemd/user), then reloads the user manager. `new` makes an instance id and its
environment file `%E/mnemosyne/<id>.env`; `uninstall` removes what `install` wrote.
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

from mnemosyne.coord.identity import new_instance_id, validate_instance_id
from mnemosyne.errors import MnemosyneError, UnavailableError, UsageError

logger = logging.getLogger(__name__)

MARKER = "# Installed by `mnemosyne systemd install`; `mnemosyne systemd uninstall` removes it."
PACKAGED_PROGRAM = "/usr/bin/mnemosyne"


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


def systemctl(*args: str) -> bool:
    """Run `systemctl --user ARGS`; return False (with a warning) if it is unavailable."""
    if shutil.which("systemctl") is None:
        logger.warning("systemctl not found: run `systemctl --user %s` yourself", " ".join(args))
        return False
    result = subprocess.run(["systemctl", "--user", *args], capture_output=True, text=True,
                            check=False)
    if result.returncode != 0:
        raise MnemosyneError(f"systemctl --user {' '.join(args)} failed: "
                             f"{result.stderr.strip() or result.returncode}")
    return True


def install(paths: UnitPaths, reload: bool = True) -> list[Path]:
    """Write the units with this installation's program; return the files written.

    Raises UnavailableError if the unit directory cannot be written.
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
    if reload:
        systemctl("daemon-reload")
    return written


def new_instance(paths: UnitPaths, instance_id: str | None = None, args: str = "",
                 start: bool = False) -> str:
    """Create an instance's environment file; start it if asked; return its unit name.

    Raises UsageError for a bad id, MnemosyneError if systemctl fails.
    """
    instance_id = validate_instance_id(instance_id) if instance_id else new_instance_id()
    if any(character in args for character in "\n\r\0"):
        raise UsageError("--args must be one line: it becomes MNEMOSYNE_ARGS in an env file")
    paths.environment.mkdir(parents=True, exist_ok=True, mode=0o700)
    environment = paths.environment / f"{instance_id}.env"
    environment.write_text(f"MNEMOSYNE_ARGS={args}\n", encoding="utf-8")
    environment.chmod(0o600)
    unit = f"mnemosyne@{instance_id}.service"
    if start:
        systemctl("start", unit)
    return unit


def uninstall(paths: UnitPaths, reload: bool = True) -> list[Path]:
    """Remove the units `install` wrote (and only those); return what was removed."""
    removed = []
    for name in packaged_units():
        target = paths.units / name
        try:
            first_line = target.read_text(encoding="utf-8").split("\n", 1)[0]
        except FileNotFoundError:
            continue
        if first_line == MARKER:
            target.unlink()
            removed.append(target)
        else:
            logger.warning("left %s alone: it was not written by mnemosyne systemd install",
                           target)
    if reload and removed:
        systemctl("daemon-reload")
    return removed
