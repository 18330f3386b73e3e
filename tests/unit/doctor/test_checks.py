from mnemosyne.doctor import checks
from mnemosyne.doctor.findings import Finding

PER_ROOT = ["root", "registry", "branches", "queue", "worktrees", "review-worktrees", "api"]
USER_WIDE = {"systemd", "config"}  # and "database", where that check is present


def test_every_check_is_listed_once_with_a_one_line_purpose():
    names = [check.name for check in checks.CHECKS]
    assert len(names) == len(set(names)) and checks.CHECKS_BY_NAME.keys() == set(names)
    assert [name for name in names if name in PER_ROOT] == PER_ROOT
    assert set(names) >= USER_WIDE
    for check in checks.CHECKS:
        assert check.purpose and "\n" not in check.purpose and len(check.purpose) < 100


def test_the_user_wide_checks_run_after_the_per_root_ones():
    per_root = [check.per_root for check in checks.CHECKS]
    assert per_root == sorted(per_root, reverse=True)
    assert [check.name for check in checks.CHECKS if check.per_root] == PER_ROOT
    assert {check.name for check in checks.CHECKS if not check.per_root} >= USER_WIDE


def test_the_stale_side_is_the_registry_side_only():
    assert {check.name for check in checks.CHECKS if check.stale_side} == {
        "registry", "branches", "queue"}


def test_each_per_root_check_and_the_config_check_run_on_an_empty_root(world):
    for check in checks.CHECKS:
        if check.name not in [*PER_ROOT, "config"]:
            continue  # systemd may talk to a user manager, database needs one: own tests
        findings = check.run(world.context(root=check.per_root))
        assert findings and all(isinstance(finding, Finding) for finding in findings)
        assert all(finding.check == check.name for finding in findings)
        assert {finding.status for finding in findings} <= {"ok", "skipped"}
