import pytest

from mnemosyne.errors import UsageError
from mnemosyne.store.model import Memory
from mnemosyne.store.postgres.rows import COLUMNS, memory_from_row, memory_parameters, reject_nul


def test_a_memory_survives_the_row_form():
    memory = Memory("0b8d4f0e-1f4e-4c55-9d55-1b3f1b8f0c11", "global", "c", None, "note", 5,
                    ("a", "b"), "2026-01-01T00:00:00.000000Z", "2026-01-01T00:00:00.000000Z",
                    3, None, True, None)
    parameters = list(memory_parameters(memory))
    assert len(parameters) == len(COLUMNS)
    parameters[6] = list(parameters[6].obj)  # jsonb comes back as a list
    assert memory_from_row(parameters) == memory


def test_nul_characters_are_refused():
    reject_nul(["fine", None, ("a", "b"), 5])
    with pytest.raises(UsageError, match="NUL"):
        reject_nul(["x\x00y"])
    with pytest.raises(UsageError, match="NUL"):
        reject_nul([("ok", "t\x00")])
