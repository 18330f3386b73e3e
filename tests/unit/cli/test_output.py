from mnemosyne.cli import output
from mnemosyne.store.model import Link, Memory

MEMORY = Memory("0b8d4f0e-1f4e-4c55-9d55-1b3f1b8f0c11", "global", "first line\nsecond", None,
                "note", 5, ("a",), "2026-01-01T00:00:00.000000Z", "2026-01-01T00:00:00.000000Z")


def test_preview_is_one_shortened_line():
    assert output.preview("a\nb   c") == "a b c"
    assert output.preview("x" * 100, 10) == "x" * 9 + "…"


def test_memory_line_and_detail(capsys):
    assert output.memory_line(MEMORY, 1.5).startswith("0b8d4f0e    1.500  global  note  i=5")
    link = Link(MEMORY.id, "1b8d4f0e-1f4e-4c55-9d55-1b3f1b8f0c11", "related", 1.0,
                "2026-01-01T00:00:00.000000Z")
    output.print_memory_detail(MEMORY, [link])
    text = capsys.readouterr().out
    assert "related -> 1b8d4f0e" in text
    assert text.endswith("first line\nsecond\n")
    assert "archived          false" in text


def test_format_age():
    assert [output.format_age(value) for value in (None, 5, 61, 3700, 90000)] == \
        ["-", "5s", "1m", "1h", "1d"]


def test_print_table_aligns_columns_and_strips_trailing_space(capsys):
    output.print_table([("ID", "STATE", "ROOT"), ("a1b2c3d4", "live", "-"), ("x", "dead", "")])
    assert capsys.readouterr().out == ("ID        STATE  ROOT\n"
                                       "a1b2c3d4  live   -\n"
                                       "x         dead\n")


def test_print_note_goes_to_stderr(capsys):
    output.print_note("coordination root /r (0 instance(s))")
    assert capsys.readouterr() == ("", "mnemosyne: coordination root /r (0 instance(s))\n")
