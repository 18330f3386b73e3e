"""Upkeep on a real SQLite database: duplicates merged, decay, archive, batches, compaction."""

import dataclasses

from mnemosyne.optimize import rules
from mnemosyne.store.sqlite import maintenance
from mnemosyne.store.sqlite.backend import insert_memory

OLD = "2026-01-01T00:00:00.000000Z"
IDLE_BEFORE = "2026-06-01T00:00:00.000000Z"


def age(store, memory, **changes):
    """Rewrite *memory* with old timestamps (and other *changes*) directly."""
    aged = dataclasses.replace(store.get(memory.id), updated_at=OLD, **changes)
    store.database.write(lambda connection: insert_memory(connection, aged, replace=True))
    return aged


def groups(store):
    return maintenance.duplicate_groups(store, rules.normalise, rules.survivor_rank)


def test_duplicates_merge_into_the_survivor_keeping_tags_links_and_importance(store):
    keep = store.remember("Deploy with `make release`.", importance=6, tags="ops")
    twin = store.remember("deploy with make release", importance=9, tags="release,ops")
    other = store.remember("deploy with make release", namespace="project:x")  # other ns
    target = store.remember("the release checklist")
    store.link(twin.id, target.id, "related", 0.5)
    store.update(keep.id, content="Deploy with `make release`.")  # no change: still a twin
    [group] = groups(store)
    assert group.survivor.id == twin.id and [m.id for m in group.merged] == [keep.id]
    assert maintenance.merge_groups(store, [group]) == 1
    survivor = store.get(twin.id)
    assert (survivor.importance, survivor.tags) == (9, ("release", "ops"))
    merged = store.get(keep.id)
    assert merged.superseded_by == twin.id  # kept, not deleted
    assert store.get(other.id).superseded_by is None
    assert any(link.link_type == "related" and link.target_id == target.id
               for link in store.links_of(twin.id))
    assert groups(store) == []  # superseded memories are no longer live


def test_a_group_changed_meanwhile_is_left_alone(store):
    a = store.remember("same words")
    b = store.remember("Same words!")
    [group] = groups(store)
    store.update(b.id if group.merged[0].id == b.id else a.id, archived=True)
    assert maintenance.merge_groups(store, [group]) == 0
    assert store.get(a.id).superseded_by is None and store.get(b.id).superseded_by is None


def test_decay_and_archive_touch_only_idle_live_memories(store):
    idle = age(store, store.remember("idle", importance=5))
    recent = store.remember("recent", importance=5)
    accessed = age(store, store.remember("accessed", importance=5),
                   last_accessed_at="2026-11-01T00:00:00.000000Z")
    pinned = age(store, store.remember("pinned", importance=10))
    faded = age(store, store.remember("faded", importance=1))
    candidates = maintenance.decay_candidates(store, IDLE_BEFORE)
    assert [m.id for m in candidates] == [idle.id]
    assert [m.id for m in maintenance.archive_candidates(store, IDLE_BEFORE)] == [faded.id]
    assert maintenance.apply_decay(store, candidates, IDLE_BEFORE) == 1
    assert store.get(idle.id).importance == 4
    assert maintenance.apply_decay(store, candidates, IDLE_BEFORE) == 0  # no longer idle
    assert maintenance.apply_archive(store, [faded], IDLE_BEFORE) == 1
    assert store.get(faded.id).archived
    for unchanged in (recent, accessed, pinned):
        assert store.get(unchanged.id).importance == unchanged.importance


def test_many_groups_merge_in_batches(store):
    pairs = maintenance.WRITE_BATCH + 3  # groups of two: several transactions
    for n in range(pairs):
        store.remember(f"pair {n}")
        store.remember(f"PAIR {n}.")
    found = groups(store)
    assert len(found) == pairs
    assert maintenance.merge_groups(store, found) == pairs
    assert groups(store) == [] and store.count() == 2 * pairs


def test_batches_cover_more_than_one_page(store):
    made = [age(store, store.remember(f"memory {n}", importance=3))
            for n in range(maintenance.READ_PAGE + 7)]
    candidates = maintenance.decay_candidates(store, IDLE_BEFORE)
    assert len(candidates) == len(made)
    assert maintenance.apply_decay(store, candidates, IDLE_BEFORE) == len(made)


def test_a_walk_leaves_what_is_stored_meanwhile_for_the_next_pass(store, monkeypatch):
    monkeypatch.setattr(maintenance, "READ_PAGE", 1)  # one memory per query
    first = store.remember("there before")
    store.remember("there before too")
    walk = maintenance._live_memories(store)
    assert next(walk).id == first.id
    store.remember("stored while walking")
    assert [memory.content for memory in walk] == ["there before too"]


def test_each_batch_is_followed_by_a_rest_three_times_as_long(store, monkeypatch):
    rests = []
    monkeypatch.setattr(maintenance, "_rest", rests.append)
    made = [age(store, store.remember(f"memory {n}", importance=3))
            for n in range(2 * maintenance.WRITE_BATCH + 1)]
    assert maintenance.apply_decay(store, made, IDLE_BEFORE) == len(made)
    assert len(rests) == 3 and all(rest > 0 for rest in rests)
    assert maintenance.PACE == 3.0


def test_compact_merges_the_index_and_checkpoints(store):
    for n in range(300):
        store.remember(f"words number {n}")
    done = maintenance.compact(store)
    # A passive checkpoint never waits: "busy" (a reader in the way) is an answer, not a fault.
    assert done["fts_merge_rounds"] >= 1 and isinstance(done["checkpoint_busy"], bool)
    assert done["wal_frames_checkpointed"] <= done["wal_frames"]
    assert store.count() == 300
