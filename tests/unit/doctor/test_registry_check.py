import json
import os
import time

from mnemosyne.doctor import registry_check
from tests.unit.doctor.conftest import snapshot

DAY_S = 86400


def statuses(findings):
    return [(finding.status, finding.message) for finding in findings]


def ids(world):
    return set(world.registry().entries())


def test_live_instances_are_ok(world):
    world.live("11111111")
    findings = registry_check.run(world.context(fix=True))
    assert statuses(findings) == [("ok", "1 live instance(s)")]
    assert findings[0].details["ids"] == ["11111111"]


def populate(world):
    world.live("11111111")
    world.hung("22222222")
    world.unverified("33333333")
    world.dead("44444444")
    world.dead("55555555")
    world.hold_lock("55555555")  # dead PID, but its lock is held: not provably dead
    world.register("66666666", world.dead_pid(), start_time=1, hostname="elsewhere",
                   heartbeat_age_s=1000)


def test_report_only_names_dead_hung_unverified_and_changes_nothing(world):
    populate(world)
    before = snapshot(world.root.path)
    findings = registry_check.run(world.context())
    assert snapshot(world.root.path) == before
    text = statuses(findings)
    assert ("problem", "1 dead instance entry (process gone): 44444444") in text
    assert any(status == "warn" and "22222222" in message and "hung" in message
               for status, message in text)
    assert any(status == "warn" and "33333333" in message and "does not verify" in message
               for status, message in text)
    assert any(status == "warn" and "66666666" in message and "on host elsewhere" in message
               for status, message in text)
    assert not any("55555555" in message and status != "warn" for status, message in text)


def test_cleanup_stale_removes_only_the_provably_dead(world):
    populate(world)
    findings = registry_check.run(world.context(cleanup_stale=True))
    assert ("fixed", "removed 1 dead instance entry: 44444444") in statuses(findings)
    assert ids(world) == {"11111111", "22222222", "33333333", "55555555", "66666666"}
    again = registry_check.run(world.context(fix=True))
    assert not [f for f in again if f.status in ("fixed", "problem")]


def test_an_instance_that_comes_back_before_the_fix_is_kept(world):
    world.dead("44444444")
    context = world.context(cleanup_stale=True)
    assert context.views()[0].state == "dead"  # judged, then its lock is taken
    world.hold_lock("44444444")
    findings = registry_check.run(context)
    assert not [f for f in findings if f.status == "fixed"]
    assert ids(world) == {"44444444"}


def test_a_corrupt_registry_is_set_aside_only_by_a_fix(world):
    world.live("11111111")
    path = world.root.path / "process_registry.json"
    path.write_bytes(b"{not json")
    findings = registry_check.run(world.context())
    assert any(status == "problem" and "process_registry.json is unusable" in message
               for status, message in statuses(findings))
    assert path.read_bytes() == b"{not json"
    findings = registry_check.run(world.context(cleanup_stale=True))
    assert any(status == "fixed" and message.startswith("set aside:")
               for status, message in statuses(findings))
    assert list(world.root.path.glob("process_registry.json.corrupt-*"))


def test_hostile_registry_files_are_findings(world, tmp_path):
    path = world.root.path / "process_registry.json"
    outside = tmp_path / "elsewhere.json"
    outside.write_text('{"instances": {}}')
    path.symlink_to(outside)
    findings = registry_check.run(world.context())
    assert any(status == "problem" for status, _ in statuses(findings))
    path.unlink()
    os.mkfifo(path)
    assert any(status == "problem" for status, _ in statuses(registry_check.run(world.context())))
    path.unlink()
    path.mkdir()
    assert any(status == "problem" for status, _ in statuses(registry_check.run(world.context())))
    assert outside.read_text() == '{"instances": {}}'


def test_set_aside_copies_are_kept_a_week_then_removed_by_fix(world):
    young = world.root.path / "process_registry.json.corrupt-20260101T000000Z"
    old = world.root.path / "branch_registry.json.invalid-20250101T000000Z"
    young.write_text("x")
    old.write_text("y")
    os.utime(old, (time.time() - 8 * DAY_S,) * 2)
    found = statuses(registry_check.run(world.context(cleanup_stale=True)))
    assert any(status == "kept" and young.name in message for status, message in found)
    assert any(status == "problem" and old.name in message for status, message in found)
    assert old.exists()  # removing copies is a repair, not stale cleanup
    found = statuses(registry_check.run(world.context(fix=True)))
    assert any(status == "fixed" and old.name in message for status, message in found)
    assert not old.exists() and young.exists()


def test_an_old_set_aside_directory_or_link_is_never_followed(world, tmp_path):
    target = tmp_path / "precious"
    target.write_text("keep")
    link = world.root.path / "process_registry.json.corrupt-20250101T000000Z"
    link.symlink_to(target)
    directory = world.root.path / "process_registry.json.corrupt-20250102T000000Z"
    directory.mkdir()
    for path in (link, directory):
        os.utime(path, (time.time() - 8 * DAY_S,) * 2, follow_symlinks=False)
    registry_check.run(world.context(fix=True))
    assert target.read_text() == "keep"
    assert not os.path.lexists(link)
    assert directory.is_dir()


def test_a_registry_that_is_a_link_is_set_aside_never_written_through(world, tmp_path):
    outside = tmp_path / "elsewhere.json"
    outside.write_text('{"instances": {}}')
    path = world.root.path / "process_registry.json"
    path.symlink_to(outside)
    findings = registry_check.run(world.context(cleanup_stale=True))
    assert any(status == "fixed" for status, _ in statuses(findings))
    assert outside.read_text() == '{"instances": {}}'
    assert not path.is_symlink()
    assert [p.is_symlink() for p in world.root.path.glob("process_registry.json.corrupt-*")] \
        == [True]


def test_entries_filed_under_names_that_are_not_ids_are_set_aside_by_the_fix(world):
    world.live("11111111")
    path = world.root.path / "process_registry.json"
    data = json.loads(path.read_text())
    data["instances"]["../../etc"] = {**data["instances"]["11111111"], "instance_id": "../../etc"}
    data["instances"]["22222222"] = ["not", "an", "entry"]
    path.write_text(json.dumps(data))
    before = snapshot(world.root.path)
    findings = registry_check.run(world.context())
    assert snapshot(world.root.path) == before
    assert ("ok", "1 live instance(s)") in statuses(findings)
    registry_check.run(world.context(cleanup_stale=True))
    assert set(json.loads(path.read_text())["instances"]) == {"11111111"}
    assert list(world.root.path.glob("process_registry.json.invalid-*"))
