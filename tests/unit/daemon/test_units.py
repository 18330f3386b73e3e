from pathlib import Path

import pytest

from mnemosyne.daemon import units
from mnemosyne.errors import UsageError


def test_install_new_uninstall(tmp_path):
    paths = units.UnitPaths.for_config_dir(tmp_path)
    written = units.install(paths, reload=False)
    assert sorted(path.name for path in written) == sorted(units.packaged_units())
    service = (paths.units / "mnemosyne@.service").read_text()
    assert service.startswith(units.MARKER)
    assert units.PACKAGED_PROGRAM not in service
    assert f"ExecStart={units.program_command()} serve --instance-id %i" in service
    unit = units.new_instance(paths, "a1b2c3d4", args="--worktree always")
    assert unit == "mnemosyne@a1b2c3d4.service"
    env = paths.environment / "a1b2c3d4.env"
    assert env.read_text() == "MNEMOSYNE_ARGS=--worktree always\n"
    assert env.stat().st_mode & 0o777 == 0o600
    (paths.units / "mnemosyne.target").write_text("[Unit]\nDescription=mine\n")  # user's own
    removed = units.uninstall(paths, reload=False)
    assert sorted(path.name for path in removed) == ["mnemosyne-doctor.service",
                                                     "mnemosyne-doctor.timer",
                                                     "mnemosyne@.service"]
    assert (paths.units / "mnemosyne.target").read_text() == "[Unit]\nDescription=mine\n"


def test_new_makes_an_id_and_rejects_bad_ones(tmp_path):
    paths = units.UnitPaths.for_config_dir(tmp_path)
    unit = units.new_instance(paths)
    assert unit.startswith("mnemosyne@") and len(unit) == len("mnemosyne@a1b2c3d4.service")
    with pytest.raises(UsageError):
        units.new_instance(paths, "BAD")
    with pytest.raises(UsageError, match="one line"):
        units.new_instance(paths, "a1b2c3d4", args="x\nMNEMOSYNE_DB_PATH=/elsewhere")
    assert not (paths.environment / "a1b2c3d4.env").exists()


def test_installed_units_match_the_repository_copies():
    repository = Path(__file__).resolve().parents[3] / "systemd"
    assert {path.name: path.read_text() for path in repository.iterdir()} == \
        units.packaged_units()
