"""Context packs: never over budget, no character cut, ids kept, tiers, deterministic bytes."""

from __future__ import annotations

import json
import math
import random

import pytest

from mnemosyne.optimize.context_pack import (
    ELLIPSIS,
    build_pack,
    cut_utf8,
    one_line,
    pack_order,
    to_units,
)
from mnemosyne.store.model import Memory

WORDS = ["build", "cache", "schéma", "naïve", "日本語", "テスト", "emoji🙂", "ñandú", "über",
         "Ελληνικά", "кириллица", "x", "z" * 30]


def memory(number: int, importance: int, content: str, summary: str | None = None,
           **changes) -> Memory:
    stamp = f"2026-01-01T00:00:{number % 60:02d}.{number:06d}Z"
    return Memory(id=f"00000000-0000-4000-8000-{number:012d}", namespace="global",
                  content=content, summary=summary, memory_type="fact", importance=importance,
                  tags=(), created_at=stamp, updated_at=stamp, **changes)


def twenty() -> list[Memory]:
    return [memory(n, n % 10 + 1, f"memory {n}: the build uses ninja\nsecond line {n}")
            for n in range(20)]


def test_twenty_memories_within_400_bytes() -> None:
    pack = build_pack(twenty(), 400)
    assert 0 < len(pack.text) <= 400
    assert pack.used == len(pack.text)
    text = pack.text.decode("utf-8")
    header = text.splitlines()[0]
    assert header.startswith("# Context: ") and f"{pack.used} of 400 bytes used" in header
    assert f"{len(pack.included)} memories" in header
    for entry in pack.included:
        assert entry.id in text
    assert len(pack.included) + pack.omitted == 12  # importance 5..10 of 20 memories
    # Most important first.
    importances = [int(entry.id[-12:]) % 10 + 1 for entry in pack.included]
    assert importances == sorted(importances, reverse=True)


def test_tiers_full_line_and_left_out() -> None:
    memories = [memory(1, 9, "full text\nwith two lines"), memory(2, 6, "first\nsecond"),
                memory(3, 7, "ignored body", summary="the summary"), memory(4, 4, "too low")]
    pack = build_pack(memories, 10_000)
    text = pack.text.decode()
    assert "full text\nwith two lines" in text
    assert f"- {memories[1].id} (fact, 6): first\n" in text and "second" not in text
    assert "the summary" in text and "ignored body" not in text
    assert memories[3].id not in text
    assert [entry.tier for entry in pack.included] == ["full", "line", "line"]
    assert pack.omitted == 0  # below 5 is not a candidate at all


def test_archived_and_superseded_left_out() -> None:
    memories = [memory(1, 9, "kept"), memory(2, 9, "archived", archived=True),
                memory(3, 9, "old", superseded_by=memory(1, 9, "x").id)]
    assert [m.id for m in pack_order(memories)] == [memories[0].id]


def test_shortened_memory_keeps_its_id() -> None:
    long = memory(1, 9, "A" * 2000)
    pack = build_pack([long], 250)
    text = pack.text.decode()
    assert len(pack.text) <= 250 and long.id in text and text.rstrip().endswith(ELLIPSIS)
    assert pack.included[0].tier == "cut"


def test_tiny_budget_gives_empty_output() -> None:
    pack = build_pack(twenty(), 20)
    assert pack.text == b"" and pack.used == 0 and pack.omitted == 12


def test_tokens_are_a_quarter_of_bytes_rounded_up() -> None:
    pack = build_pack(twenty(), 100, unit="tokens")
    assert to_units(len(pack.text), "tokens") == pack.used <= 100
    assert pack.used == math.ceil(len(pack.text) / 4)
    assert b"of 100 tokens used" in pack.text


def test_cut_never_splits_a_character() -> None:
    text = "aé日🙂"
    for size in range(12):
        cut = cut_utf8(text, size)
        assert text.startswith(cut) and len(cut.encode()) <= size


def test_lone_surrogates_are_replaced() -> None:
    pack = build_pack([memory(1, 9, "bad \udc80 char")], 1000)
    pack.text.decode("utf-8")
    assert one_line(memory(2, 6, "x \ud800 y")) == "x ? y"


@pytest.mark.parametrize("seed", range(5))
def test_random_multibyte_never_over_budget(seed: int) -> None:
    """Seeded: many memories of multibyte text, many budgets and both units."""
    rng = random.Random(seed)
    memories = []
    for number in range(rng.randint(1, 60)):
        lines = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 40)))
                 for _ in range(rng.randint(1, 4))]
        summary = " ".join(rng.choice(WORDS) for _ in range(5)) if rng.random() < 0.3 else None
        memories.append(memory(number, rng.randint(1, 10), "\n".join(lines), summary))
    for _ in range(150):
        unit = rng.choice(["bytes", "tokens"])
        budget = rng.randint(0, 3000 if unit == "bytes" else 800)
        pack = build_pack(memories, budget, unit)
        assert to_units(len(pack.text), unit) <= budget
        text = pack.text.decode("utf-8")  # raises if a character was cut
        assert pack.used == to_units(len(pack.text), unit)
        for entry in pack.included:
            assert entry.id in text
        assert sum(entry.bytes for entry in pack.included) < len(pack.text) or not pack.text
        assert json.dumps(pack.to_dict())


def test_same_memories_same_bytes_in_any_order() -> None:
    memories = twenty()
    first = build_pack(memories, 700)
    shuffled = list(memories)
    random.Random(1).shuffle(shuffled)
    assert build_pack(shuffled, 700).text == first.text
