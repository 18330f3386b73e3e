"""`mnemosyne update`: change a stored memory's fields, archive and unarchive it."""

from __future__ import annotations

import json

from tests.helpers import assert_one_line_error


def test_update_changes_fields_and_archives(cli):
    memory_id = cli("remember", "-c", "old words", "-n", "project:app", "-t", "a").ok() \
        .stdout.strip()
    assert cli("update", memory_id[:8], "-c", "fresh words", "--summary", "short", "-i", "9",
               "-t", "x,y", "--type", "decision").ok().stdout.strip() == f"updated {memory_id}"
    shown = json.loads(cli("show", memory_id, "--format", "json").ok().stdout)
    assert (shown["content"], shown["summary"], shown["importance"], shown["tags"],
            shown["memory_type"]) == ("fresh words", "short", 9, ["x", "y"], "decision")
    assert [hit["id"] for hit in json.loads(
        cli("recall", "fresh", "--format", "json").ok().stdout)] == [memory_id]
    archived = json.loads(cli("update", memory_id, "--archive", "--format", "json").ok().stdout)
    assert archived["archived"] is True
    assert json.loads(cli("recall", "fresh", "--format", "json").ok().stdout) == []
    cli("update", memory_id, "--unarchive").ok()
    assert memory_id[:8] in cli("list").ok().stdout
    assert cli("update", memory_id, "-c", "-", input="from stdin").ok()
    assert json.loads(cli("show", memory_id, "--format", "json").ok().stdout)["content"] \
        == "from stdin"


def test_update_errors_are_one_line(cli):
    memory_id = cli("remember", "-c", "text").ok().stdout.strip()
    assert_one_line_error(cli("update", memory_id), 2, "nothing to update")
    assert_one_line_error(cli("update", memory_id, "-i", "11"), 2, "out of range")
    assert_one_line_error(cli("update", "deadbeef", "-i", "3"), 5, "no memory")
    assert_one_line_error(cli("update", memory_id, "--archive", "--unarchive"), 2,
                          "not allowed with")
