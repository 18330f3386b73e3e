from pathlib import Path

import pytest

from mnemosyne.daemon import units
from mnemosyne.errors import UsageError
from tests.helpers import run_git


def test_install_new_uninstall(tmp_path):
    paths = units.UnitPaths.for_config_dir(tmp_path)
    written = units.install(paths, reload=False)
    assert sorted(path.name for path in written) == sorted(units.packaged_units())
    service = (paths.units / "mnemosyne@.service").read_text()
    assert service.startswith(units.MARKER)
    assert units.PACKAGED_PROGRAM not in service
    assert f"ExecStart={units.program_command()} serve --instance-id %i" in service
    made = units.new_instance(paths, "a1b2c3d4", args="--worktree always", enable=False)
    assert made.unit == "mnemosyne@a1b2c3d4.service"
    assert made.environment == paths.environment / "a1b2c3d4.env"
    assert made.environment.read_text().splitlines()[1:] == ['MNEMOSYNE_ARGS="--worktree always"']
    assert made.environment.stat().st_mode & 0o777 == 0o600
    (paths.units / "mnemosyne.target").write_text("[Unit]\nDescription=mine\n")  # user's own
    removed = units.uninstall(paths, reload=False)
    assert sorted(path.name for path in removed) == ["mnemosyne-doctor.service",
                                                     "mnemosyne-doctor.timer",
                                                     "mnemosyne@.service"]
    assert (paths.units / "mnemosyne.target").read_text() == "[Unit]\nDescription=mine\n"


def test_new_makes_an_id_and_rejects_bad_ones(tmp_path):
    paths = units.UnitPaths.for_config_dir(tmp_path)
    made = units.new_instance(paths, enable=False)
    assert made.unit.startswith("mnemosyne@")
    assert len(made.unit) == len("mnemosyne@a1b2c3d4.service")
    with pytest.raises(UsageError):
        units.new_instance(paths, "BAD", enable=False)
    with pytest.raises(UsageError, match="one line"):
        units.new_instance(paths, "a1b2c3d4", args="x\nMNEMOSYNE_DB_PATH=/elsewhere",
                           enable=False)
    assert not (paths.environment / "a1b2c3d4.env").exists()


@pytest.mark.parametrize(("value", "written"), [
    ("/home/me/repo", "/home/me/repo"),
    ("--worktree always", '"--worktree always"'),
    ('/a b/"q"/$HOME/`x`/back\\slash', '"/a b/\\"q\\"/\\$HOME/\\`x\\`/back\\\\slash"'),
])
def test_env_file_values_are_quoted_as_systemd_reads_them(value, written):
    assert units.env_file_value(value) == written


def test_a_repository_gives_its_main_worktrees_root_and_the_directory(git_repo, tmp_path):
    linked = tmp_path / "linked"
    run_git("worktree", "add", "-q", "-b", "side", str(linked), cwd=git_repo)
    environment = units.repository_environment(str(linked / "src"), tmp_path / "state")
    assert environment == {"MNEMOSYNE_WORKDIR": str(linked / "src"),
                           "MNEMOSYNE_ROOT": str(git_repo / ".mnemosyne")}


@pytest.mark.parametrize("repo", ["", "missing", "plain"])
def test_a_repository_must_be_a_directory_in_a_git_worktree(tmp_path, repo):
    (tmp_path / "plain").mkdir()
    with pytest.raises(UsageError, match="--repo"):
        units.repository_environment(str(tmp_path / repo) if repo else "", tmp_path / "state")


def test_the_hints_name_the_exact_commands():
    hints = "\n".join(units.enable_hints())
    assert "systemctl --user enable --now mnemosyne-doctor.timer" in hints
    assert "systemctl --user enable mnemosyne.target" in hints
    assert "loginctl enable-linger $USER" in hints


def test_installed_units_match_the_repository_copies():
    repository = Path(__file__).resolve().parents[3] / "systemd"
    assert {path.name: path.read_text() for path in repository.iterdir()} == \
        units.packaged_units()
