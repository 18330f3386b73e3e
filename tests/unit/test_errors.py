from mnemosyne.errors import (
    ExitCode,
    MnemosyneError,
    NotFoundError,
    UnavailableError,
    UsageError,
)


def test_every_exit_code_is_documented():
    assert all(code.describe() for code in ExitCode)
    assert ExitCode.USAGE == 2
    assert ExitCode.INTERRUPTED == 130


def test_error_types_carry_their_codes():
    assert MnemosyneError("x").exit_code == ExitCode.ERROR
    assert UsageError("x").exit_code == ExitCode.USAGE
    assert NotFoundError("x").exit_code == ExitCode.NOT_FOUND
    assert UnavailableError("x").exit_code == ExitCode.UNAVAILABLE
    assert str(UsageError("one line")) == "one line"
