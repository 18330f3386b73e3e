"""The `mnemosyne` command: parse, resolve settings, configure logging, run one command.

This is the only place where errors become exit statuses: a `MnemosyneError` prints
`mnemosyne: error: <message>` and returns its code; anything else returns 1 with a one-line
message (the traceback only with `--debug`). Each subcommand lives in its own module with
`add_arguments(parser)` and `run(args, settings) -> int`.
Must not: hold logic that belongs to a library package.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from collections.abc import Sequence
from types import ModuleType

from mnemosyne import __version__
from mnemosyne.cli import (
    config_command,
    dashboard_url_command,
    db_command,
    doctor_command,
    export_command,
    forget_command,
    import_command,
    inbox_command,
    instances_command,
    link_command,
    list_command,
    mcp_command,
    optimize_command,
    orchestrate_command,
    recall_command,
    remember_command,
    review_command,
    send_command,
    serve_command,
    show_command,
    systemd_command,
    update_command,
    version_command,
)
from mnemosyne.config import LOG_LEVELS, resolve_settings
from mnemosyne.errors import ExitCode, MnemosyneError, UsageError
from mnemosyne.logs import configure_logging

logger = logging.getLogger(__name__)

COMMANDS: dict[str, ModuleType] = {
    "remember": remember_command,
    "recall": recall_command,
    "list": list_command,
    "show": show_command,
    "update": update_command,
    "forget": forget_command,
    "link": link_command,
    "export": export_command,
    "import": import_command,
    "db": db_command,
    "config": config_command,
    "serve": serve_command,
    "instances": instances_command,
    "dashboard-url": dashboard_url_command,
    "doctor": doctor_command,
    "send": send_command,
    "inbox": inbox_command,
    "review": review_command,
    "optimize": optimize_command,
    "mcp": mcp_command,
    "orchestrate": orchestrate_command,
    "systemd": systemd_command,
    "version": version_command,
}

# argparse destination -> Settings field, for flags that override configuration.
SETTING_FLAGS = {
    "db": "database_url",
    "log_level": "log_level",
    "api_addr": "api_addr",
    "api_capacity": "api_capacity",
    "root": "root",
}


class CommandLineError(UsageError):
    """An argparse complaint, raised instead of argparse's print-and-exit."""


class Parser(argparse.ArgumentParser):
    """An ArgumentParser that raises instead of exiting, so errors stay one line."""

    def error(self, message: str) -> None:  # type: ignore[override]
        """Raise CommandLineError naming the (sub)command and how to get help."""
        raise CommandLineError(f"{message} (see '{self.prog} --help')")


def add_global_flags(parser: argparse.ArgumentParser, suppress: bool) -> None:
    """Add the flags every command takes; subcommands use SUPPRESS so they don't reset them."""
    default = argparse.SUPPRESS if suppress else None
    group = parser.add_argument_group("global options")
    group.add_argument("--db", metavar="PATH", default=default,
                       help="database file (default: ~/.local/share/mnemosyne/mnemosyne.db)")
    group.add_argument("--config", metavar="PATH", default=default,
                       help="config file (default: ~/.config/mnemosyne/config.toml)")
    group.add_argument("--log-level", choices=LOG_LEVELS, default=default,
                       help="least severe log level shown on stderr (default: info)")
    group.add_argument("--debug", action="store_true",
                       default=argparse.SUPPRESS if suppress else False,
                       help="show tracebacks for unexpected errors")


def build_parser() -> Parser:
    """Return the full command-line parser."""
    parser = Parser(prog="mnemosyne", description=__doc__.split("\n\n")[0],
                    epilog="Exit status: " + "; ".join(f"{code.value} {code.describe()}"
                                                      for code in ExitCode))
    parser.add_argument("--version", action="version", version=f"mnemosyne {__version__}")
    add_global_flags(parser, suppress=False)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    subparsers.required = True
    for name, module in COMMANDS.items():
        summary = (module.__doc__ or "").strip().split("\n")[0]
        sub = subparsers.add_parser(name, help=summary, description=module.__doc__,
                                    formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(sub)
        add_global_flags(sub, suppress=True)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the process exit status."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in arguments
    try:
        args = build_parser().parse_args(arguments)
        flags = {field: getattr(args, dest, None) for dest, field in SETTING_FLAGS.items()}
        module = COMMANDS[args.command]
        settings = resolve_settings(flags, config_path=args.config,
                                    lenient=getattr(module, "LENIENT_CONFIG", False))
        from mnemosyne.daemon.systemd import journal_handler, stderr_is_journal  # noqa: PLC0415

        journal = stderr_is_journal()
        configure_logging(settings.log_level, sys.stderr, journal=journal,
                          native=journal_handler("mnemosyne") if journal else None)
        return int(module.run(args, settings))
    except MnemosyneError as error:
        from mnemosyne.daemon.systemd import report_failure  # noqa: PLC0415

        # Under systemd: STATUS= and a journal entry with MNEMOSYNE_INSTANCE instead.
        line = report_failure(f"mnemosyne: error: {error.message}", error.message, error.errno)
        if line:
            print(line, file=sys.stderr)
        return int(error.exit_code)
    except KeyboardInterrupt:
        print("mnemosyne: interrupted", file=sys.stderr)
        return int(ExitCode.INTERRUPTED)
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): not worth a message, nor a flush error at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return int(ExitCode.OK)
    except Exception as error:  # noqa: BLE001 - the one place unexpected errors are reported
        if debug:
            traceback.print_exc()
        print(f"mnemosyne: error: {type(error).__name__}: {error}", file=sys.stderr)
        return int(ExitCode.ERROR)
