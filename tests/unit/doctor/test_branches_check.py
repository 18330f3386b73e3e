import time

from mnemosyne.coord import signing
from mnemosyne.coord.branches import BranchRegistry
from mnemosyne.coord.registry import utc_timestamp
from mnemosyne.doctor import branches_check
from tests.unit.doctor.conftest import KEY


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


def test_claims_of_an_unverified_entry_are_kept_even_if_its_pid_is_gone(world):
    world.unverified("33333333")  # may be an instance sharing another secret
    claim(world, "main", "33333333")
    assert [f.status for f in branches_check.run(world.context(fix=True))] == ["ok"]
    assert claims(world) == {"main": ["33333333"]}
