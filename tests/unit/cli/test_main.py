import pytest

from mnemosyne.cli.main import COMMANDS, build_parser, main


def test_every_command_has_a_description_and_a_parser():
    parser = build_parser()
    for name, module in COMMANDS.items():
        assert module.__doc__, name
        assert callable(module.run)
    assert parser.parse_args(["list", "--db", "x"]).db == "x"
    assert parser.parse_args(["--db", "y", "list"]).db == "y"


def test_usage_errors_are_one_line_with_code_2(capsys):
    assert main(["remember"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("mnemosyne: error: the following arguments are required")


def test_unexpected_errors_are_one_line_unless_debug(capsys, monkeypatch, tmp_path):
    def explode(args, settings):
        raise RuntimeError("kaboom")

    monkeypatch.setattr(COMMANDS["version"], "run", explode)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert main(["version"]) == 1
    assert capsys.readouterr().err == "mnemosyne: error: RuntimeError: kaboom\n"
    assert main(["version", "--debug"]) == 1
    assert "Traceback" in capsys.readouterr().err


def test_interrupt_is_130(capsys, monkeypatch, tmp_path):
    def interrupted(args, settings):
        raise KeyboardInterrupt

    monkeypatch.setattr(COMMANDS["version"], "run", interrupted)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert main(["version"]) == 130


@pytest.mark.parametrize("argv", [["--version"], ["--help"]])
def test_version_and_help_exit_zero(argv, capsys):
    with pytest.raises(SystemExit) as caught:
        main(argv)
    assert caught.value.code == 0
