"""The upkeep rules: near-duplicate text, the survivor, idle thresholds."""

import dataclasses
import datetime

from mnemosyne.optimize import rules
from mnemosyne.store.model import new_memory


def memory(**changes):
    made = new_memory("x", namespace="global", importance=5, tags=None, memory_type="note",
                      summary=None, max_content_bytes=65536)
    return dataclasses.replace(made, **changes)


def test_near_duplicates_share_their_normalised_text():
    assert rules.normalise("Use `make test`!") == rules.normalise("use  make test") \
        == "use make test"
    assert rules.normalise("\uff35\uff33\uff25 Make\u00a0Test.") == "use make test"  # NFKC
    assert rules.normalise("use make tests") != rules.normalise("use make test")
    assert rules.normalise(" ... ") == ""


def test_the_survivor_is_the_most_important_then_used_then_oldest():
    a = memory(importance=5, access_count=9, created_at="2026-01-02T00:00:00.000000Z")
    b = memory(importance=7, access_count=0, created_at="2026-01-03T00:00:00.000000Z")
    c = memory(importance=7, access_count=0, created_at="2026-01-01T00:00:00.000000Z")
    d = memory(importance=7, access_count=3, created_at="2026-01-04T00:00:00.000000Z")
    assert sorted([a, b, c, d], key=rules.survivor_rank) == [d, c, b, a]


def test_idle_before_is_a_stored_timestamp():
    now = datetime.datetime(2026, 12, 5, 8, 0, tzinfo=datetime.UTC)
    assert rules.idle_before(now, 90) == "2026-09-06T08:00:00.000000Z"
