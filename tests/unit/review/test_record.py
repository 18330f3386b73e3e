import json
import time

import pytest

from mnemosyne.coord.coordinator import CrossProcessCoordinator
from mnemosyne.coord.queue import MessageQueue
from mnemosyne.coord.registry import ProcessRegistry
from mnemosyne.coord.root import prepare_root
from mnemosyne.errors import UnsafeError
from mnemosyne.review import record

KEY = b"k" * 32
SHA = "a" * 40


@pytest.fixture
def root(tmp_path):
    return prepare_root(tmp_path / "coord", start=tmp_path)


def result(**changes):
    fields = {"sha": SHA, "branches": ("mnemosyne/aaaaaaaa",), "passed": False,
              "check": "make test", "exit_status": 2, "timed_out": False, "duration_s": 1.5,
              "output": "x" * 2000 + "last line", "markers": ("a.py:1: TODO: x",),
              "marker_count": 1}
    return record.ReviewResult(**{**fields, **changes})


def test_a_claim_is_exclusive_and_free_once_released(root):
    with record.holding_claim(root.path, SHA) as first:
        assert first
        with record.holding_claim(root.path, SHA) as second:
            assert not second
    with record.holding_claim(root.path, SHA) as again:
        assert again
    with record.holding_claim(root.path, "b" * 40, create=False) as unmade:
        assert unmade
    assert not (root.path / "reviews" / "claims" / f"{'b' * 40}.lock").exists()


def test_reviewed_before_by_the_memory_or_the_marker(root, store):
    assert not record.reviewed_before(root.path, store, SHA)
    memory_id = record.store_result(store, result(), "project:p")
    assert record.stored_review(store, SHA) == memory_id
    assert record.reviewed_before(root.path, store, SHA)
    assert record.done_marker(root.path, SHA) == memory_id  # written when found
    other = "b" * 40
    record.mark_done(root.path, other, "some-id")
    assert record.reviewed_before(root.path, store, other)


def test_the_memory(store):
    memory = store.get(record.store_result(store, result(), "project:p"))
    assert memory.memory_type == "review" and memory.importance == 7
    assert memory.tags == ("review", "fail", f"commit:{SHA}", f"commit:{SHA[:12]}",
                           "branch:mnemosyne/aaaaaaaa")
    assert memory.summary.startswith("review FAILED: aaaaaaaaaaaa on mnemosyne/aaaaaaaa")
    assert "a.py:1: TODO: x" in memory.content and memory.content.endswith("last line")


def test_a_branch_too_long_for_a_tag_is_left_out_of_the_tags():
    tags = record.memory_tags(result(branches=("mnemosyne/" + "x" * 80,), passed=True))
    assert tags == ["review", "pass", f"commit:{SHA}", f"commit:{SHA[:12]}"]


def test_the_headline_says_how_it_ended():
    assert "timed out" in result(timed_out=True, exit_status=None).headline()
    assert "no check configured" in result(check=None, passed=True).headline()
    assert result().to_dict()["result"] == "fail"


@pytest.mark.parametrize("cap", [600, 1024, 4096])
def test_the_message_payload_fits_the_cap(cap):
    payload = record.message_payload(result(branches=tuple(f"b{i}" for i in range(9))), cap)
    body = json.dumps(payload, separators=(",", ":")).encode()
    assert len(body) + record.ENVELOPE_BYTES <= cap
    assert payload["output_tail"].endswith("last line") or not payload["output_tail"]


def test_the_instance_on_the_branch_is_messaged(root):
    working = CrossProcessCoordinator(root, "bbbbbbbb", KEY)
    working.register()
    reader = CrossProcessCoordinator(root, "cccccccc", KEY)
    reader.register(branch="mnemosyne/other")
    try:
        working.claim_branch("mnemosyne/aaaaaaaa")
        reader.claim_branch("mnemosyne/aaaaaaaa", "coordinated", "read-only")
        registry = ProcessRegistry(root, KEY, 30.0, time.time)
        assert record.recipients(registry, ["mnemosyne/aaaaaaaa"]) == ["bbbbbbbb"]
        assert record.recipients(registry, ["mnemosyne/other"]) == ["cccccccc"]
        queue = MessageQueue(root, "dddddddd", KEY, max_bytes=1024, ttl_s=60)
        assert record.notify(queue, registry, result()) == ("bbbbbbbb",)
        [message] = working.receive_messages()
        assert message.message_type == "ReviewResult" and message.payload["commit"] == SHA
        assert reader.receive_messages() == []
    finally:
        working.unregister()
        reader.unregister()


def test_a_linked_reviews_directory_is_refused(root, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (root.path / "reviews").symlink_to(elsewhere)
    with pytest.raises(UnsafeError, match="symbolic link"):
        record.review_directory(root.path, "claims")
    with record.holding_claim(root.path, SHA, create=False) as free:
        assert free  # no claim file through the link: nothing there to judge
    assert list(elsewhere.iterdir()) == []


def test_the_claim_file_of_a_done_commit_can_go_while_held(root):
    claims = root.path / "reviews" / "claims"
    with record.holding_claim(root.path, SHA) as held:
        assert held
        record.mark_done(root.path, SHA, "memory-id")
        record.drop_claim_file(root.path, SHA)
    assert not (claims / f"{SHA}.lock").exists()
    assert record.done_marker(root.path, SHA) == "memory-id"
