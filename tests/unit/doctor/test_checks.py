from mnemosyne.doctor import checks
from mnemosyne.doctor.findings import Finding


def test_every_check_is_listed_once_with_a_one_line_purpose():
    names = [check.name for check in checks.CHECKS]
    assert names == ["root", "registry", "branches", "queue", "worktrees", "api", "systemd",
                     "config"]
    assert checks.CHECKS_BY_NAME.keys() == set(names)
    for check in checks.CHECKS:
        assert check.purpose and "\n" not in check.purpose and len(check.purpose) < 100


def test_the_user_wide_checks_run_after_the_per_root_ones():
    per_root = [check.per_root for check in checks.CHECKS]
    assert per_root == sorted(per_root, reverse=True)
    assert {check.name for check in checks.CHECKS if not check.per_root} == {"systemd",
                                                                             "config"}


def test_the_stale_side_is_the_registry_side_only():
    assert {check.name for check in checks.CHECKS if check.stale_side} == {
        "registry", "branches", "queue"}


def test_each_check_runs_on_an_empty_root(world):
    for check in checks.CHECKS:
        if check.name == "systemd":
            continue  # needs no root, and may talk to a user manager: see its own tests
        context = world.context(root=check.per_root)
        findings = check.run(context)
        assert findings and all(isinstance(finding, Finding) for finding in findings)
        assert all(finding.check == check.name for finding in findings)
        assert {finding.status for finding in findings} <= {"ok", "skipped"}
