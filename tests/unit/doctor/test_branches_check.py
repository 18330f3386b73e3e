import json
import os
import time

from mnemosyne.coord import signing
from mnemosyne.coord.branches import BranchRegistry
from mnemosyne.coord.registry import utc_timestamp
from mnemosyne.doctor import branches_check
from tests.helpers import run_git
from tests.unit.doctor.conftest import KEY, snapshot


def claims(world):
    document = BranchRegistry(world.registry()).document.read()
    return {branch: sorted(claim["instance_id"] for claim in held)
            for branch, held in document["branches"].items()}


def claim(world, branch, instance_id, ttl_s=None):
    """Add a signed claim as an instance once made it (without pruning the others meanwhile)."""
    now = time.time()
    held = signing.signed({"instance_id": instance_id, "branch": branch, "mode": "coordinated",
                           "intent": "read-only", "assigned_at": utc_timestamp(now),
                           "expires_at": None if ttl_s is None else utc_timestamp(now + ttl_s)},
                          KEY)

    def change(data):
        data["branches"].setdefault(branch, []).append(held)

    BranchRegistry(world.registry()).document.update(change)


def test_claims_of_running_instances_are_ok(world):
    world.live("11111111")
    claim(world, "main", "11111111")
    findings = branches_check.run(world.context(fix=True))
    assert [f.status for f in findings] == ["ok"]
    assert claims(world) == {"main": ["11111111"]}


def populate(world):
    world.live("11111111")
    world.hung("22222222")
    world.unverified("33333333")
    world.dead("44444444")
    world.hold_lock("66666666")
    for instance_id in ("11111111", "22222222", "33333333", "44444444", "55555555",
                        "66666666"):
        claim(world, "main", instance_id)
    claim(world, "feature", "11111111", ttl_s=-10)  # expired


def test_report_only_names_stale_claims_and_changes_nothing(world):
    populate(world)
    before = snapshot(world.root.path)
    findings = branches_check.run(world.context())
    assert snapshot(world.root.path) == before
    assert [f.status for f in findings] == ["problem"]
    described = findings[0].details["claims"]
    assert sorted(described) == ["feature (11111111: expired)",
                                 "main (44444444: its instance is gone)",
                                 "main (55555555: its instance is gone)"]


def test_cleanup_stale_releases_only_claims_of_gone_instances_and_expired_ones(world):
    populate(world)
    findings = branches_check.run(world.context(cleanup_stale=True))
    assert [f.status for f in findings] == ["fixed"]
    assert "released 3 stale branch claim(s)" in findings[0].message
    assert claims(world) == {"main": ["11111111", "22222222", "33333333", "66666666"]}
    assert [f.status for f in branches_check.run(world.context(fix=True))] == ["ok"]


def test_git_branches_are_never_touched(git_world, git_repo):
    run_git("branch", "mnemosyne/44444444", cwd=git_repo)
    git_world.dead("44444444")
    claim(git_world, "mnemosyne/44444444", "44444444")
    branches_check.run(git_world.context(fix=True))
    assert "mnemosyne/44444444" in run_git("branch", "--list", cwd=git_repo)


def test_a_corrupt_branch_registry_is_set_aside_only_by_a_fix(world):
    path = world.root.path / "branch_registry.json"
    path.write_bytes(b"\xff" * 10)
    findings = branches_check.run(world.context())
    assert [f.status for f in findings] == ["problem"]
    assert "branch_registry.json is unusable" in findings[0].message
    assert path.read_bytes() == b"\xff" * 10
    findings = branches_check.run(world.context(cleanup_stale=True))
    assert [f.status for f in findings] == ["fixed"]
    assert findings[0].message.startswith("set aside:")
    assert list(world.root.path.glob("branch_registry.json.corrupt-*"))
    assert json.loads(path.read_text())["branches"] == {}


def test_hostile_branch_registries_are_findings(world, tmp_path):
    path = world.root.path / "branch_registry.json"
    outside = tmp_path / "outside.json"
    outside.write_text('{"version": 1, "branches": {}}')
    path.symlink_to(outside)
    assert [f.status for f in branches_check.run(world.context())] == ["problem"]
    branches_check.run(world.context(fix=True))
    assert outside.read_text() == '{"version": 1, "branches": {}}'
    assert not path.is_symlink()
    path.unlink()
    path.mkdir()
    assert [f.status for f in branches_check.run(world.context())] == ["problem"]
    path.rmdir()
    os.mkfifo(path)
    assert [f.status for f in branches_check.run(world.context())] == ["problem"]


def test_claims_naming_odd_instance_ids_are_dropped_not_crashed_on(world):
    path = world.root.path / "branch_registry.json"
    path.write_text(json.dumps({"version": 1, "branches": {
        "main": [{"instance_id": "../../etc", "branch": "main"}]}}))
    findings = branches_check.run(world.context())
    assert findings and all(f.status in ("ok", "problem") for f in findings)


def test_claims_of_an_unverified_entry_are_kept_even_if_its_pid_is_gone(world):
    world.unverified("33333333")  # may be an instance sharing another secret
    claim(world, "main", "33333333")
    assert [f.status for f in branches_check.run(world.context(fix=True))] == ["ok"]
    assert claims(world) == {"main": ["33333333"]}
