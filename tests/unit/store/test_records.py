"""The export format's records, checked the same way for both engines (no database)."""

import json

import pytest

from mnemosyne.errors import UsageError
from mnemosyne.store.records import ImportReport, parse_record, validate_records

FIRST = "0b8d4f0e-1f4e-4c55-9d55-1b3f1b8f0c11"
SECOND = "1b8d4f0e-1f4e-4c55-9d55-1b3f1b8f0c12"
STORED = "2b8d4f0e-1f4e-4c55-9d55-1b3f1b8f0c13"


def line(memory_id=FIRST, **changes):
    record = {"id": memory_id, "namespace": "global", "content": "x", "memory_type": "note",
              "importance": 5, "created_at": "2026-01-01T00:00:00.000000Z",
              "updated_at": "2026-01-01T00:00:00.000000Z"}
    record.update(changes)
    return json.dumps(record)


def link_to(target):
    return [{"target_id": target, "link_type": "related", "strength": 1,
             "created_at": "2026-01-01T00:00:00.000000Z"}]


def test_a_line_becomes_a_record_with_its_links():
    record = parse_record(7, line(links=link_to(SECOND)), 65536)
    assert (record.line, record.memory.id, [link.target_id for link in record.links]) == \
        (7, FIRST, [SECOND])


@pytest.mark.parametrize(("text", "message"), [
    ("{", "not valid JSON"), (line(content="x" * 11), "content"), (line(extra=1), "unknown")])
def test_a_bad_line_says_why(text, message):
    with pytest.raises(UsageError, match=message):
        parse_record(1, text, 10)


def test_validation_keeps_good_records_and_reports_the_rest():
    report = ImportReport()
    asked = []

    def stored_ids(ids):
        asked.append(set(ids))
        return ids & {STORED}

    def refuse_zero_importance_notes(memory):
        if memory.content == "refused":
            raise UsageError("this engine cannot store that")

    lines = [line(FIRST, links=link_to(STORED)), "", line(FIRST), "not json",
             line(SECOND, superseded_by="3b8d4f0e-1f4e-4c55-9d55-1b3f1b8f0c14"),
             line("4b8d4f0e-1f4e-4c55-9d55-1b3f1b8f0c15", content="refused")]
    valid = validate_records(lines, report, 65536, stored_ids, refuse_zero_importance_notes)
    assert [record.memory.id for record in valid] == [FIRST]
    assert [number for number, _ in report.rejected] == [3, 4, 6, 5]
    assert "duplicate id" in report.rejected[0][1]
    assert "unknown memory" in report.rejected[3][1]
    assert "cannot store" in report.rejected[2][1]
    assert asked == [{STORED, "3b8d4f0e-1f4e-4c55-9d55-1b3f1b8f0c14"}]
