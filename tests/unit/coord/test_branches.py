import pytest

from mnemosyne.coord.branches import BranchRegistry, validate_branch_name
from mnemosyne.coord.coordinator import CrossProcessCoordinator
from mnemosyne.coord.root import prepare_root
from mnemosyne.errors import ConflictError, UsageError

KEY = b"k" * 32


class Clock:
    now = 1_800_000_000.0

    def __call__(self):
        return self.now


@pytest.fixture
def setup(tmp_path):
    root = prepare_root(tmp_path / "coord", start=tmp_path)
    clock = Clock()
    alice = CrossProcessCoordinator(root, "aaaaaaaa", KEY, clock=clock)
    bob = CrossProcessCoordinator(root, "bbbbbbbb", KEY, clock=clock)
    alice.register()
    bob.register()
    yield BranchRegistry(alice.registry), alice, bob, clock
    alice.unregister()
    bob.unregister()


@pytest.mark.parametrize(("first", "second", "allowed"), [
    (("isolated", "full"), ("isolated", "write"), False),
    (("isolated", "write"), ("coordinated", "write"), False),
    (("coordinated", "write"), ("isolated", "full"), False),
    (("coordinated", "write"), ("coordinated", "full"), True),
    (("isolated", "full"), ("isolated", "read-only"), True),
    (("isolated", "read-only"), ("isolated", "full"), True),
    (("coordinated", "read-only"), ("coordinated", "read-only"), True),
])
def test_conflict_rules(setup, first, second, allowed):
    branches, *_ = setup
    branches.claim("feature", "aaaaaaaa", *first)
    if allowed:
        branches.claim("feature", "bbbbbbbb", *second)
        assert len(branches.assignments()["feature"]) == 2
    else:
        with pytest.raises(ConflictError, match="feature is assigned to instance aaaaaaaa"):
            branches.claim("feature", "bbbbbbbb", *second)


def test_reclaim_replaces_and_release_frees(setup):
    branches, *_ = setup
    branches.claim("main", "aaaaaaaa", "coordinated", "write")
    branches.claim("main", "aaaaaaaa", "isolated", "full")
    assert [(c["mode"], c["verified"]) for c in branches.assignments()["main"]] == [
        ("isolated", True)]
    assert branches.release("aaaaaaaa") == 1
    branches.claim("main", "bbbbbbbb", "isolated", "full")


def test_expired_assignments_are_released(setup):
    branches, _, _, clock = setup
    branches.claim("topic", "aaaaaaaa", ttl_s=60)
    clock.now += 61
    assert branches.assignments() == {}
    branches.claim("topic", "bbbbbbbb")


def test_dead_instances_assignments_are_released(setup):
    branches, alice, *_ = setup
    branches.claim("topic", "deadbeef")  # no such instance: no lock, no live process
    assert branches.assignments() == {}
    branches.claim("topic", "aaaaaaaa")
    alice.unregister()  # lock released and entry gone: provably dead
    branches.claim("topic", "bbbbbbbb")


@pytest.mark.parametrize("name", ["", "-x", "a..b", "a b", "a~1", "x.lock", "a/", "/a", "@",
                                  "a//b", "a@{1}", "a/.b", "tab\tname"])
def test_invalid_branch_names(name):
    with pytest.raises(UsageError, match="invalid branch name"):
        validate_branch_name(name)


@pytest.mark.parametrize("name", ["main", "feature/x-1", "mnemosyne/a1b2c3d4", "v1.2"])
def test_valid_branch_names(name):
    assert validate_branch_name(name) == name


def test_bad_mode_and_intent(setup):
    branches, *_ = setup
    with pytest.raises(UsageError, match="invalid mode"):
        branches.claim("x", "aaaaaaaa", mode="solo")
    with pytest.raises(UsageError, match="invalid intent"):
        branches.claim("x", "aaaaaaaa", intent="destroy")


def test_invalid_assignments_are_ignored_and_set_aside(setup):
    import json  # noqa: PLC0415

    branches, alice, _bob, _clock = setup
    claim = alice.claim_branch("main")
    path = alice.root.path / "branch_registry.json"
    data = json.loads(path.read_text())
    data["branches"]["other"] = [claim]  # filed under another branch
    data["branches"]["main"].append({**claim, "mode": "sideways"})
    path.write_text(json.dumps(data))
    assert list(branches.assignments()) == ["main"]
    assert len(branches.assignments()["main"]) == 1
    branches.release("bbbbbbbb")
    assert len(list(alice.root.path.glob("branch_registry.json.invalid-*"))) == 1
