import io
import json

import pytest

from mnemosyne.errors import UsageError
from mnemosyne.store.sqlite.transfer import export_memories, import_memories


def sqlite_export(store, namespace=None):
    buffer = io.StringIO()
    export_memories(store, buffer, namespace)
    return buffer.getvalue()


def export_text(backend, namespace=None):
    buffer = io.StringIO()
    backend.export(buffer, namespace)
    return buffer.getvalue()


def good_line(**changes):
    record = {"id": "0b8d4f0e-1f4e-4c55-9d55-1b3f1b8f0c11", "namespace": "global",
              "content": "imported", "memory_type": "note", "importance": 5,
              "created_at": "2026-01-01T00:00:00.000000Z",
              "updated_at": "2026-01-01T00:00:00.000000Z"}
    record.update(changes)
    return json.dumps(record)


def fill_sqlite(store):
    a = store.remember("first ✓ unicode \"quoted\" \\ back", namespace="project:x",
                       tags="a,b", summary="s")
    b = store.remember("second", memory_type="decision", importance=9)
    c = store.remember("third\nline two", namespace="session:p:1")
    d = store.remember("archived one")
    store.update(d.id, archived=True)
    store.link(a.id, b.id, "related", 0.25)
    store.link(c.id, a.id, "supersedes")
    store.link(c.id, b.id, "extends", 1.0)
    store.mark_accessed([b.id], "2026-02-01T00:00:00.000000Z")
    return a, b, c


def test_sqlite_export_imported_into_postgresql_exports_the_same_bytes(store, backend):
    a, _, c = fill_sqlite(store)
    exported = sqlite_export(store)
    report = backend.import_lines(exported.splitlines())
    assert (report.imported, report.links, report.rejected) == (4, 3, [])
    assert export_text(backend) == exported
    assert export_text(backend, "project:x") == sqlite_export(store, "project:x")
    assert backend.get(a.id).superseded_by == c.id
    again = backend.import_lines(exported.splitlines())
    assert (again.imported, again.already_present) == (0, 4)
    assert export_text(backend) == exported


def test_postgresql_export_imports_into_sqlite_exactly(store, backend):
    a = backend.remember("from postgres", tags="x,y", summary="sum")
    b = backend.remember("second")
    backend.link(b.id, a.id, "supersedes", 0.5)
    exported = export_text(backend)
    report = import_memories(store, exported.splitlines())
    assert (report.imported, report.links) == (2, 1)
    assert sqlite_export(store) == exported


@pytest.mark.parametrize(("line", "message"), [
    ("{not json", "not valid JSON"),
    (good_line(importance=11), "importance"),
    (good_line(namespace="nope"), "invalid namespace"),
    (good_line(summary="nul \u0000"), "NUL"),
    (good_line(superseded_by="0b8d4f0e-1f4e-4c55-9d55-1b3f1b8f0c12"), "unknown memory"),
])
def test_a_bad_line_is_reported_with_its_number_and_nothing_is_imported(backend, line,
                                                                        message):
    backend.remember("already here")
    before = export_text(backend)
    other = good_line(id="1b8d4f0e-1f4e-4c55-9d55-1b3f1b8f0c11")
    with pytest.raises(UsageError, match=f"line 3: .*{message}") as caught:
        backend.import_lines([other, "", line])
    assert "nothing was imported" in str(caught.value)
    assert export_text(backend) == before


def test_continue_on_error_skips_bad_lines(backend):
    report = backend.import_lines([good_line(), "garbage", good_line()],
                                  continue_on_error=True)
    assert report.imported == 1
    assert [line for line, _ in report.rejected] == [2, 3]


def test_replace_overwrites(backend):
    backend.import_lines([good_line(content="old")])
    report = backend.import_lines([good_line(content="new")], replace=True)
    assert (report.imported, report.replaced) == (0, 1)
    assert backend.get("0b8d4f0e").content == "new"


def test_links_to_memories_already_in_the_database_are_accepted(backend):
    target = backend.remember("target")
    line = good_line(links=[{"target_id": target.id, "link_type": "extends", "strength": 0.5,
                             "created_at": "2026-01-01T00:00:00.000000Z"}])
    assert backend.import_lines([line]).links == 1


def test_a_large_import_goes_in_batches(backend, monkeypatch):
    from mnemosyne.store.postgres import transfer  # noqa: PLC0415

    monkeypatch.setattr(transfer, "BATCH_ROWS", 7)
    lines = [good_line(id=f"0b8d4f0e-1f4e-4c55-9d55-{index:012d}", content=f"n {index}")
             for index in range(30)]
    assert backend.import_lines(lines).imported == 30
    assert backend.count() == 30
    assert [json.loads(line)["id"] for line in export_text(backend).splitlines()] == \
        sorted(json.loads(line)["id"] for line in lines)
