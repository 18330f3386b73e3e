"""Run an instance in the foreground until SIGTERM or SIGINT (both exit 0).

The instance registers in the coordination directory's process registry under its id, holds its
liveness lock and heartbeats until it stops. Started inside a linked git worktree (or with
--worktree always) it works in its own worktree, .mnemosyne/worktrees/ID, on branch mnemosyne/ID
(or --branch), removed on a clean stop unless it has uncommitted changes; with workdir
(MNEMOSYNE_WORKDIR) it works in that directory; with --accept-work it runs orchestrated tasks.
SIGHUP (systemctl --user reload) re-resolves the settings, flags included, applies log_level and
heartbeat_interval_s, and logs which changed settings wait for a restart.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mnemosyne.cli.output import add_root_flag
from mnemosyne.config import Settings, resolve_settings
from mnemosyne.coord.identity import new_instance_id, validate_instance_id
from mnemosyne.coord.worktrees import MODES as WORKTREE_MODES
from mnemosyne.daemon import main as daemon_main
from mnemosyne.daemon.detach import run_detached
from mnemosyne.errors import UsageError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare this command's flags."""
    parser.add_argument("--instance-id", metavar="ID", help="8 lowercase hex digits "
                        "(default: a new random id)")
    parser.add_argument("--worktree", choices=WORKTREE_MODES, default="auto",
                        help="a dedicated git worktree: auto (only when started inside a "
                             "linked worktree), always, never (default: auto)")
    parser.add_argument("--branch", metavar="NAME",
                        help="branch of the dedicated worktree (default: mnemosyne/ID); it "
                             "must not be checked out elsewhere")
    parser.add_argument("--with-api", nargs="?", const="true", default="false",
                        choices=("true", "false"), metavar="true|false",
                        help="serve the HTTP API on the first free port from --api-addr")
    parser.add_argument("--api-addr", metavar="HOST:PORT", help="first address the API tries "
                        "(default: 127.0.0.1:3000, then the next 10 ports)")
    parser.add_argument("--api-capacity", metavar="N", help="events kept for SSE resume")
    parser.add_argument("--accept-work", action="store_true", help="run orchestrated tasks")
    parser.add_argument("--daemon", action="store_true", help="detach into the background "
                        "(not under systemd); logs keep going to this command's stderr")
    parser.add_argument("--pidfile", metavar="PATH",
                        help="with --daemon: where to write the daemon's PID (default: "
                             "~/.local/state/mnemosyne/mnemosyne-ID.pid)")
    add_root_flag(parser)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Hand over to the daemon."""
    flags = {name: getattr(settings, name) for name, source in settings.sources.items()
             if source == "flag"}  # a reload keeps every flag, as a fresh start would
    instance_id = new_instance_id() if args.instance_id is None \
        else validate_instance_id(args.instance_id)  # "" is refused like any other id
    options = daemon_main.ServeOptions(instance_id, args.worktree, args.branch,
                                       args.with_api == "true", args.accept_work)

    def serve() -> int:
        return daemon_main.run(settings, options,
                               lambda: resolve_settings(flags, config_path=args.config))

    if not args.daemon:
        if args.pidfile:
            raise UsageError("--pidfile goes with --daemon")
        return serve()
    pidfile = Path(args.pidfile).absolute() if args.pidfile \
        else settings.state_dir / f"mnemosyne-{instance_id}.pid"
    return run_detached(pidfile, serve)
