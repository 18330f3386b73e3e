"""The `mnemosyne-dash` command: watch one or many instances live, or print one snapshot.

`--api URL` (repeatable) names instances; `--all` watches every live instance with an API in
the registry of the coordination root (which one follows the directory, as for `mnemosyne
instances`); `--all-roots` in the registries of every root in the user's index of roots.
`--once --format json` prints a snapshot (health and recent events of each instance, and the
registry) and exits: 0 if every instance answered, 3 if one did not.
Output cut short by its reader (`| head -1`) ends quietly with exit 0.
Every instance requires the API token: the dashboard reads it where the daemon does, from
MNEMOSYNE_API_TOKEN (or the config file) or else the user's token file
(~/.config/mnemosyne/api-token), so the user types no secret.
Must not: hold logic that belongs to mnemosyne.dash.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence

from mnemosyne import __version__
from mnemosyne.cli.main import Parser
from mnemosyne.cli.output import add_root_flag
from mnemosyne.config import resolve_settings
from mnemosyne.errors import ExitCode, MnemosyneError


def build_parser() -> Parser:
    """Return the command-line parser."""
    parser = Parser(prog="mnemosyne-dash", description=__doc__.split("\n\n")[0],
                    epilog="Exit status: 0 success; 2 invalid command line; 3 an instance "
                           "did not answer (--once); 5 no live instance with an API (--all, "
                           "--all-roots)")
    parser.add_argument("--version", action="version", version=f"mnemosyne-dash {__version__}")
    parser.add_argument("--api", action="append", default=[], metavar="URL",
                        help="an instance's API, e.g. http://127.0.0.1:3000 (repeatable)")
    parser.add_argument("--all", action="store_true",
                        help="every live instance with an API in the registry")
    parser.add_argument("--all-roots", action="store_true",
                        help="every live instance with an API in the registry of every "
                             "coordination root in the user's index of roots")
    parser.add_argument("--once", action="store_true", help="print one snapshot and exit")
    parser.add_argument("--format", choices=("json",), default="json",
                        help="snapshot format (with --once; default: json)")
    parser.add_argument("--type", dest="event_type", metavar="TYPE",
                        help="list only events of this type (f cycles types live)")
    parser.add_argument("--show-heartbeats", action="store_true",
                        help="list heartbeat events too (h toggles live)")
    parser.add_argument("--config", metavar="PATH", help="config file")
    add_root_flag(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the dashboard; return the exit status."""
    from mnemosyne.coord.context import api_token  # noqa: PLC0415 - after parsing
    from mnemosyne.dash.app import run_live, snapshot  # noqa: PLC0415
    from mnemosyne.dash.state import EventFilter  # noqa: PLC0415
    from mnemosyne.dash.targets import resolve_targets  # noqa: PLC0415

    try:
        args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
        settings = resolve_settings({"root": args.root}, config_path=args.config)
        urls = resolve_targets(args.api, args.all, settings, args.all_roots)
        token = api_token(settings)
        if args.once:
            document, everyone = snapshot(urls, token)
            print(json.dumps(document, indent=2, ensure_ascii=False))
            sys.stdout.flush()  # a closed pipe fails here, not in the interpreter's exit
            return int(ExitCode.OK if everyone else ExitCode.UNAVAILABLE)
        return run_live(urls, token,
                        EventFilter(args.event_type, args.show_heartbeats))
    except MnemosyneError as error:
        print(f"mnemosyne-dash: error: {error.message}", file=sys.stderr)
        return int(error.exit_code)
    except KeyboardInterrupt:
        return int(ExitCode.OK)
    except BrokenPipeError:
        # The reader went away (e.g. `| head -1`): exit 0 quietly, as `mnemosyne` does.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return int(ExitCode.OK)
