"""Manage the systemd user units: install, new instance, uninstall.

`install [--enable]` writes mnemosyne@.service, mnemosyne.target and the doctor service and
timer into ~/.config/systemd/user (ExecStart is this installation), reloads the user manager,
and prints how to enable the doctor timer and mnemosyne.target, or with --enable enables them.
`new [--repo DIR] [--start] [--no-enable]` writes ~/.config/mnemosyne/ID.env (MNEMOSYNE_ARGS;
with --repo, MNEMOSYNE_WORKDIR=DIR and MNEMOSYNE_ROOT=its repository's .mnemosyne), enables
mnemosyne@ID.service under mnemosyne.target unless --no-enable, and prints its name. Instances
start at boot without a login after `loginctl enable-linger $USER`. `uninstall` disables the
timer and the target and removes what `install` wrote.
"""

from __future__ import annotations

import argparse
import sys

from mnemosyne.config import Settings
from mnemosyne.daemon import units
from mnemosyne.errors import UsageError

NEW_ONLY = ("instance_id", "args", "start", "repo", "no_enable")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare this command's flags."""
    parser.add_argument("action", choices=("install", "new", "uninstall"))
    parser.add_argument("--user", action="store_true",
                        help="user units (the default and only choice; distro packages "
                             "install system-wide ones)")
    parser.add_argument("--enable", action="store_true",
                        help="with install: enable (and start) mnemosyne-doctor.timer and "
                             "enable mnemosyne.target")
    parser.add_argument("--instance-id", metavar="ID", help="with new: the id to use")
    parser.add_argument("--args", default="", metavar="FLAGS",
                        help="with new: extra serve flags, e.g. '--worktree always'")
    parser.add_argument("--repo", metavar="DIR",
                        help="with new: the instance works in DIR (inside a git worktree) "
                             "and uses its repository's .mnemosyne")
    parser.add_argument("--start", action="store_true", help="with new: start it now")
    parser.add_argument("--no-enable", action="store_true",
                        help="with new: do not enable it (it will not start at login)")


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Do the action and say what was done."""
    if args.action != "new" and any(getattr(args, name) for name in NEW_ONLY):
        raise UsageError("--instance-id, --args, --repo, --start and --no-enable go with "
                         "`systemd new`")
    if args.action != "install" and args.enable:
        raise UsageError("--enable goes with `systemd install`")
    paths = units.UnitPaths.for_config_dir(settings.config_dir.parent)
    if args.action == "install":
        for path in units.install(paths, enable=args.enable):
            print(f"installed {path}")
        if not (args.enable and units.systemctl_available()):
            print("\n".join(units.enable_hints()))
    elif args.action == "new":
        environment = units.repository_environment(args.repo, settings.state_dir) \
            if args.repo is not None else None
        made = units.new_instance(paths, args.instance_id, args.args, start=args.start,
                                  enable=not args.no_enable, environment=environment)
        print(made.unit)
        for note in made.notes:
            print(f"mnemosyne: {note}", file=sys.stderr)
    else:
        for path in units.uninstall(paths):
            print(f"removed {path}")
    return 0
