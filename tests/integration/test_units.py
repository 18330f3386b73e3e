"""The unit files in systemd/ pass `systemd-analyze --user verify` without a single warning."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

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
