import io
import json

import pytest

from mnemosyne.errors import UsageError
from mnemosyne.store.sqlite.backend import SqliteBackend
from mnemosyne.store.sqlite.database import Database
from mnemosyne.store.sqlite.transfer import export_memories, import_memories


def export_text(store, namespace=None):
    buffer = io.StringIO()
    export_memories(store, buffer, namespace)
    return buffer.getvalue()


@pytest.fixture
def other_store(tmp_path):
    database = Database.open(tmp_path / "other.db")
    yield SqliteBackend(database)
    database.close()


def test_round_trip_is_exact(store, other_store):
    a = store.remember("first ✓ unicode", namespace="project:x", tags="a,b", summary="s")
    b = store.remember("second", memory_type="decision", importance=9)
    c = store.remember("third")
    store.link(a.id, b.id, "related", 0.25)
    store.link(c.id, a.id, "supersedes")
    exported = export_text(store)
    report = import_memories(other_store, exported.splitlines())
    assert (report.imported, report.links, report.rejected) == (3, 2, [])
    assert export_text(other_store) == exported
    assert other_store.get(a.id).superseded_by == c.id
    # Importing again is idempotent.
    again = import_memories(other_store, exported.splitlines())
    assert (again.imported, again.already_present) == (0, 3)
    assert export_text(other_store) == exported


def test_export_of_one_namespace(store):
    store.remember("a", namespace="project:x")
    store.remember("b")
    lines = export_text(store, "project:x").splitlines()
    assert [json.loads(line)["content"] for line in lines] == ["a"]


def good_line(**changes):
    record = {"id": "0b8d4f0e-1f4e-4c55-9d55-1b3f1b8f0c11", "namespace": "global",
              "content": "x", "memory_type": "note", "importance": 5,
              "created_at": "2026-01-01T00:00:00.000000Z",
              "updated_at": "2026-01-01T00:00:00.000000Z"}
    record.update(changes)
    return json.dumps(record)


@pytest.mark.parametrize(("line", "message"), [
    ("{not json", "not valid JSON"),
    ("[1, 2]", "not a JSON object"),
    (good_line(importance=11), "importance"),
    (good_line(importance="5"), "importance"),
    (good_line(namespace="nope"), "invalid namespace"),
    (good_line(content=""), "content is empty"),
    (good_line(extra=1), "unknown field"),
    (good_line(id="not-a-uuid"), "not a memory id"),
    (good_line(created_at="yesterday"), "not a UTC timestamp"),
    (good_line(links=[{"target_id": "0b8d4f0e-1f4e-4c55-9d55-1b3f1b8f0c12",
                       "link_type": "related", "strength": 1,
                       "created_at": "2026-01-01T00:00:00.000000Z"}]), "unknown memory"),
    (good_line(superseded_by="0b8d4f0e-1f4e-4c55-9d55-1b3f1b8f0c12"), "unknown memory"),
    (good_line(access_count=-1), "access_count"),
    (good_line(archived="no"), "archived"),
    (good_line(tags="a,b"), "tags must be a list"),
    (good_line(links=[{"target_id": "x"}]), "each link must have"),
])
def test_a_bad_line_is_reported_with_its_number_and_nothing_is_imported(store, line, message):
    store.remember("already here")
    before = export_text(store)
    other = json.dumps(json.loads(good_line(id="1b8d4f0e-1f4e-4c55-9d55-1b3f1b8f0c11")))
    with pytest.raises(UsageError, match=f"line 3: .*{message}") as caught:
        import_memories(store, [other, "", line])
    assert "nothing was imported" in str(caught.value)
    assert export_text(store) == before


def test_continue_on_error_skips_bad_lines(store):
    report = import_memories(store, [good_line(), "garbage", good_line()],
                             continue_on_error=True)
    assert report.imported == 1
    assert [line for line, _ in report.rejected] == [2, 3]
    assert "duplicate id" in report.rejected[1][1]


def test_replace_overwrites(store):
    import_memories(store, [good_line(content="old")])
    report = import_memories(store, [good_line(content="new")], replace=True)
    assert (report.imported, report.replaced) == (0, 1)
    assert store.get("0b8d4f0e").content == "new"


def test_links_to_memories_already_in_the_database_are_accepted(store):
    target = store.remember("target")
    line = good_line(links=[{"target_id": target.id, "link_type": "extends", "strength": 0.5,
                             "created_at": "2026-01-01T00:00:00.000000Z"}])
    assert import_memories(store, [line]).links == 1
