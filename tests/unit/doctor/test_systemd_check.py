"""The systemd check without a user manager: no test here starts or talks to systemd.

Runs that could reach a manager are made in a child process whose environment names no bus
and (where a fix would call systemctl) whose PATH has no systemctl.
"""

import json
import os
import subprocess
import sys

import pytest

from mnemosyne.daemon import units
from mnemosyne.doctor import systemd_check

CHILD = """
import json, sys, time
from mnemosyne.config import resolve_settings
from mnemosyne.doctor import systemd_check
from mnemosyne.doctor.context import Context, Run
settings = resolve_settings(environ={"XDG_CONFIG_HOME": sys.argv[1]}, lenient=True)
run = Run(settings, b"k" * 32, fix=sys.argv[2] == "fix")
what = sys.argv[3]
context = Context(run)
if what == "run":
    findings = systemd_check.run(context)
elif what == "failed":
    findings = systemd_check._failed(context, ["mnemosyne@a1b2c3d4.service"])
else:
    findings = getattr(systemd_check, "_" + what)(context)
print(json.dumps([[f.status, f.message] for f in findings]))
"""


def child(config_home, mode, what, path=None):
    env = {key: value for key, value in os.environ.items()
           if key not in ("XDG_RUNTIME_DIR", "DBUS_SESSION_BUS_ADDRESS")
           and not key.startswith("MNEMOSYNE_")}
    if path is not None:
        env["PATH"] = str(path)
    done = subprocess.run([sys.executable, "-c", CHILD, str(config_home), mode, what],
                          capture_output=True, text=True, env=env, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return [tuple(item) for item in json.loads(done.stdout)]


@pytest.fixture
def no_systemctl(tmp_path):
    empty = tmp_path / "empty-path"
    empty.mkdir()
    return empty


def install_units(world):
    paths = units.UnitPaths.for_config_dir(world.settings.config_dir.parent)
    units.install(paths, reload=False)
    return paths


def test_unit_files_that_are_not_ours_or_unreadable_are_left_alone(world):
    paths = install_units(world)
    (paths.units / "mnemosyne@.service").write_text("[Service]\nExecStart=/my/own\n")
    (paths.units / "mnemosyne.target").unlink()
    (paths.units / "mnemosyne.target").mkdir()
    doctor_service = paths.units / "mnemosyne-doctor.service"
    doctor_service.unlink()
    os.mkfifo(doctor_service)
    assert systemd_check._unit_files(world.context(fix=True, root=False)) == []
    assert (paths.units / "mnemosyne@.service").read_text() == "[Service]\nExecStart=/my/own\n"


