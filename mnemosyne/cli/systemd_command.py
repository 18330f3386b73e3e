"""Manage the systemd user units: install, new instance, uninstall.

`install` writes mnemosyne@.service, mnemosyne.target and the doctor service and timer into
~/.config/systemd/user with ExecStart pointing at this installation, then reloads the user
manager. `new [--start]` makes an instance id and its environment file
~/.config/mnemosyne/ID.env (MNEMOSYNE_ARGS=--args) and prints mnemosyne@ID.service.
`uninstall` removes the units `install` wrote.
"""

from __future__ import annotations

import argparse

from mnemosyne.config import Settings
from mnemosyne.daemon import units
from mnemosyne.errors import UsageError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare this command's flags."""
    parser.add_argument("action", choices=("install", "new", "uninstall"))
    parser.add_argument("--user", action="store_true",
                        help="user units (the default and only choice; distro packages "
                             "install system-wide ones)")
    parser.add_argument("--instance-id", metavar="ID", help="with new: the id to use")
    parser.add_argument("--args", default="", metavar="FLAGS",
                        help="with new: extra serve flags, e.g. '--worktree always'")
    parser.add_argument("--start", action="store_true", help="with new: start it now")


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Do the action and say what was done."""
    if args.action != "new" and (args.instance_id or args.args or args.start):
        raise UsageError("--instance-id, --args and --start go with `systemd new`")
    paths = units.UnitPaths.for_config_dir(settings.config_dir.parent)
    if args.action == "install":
        for path in units.install(paths):
            print(f"installed {path}")
    elif args.action == "new":
        print(units.new_instance(paths, args.instance_id, args.args, args.start))
    else:
        for path in units.uninstall(paths):
            print(f"removed {path}")
    return 0
