"""Write the man pages from the code, so they cannot drift from it: a build tool.

`mnemosyne(1)` comes from the argparse parser (commands, options, help), the `ExitCode` table,
the HTTP routes, the MCP tools and the settings table; `mnemosyne-dash(1)` from the dash's
parser and `ExitCode`; `mnemosyne.conf(5)` from the settings table; `mnemosyne@.service(5)` and
`mnemosyne-multi-instance(7)` are prose kept here, with the template unit read from
`systemd/mnemosyne@.service`. Run `python -m tools.manpages man` from a checkout after changing
any of them; a test fails until you do. Text written with `code` in backticks is set in bold:
no page contains a literal backtick.
Must not: be imported by the running program (it lives outside the package; only tests and
packaging run it).
"""

from __future__ import annotations

import argparse
import functools
import re
import sys
import textwrap
from collections.abc import Callable, Iterable
from pathlib import Path

from mnemosyne import __version__
from mnemosyne.cli.main import COMMANDS, build_parser
from mnemosyne.config import SETTINGS
from mnemosyne.errors import ExitCode

ROOT = Path(__file__).resolve().parents[1]
DATE = "2026-11-28"
MAX_LINE = 80
# The global flags, repeated on every subcommand's usage line; the GLOBAL OPTIONS section has them.
GLOBAL_USAGE = re.compile(r" \[(-h|--db PATH|--config PATH|--log-level \{[a-z,]+\}|--debug)\]")
HEADER = '.TH {name} {section} "{date}" "mnemosyne {version}" "{manual}"\n.nh\n'
CODE = re.compile(r"`([^`\n]+)`")
SYSTEMD_PAGES = ("systemd.unit(5)", "systemd.service(5)", "systemctl(1)", "journalctl(1)",
                 "loginctl(1)")
OWN_PAGES = ("mnemosyne(1)", "mnemosyne-dash(1)", "mnemosyne.conf(5)", "mnemosyne@.service(5)",
             "mnemosyne-multi-instance(7)")


def escape(text: str) -> str:
    """Escape *text* for roff: backslashes, hyphens, non-ASCII, and a dot or quote starting a line.

    A `span` in backticks becomes bold, so no Markdown quoting reaches a page.
    """
    text = text.replace("\\", "\\e").replace("-", "\\-").replace("\u2014", "\\(em")
    text = CODE.sub(r"\\fB\1\\fR", text).replace("`", "\\(ga")
    text = "".join(char if ord(char) < 128 else f"\\[u{ord(char):04X}]" for char in text)
    lines = [("\\&" + line) if line.startswith((".", "'")) else line for line in text.split("\n")]
    return "\n".join(lines)


def wrapped(render: Callable[[], str]) -> Callable[[], str]:
    """Decorate a page renderer: text lines are filled to 80 bytes (mandoc's style limit)."""

    @functools.wraps(render)
    def render_wrapped() -> str:
        out, literal = [], False
        for line in render().split("\n"):
            if line in (".EX", ".nf") or line in (".EE", ".fi"):
                literal = line in (".EX", ".nf")
            if literal or line.startswith(".") or len(line) <= MAX_LINE:
                out.append(line)
                continue
            out += [("\\&" + part) if part.startswith((".", "'")) else part
                    for part in textwrap.wrap(line, MAX_LINE, break_long_words=False,
                                              break_on_hyphens=False)]
        return "\n".join(out)

    return render_wrapped


def paragraphs(text: str) -> str:
    """Turn blank-line-separated text into roff paragraphs."""
    blocks = [" ".join(block.split()) for block in text.strip().split("\n\n") if block.strip()]
    return "\n.PP\n".join(escape(block) for block in blocks) + "\n"


def section(title: str, text: str = "") -> str:
    """Return a section heading followed by the paragraphs of *text*."""
    return f".SH {title}\n" + (paragraphs(text) if text.strip() else "")


def subsection(title: str, text: str = "") -> str:
    """Return a subsection heading followed by the paragraphs of *text*."""
    return f".SS {escape(title)}\n" + (paragraphs(text) if text.strip() else "")


def tagged(items: Iterable[tuple[str, str]]) -> str:
    """Return a tagged list: each tag in bold, its text indented below."""
    return "".join(f".TP\n\\fB{escape(tag)}\\fR\n{escape(' '.join(text.split()))}\n"
                   for tag, text in items)


def example(*lines: str) -> str:
    """Return *lines* as an indented, unfilled example."""
    return ".PP\n.RS 4\n.EX\n" + "\n".join(escape(line) for line in lines) + "\n.EE\n.RE\n"


def see_also(page: str, *extra: str) -> str:
    """Return the SEE ALSO section: the other pages of the project, then systemd's."""
    names = [name for name in OWN_PAGES if name != page] + list(extra) + list(SYSTEMD_PAGES)
    refs = []
    for name in names:
        title, number = name[:-1].split("(")
        refs.append(f"\\fB{escape(title)}\\fR({number})")
    return ".SH SEE ALSO\n" + ",\n".join(refs) + "\n"


def exit_status(codes: Iterable[ExitCode], notes: dict[ExitCode, str] | None = None) -> str:
    """Return an EXIT STATUS section for *codes*, from `ExitCode`; *notes* replace a meaning."""
    notes = notes or {}
    return ".SH EXIT STATUS\n" + "".join(
        f".TP\n.B {int(code)}\n{escape(notes.get(code, code.describe()))}\n" for code in codes)


def subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """Return the subcommands of *parser* by name (empty when it has none)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _options(parser: argparse.ArgumentParser, skip: set[str], keep_help: bool = False) -> str:
    out = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) \
                or (action.dest == "help" and not keep_help) or set(action.option_strings) & skip:
            continue
        if action.option_strings:
            names = ", ".join(action.option_strings)
        else:
            names = action.metavar or ("|".join(action.choices) if action.choices
                                       else action.dest)
        metavar = ""
        if action.option_strings and action.nargs != 0:
            metavar = " " + (action.metavar or (
                "|".join(action.choices) if action.choices else action.dest.upper()))
        out.append(f".TP\n\\fB{escape(names)}\\fR{escape(metavar)}\n{escape(action.help or '')}")
    return "\n".join(out) + ("\n" if out else "")


def _commands(parser: argparse.ArgumentParser, prefix: str, skip: set[str]) -> list[str]:
    text = []
    for name, sub in subparsers(parser).items():
        usage = GLOBAL_USAGE.sub("", " ".join(sub.format_usage().split()[1:]))
        doc = COMMANDS[name].__doc__ if not prefix and name in COMMANDS else sub.description
        text.append(f".SS {escape(prefix + name)}\n.B {escape(usage)}\n.PP\n")
        text.append(paragraphs(doc or ""))
        text.append(_options(sub, skip=skip))
        text += _commands(sub, f"{prefix}{name} ", skip)
    return text


@wrapped
def render_mnemosyne_1() -> str:
    """Return the roff source of mnemosyne(1)."""
    parser = build_parser()
    global_flags = {"--db", "--config", "--log-level", "--debug", "--version"}
    text = [HEADER.format(name="MNEMOSYNE", section="1", date=DATE, version=__version__,
                          manual="User Commands")]
    text.append(".SH NAME\nmnemosyne \\- local memory daemon and command line for coding agents\n")
    text.append(".SH SYNOPSIS\n\\fBmnemosyne\\fR [\\fIglobal options\\fR] \\fICOMMAND\\fR "
                "[\\fIoptions\\fR]\n")
    text.append(".SH DESCRIPTION\n" + paragraphs(
        "Mnemosyne stores what coding agents learn and finds it again. Many instances run on "
        "one machine at once and share one SQLite database in WAL mode; every write is one "
        "BEGIN IMMEDIATE transaction, queued and retried so that no caller sees \"database is "
        "locked\" under normal contention."))
    text.append(".SH GLOBAL OPTIONS\nThese may stand before or after the command.\n")
    text.append(_options(parser, skip=set(), keep_help=True))
    text.append(".SH COMMANDS\n")
    text += _commands(parser, "", global_flags)
    text.append(exit_status(ExitCode))
    text.append(http_api_section())
    text.append(mcp_section())
    text.append(".SH ENVIRONMENT\n")
    for setting in SETTINGS:
        for variable in setting.env:
            text.append(f".TP\n.B {escape(variable)}\n{escape(setting.doc)}\n")
    text.append(".TP\n.B MNEMOSYNE_CONFIG\nconfiguration file to read instead of the default\n")
    text.append(".TP\n.B JOURNAL_STREAM\nset by systemd; when it names standard error, log "
                "lines carry syslog priority prefixes and no timestamps\n")
    text.append(".SH FILES\n.TP\n.I ~/.local/share/mnemosyne/mnemosyne.db\nthe default "
                "database ($XDG_DATA_HOME/mnemosyne/mnemosyne.db)\n.TP\n"
                ".I ~/.config/mnemosyne/config.toml\nthe configuration file, see "
                "\\fBmnemosyne.conf\\fR(5)\n.TP\n.I DB\\-lock\nthe writer queue's lock file, "
                "next to the database\n")
    text.append(see_also("mnemosyne(1)", "sqlite3(1)"))
    return "".join(text)


def mcp_section() -> str:
    """Return the MCP TOOLS section of mnemosyne(1), from the tool definitions."""
    from mnemosyne.mcp.tools import TOOLS, describe_arguments  # noqa: PLC0415

    text = [".SH MCP TOOLS\n" + paragraphs(
        "\"mnemosyne mcp\" answers the Model Context Protocol on standard input and output "
        "(e.g. \"claude mcp add mnemosyne -- mnemosyne mcp\"; see the README for VS Code, "
        "Cursor and Codex). Each tool's input schema is strict; errors are tool results with "
        "isError true. The prompt \"context\" gives the same pack as the context tool. "
        "Every instance started with \"serve --with-api\" serves the same tools over MCP's "
        "Streamable HTTP transport at /mcp, behind the API token (Authorization: Bearer).")]
    for tool in TOOLS:
        text.append(f".TP\n.B {tool.name}\n{escape(tool.description)} Arguments: "
                    f"{escape(describe_arguments(tool).replace('`', ''))}.\n")
    return "".join(text)


def http_api_section() -> str:
    """Return the HTTP API section of mnemosyne(1), from the served OpenAPI document."""
    from mnemosyne.api.openapi import openapi_document  # noqa: PLC0415

    text = [".SH HTTP API\n" + paragraphs(
        "\"serve --with-api\" listens on the first free port from --api-addr "
        "(default 127.0.0.1:3000, then the next ten ports; port 0: any). When every port is "
        "taken the instance runs without an API and says so. The URL is written to the "
        "registry (\"mnemosyne instances\") before the instance reports ready. Errors are "
        "JSON objects {\"error\": message, \"status\": code}; the full description is "
        "served at /openapi.json.\n\n"
        "Who can reach it: only the user who runs the instance. Every route except /health "
        "needs the API token, sent as \"Authorization: Bearer TOKEN\" (401 otherwise): "
        "MNEMOSYNE_API_TOKEN when set, else the per-user file ~/.config/mnemosyne/api-token "
        "(0600, made on first use; a symbolic link or another user's file is refused, exit "
        "6), which the user's own clients read. Only /events also takes ?access_token= (for "
        "EventSource). Before any route runs, a Host other than 127.0.0.1, localhost, [::1], "
        "the bound address or a name in api_allowed_hosts (any port) gets 403, /health "
        "included (DNS rebinding), and so does a POST or DELETE from a foreign Origin. "
        "\"mnemosyne dashboard-url\" prints a one-time login link to the web dashboard "
        "(a code from POST /login-codes; the token never enters the browser), which sets an "
        "HttpOnly, SameSite=Strict session cookie. /health is open but shows its problem list "
        "only with the token. An address other machines can reach requires "
        "MNEMOSYNE_API_TOKEN to be set.")]
    for path, item in openapi_document()["paths"].items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            text.append(f".TP\n.B {method.upper()} {escape(path)}\n"
                        f"{escape(operation['summary'])}\n")
    return "".join(text)


DASH_EXIT_CODES = (ExitCode.OK, ExitCode.USAGE, ExitCode.UNAVAILABLE, ExitCode.NOT_FOUND)


@wrapped
def render_mnemosyne_dash_1() -> str:
    """Return the roff source of mnemosyne-dash(1)."""
    from mnemosyne.cli import dash  # noqa: PLC0415

    parser = dash.build_parser()
    text = [HEADER.format(name="MNEMOSYNE-DASH", section="1", date=DATE, version=__version__,
                          manual="User Commands")]
    text.append(".SH NAME\nmnemosyne\\-dash \\- live terminal dashboard for mnemosyne "
                "instances\n")
    text.append(".SH SYNOPSIS\n.B " + escape(" ".join(parser.format_usage().split()[1:]))
                + "\n")
    text.append(".SH DESCRIPTION\n" + paragraphs(
        dash.__doc__.split("Must not:")[0].split("\n\n", 1)[1]))
    text.append(paragraphs(
        "The screen shows the instances watched (stream state, health, database, uptime, port, "
        "SSE subscribers), their live events newest first (heartbeats hidden unless asked "
        "for), and the registry. A dropped stream is retried with backoff (0.5 s doubling to "
        "10 s) and resumed with Last-Event-ID; while an instance cannot be reached its row "
        "says DOWN, why, and when the next attempt is. Keys: f shows the next event type "
        "(then all again), h shows or hides heartbeats, q quits."))
    text.append(".SH OPTIONS\n" + _options(parser, skip=set(), keep_help=True))
    text.append(exit_status(DASH_EXIT_CODES, {
        ExitCode.OK: "success: with --once, every instance answered",
        ExitCode.UNAVAILABLE: "with --once: an instance did not answer (the snapshot still "
                              "lists it)",
        ExitCode.NOT_FOUND: "with --all: no live instance with an API in the registry"}))
    text.append(".SH ENVIRONMENT\n.TP\n.B MNEMOSYNE_API_TOKEN\nthe API token, if the "
                "instances use a configured one (else ~/.config/mnemosyne/api\\-token is "
                "read)\n.TP\n.B MNEMOSYNE_ROOT\ncoordination directory whose "
                "registry \\-\\-all reads\n")
    text.append(".SH EXAMPLES\n.nf\nmnemosyne\\-dash \\-\\-api http://127.0.0.1:3000 \\-\\-api "
                "http://127.0.0.1:3001\nmnemosyne\\-dash \\-\\-all\nmnemosyne\\-dash \\-\\-all "
                "\\-\\-once \\-\\-format json | jq '.instances[].health.status'\n.fi\n")
    text.append(see_also("mnemosyne-dash(1)"))
    return "".join(text)


@wrapped
def render_mnemosyne_conf_5() -> str:
    """Return the roff source of mnemosyne.conf(5)."""
    text = [HEADER.format(name="MNEMOSYNE.CONF", section="5", date=DATE, version=__version__,
                          manual="File Formats")]
    text.append(".SH NAME\nmnemosyne.conf \\- configuration file of mnemosyne\n")
    text.append(".SH SYNOPSIS\n.I ~/.config/mnemosyne/config.toml\n")
    text.append(".SH DESCRIPTION\n" + paragraphs(
        "A TOML file of top-level keys. A command-line flag wins over the environment, which "
        "wins over this file, which wins over the defaults. An unknown key or an invalid value "
        "is an error naming the file; every problem is reported at once. "
        "\"mnemosyne config show\" prints each setting with the place its value came from."))
    text.append(".SH SETTINGS\n")
    for setting in SETTINGS:
        environment = ", ".join(setting.env)
        text.append(f".TP\n.B {escape(setting.name)}\n{escape(setting.doc)}. Default: "
                    f"{escape(setting.describe_default())}. Environment: {escape(environment)}.\n")
    text.append(".SH EXAMPLE\n.nf\ndb_path = \"/srv/agents/memory.db\"\nlog_level = \"debug\"\n"
                "busy_timeout_ms = 10000\n.fi\n")
    text.append(see_also("mnemosyne.conf(5)"))
    return "".join(text)


def unit_listing(name: str) -> list[str]:
    """Return the lines of the unit file *name* in systemd/, without its comments."""
    lines = (ROOT / "systemd" / name).read_text(encoding="utf-8").splitlines()
    return [line for line in lines if not line.startswith("#")]


@wrapped
def render_mnemosyne_service_5() -> str:
    """Return the roff source of mnemosyne@.service(5)."""
    text = [HEADER.format(name="MNEMOSYNE@.SERVICE", section="5", date=DATE,
                          version=__version__, manual="File Formats")]
    text.append(".SH NAME\nmnemosyne@.service \\- systemd user unit of one mnemosyne instance\n")
    text.append(".SH SYNOPSIS\n.nf\n\\fBmnemosyne@\\fR\\fIID\\fR\\fB.service\\fR\n"
                "\\fBmnemosyne.target\\fR\n\\fBmnemosyne\\-doctor.service\\fR\n"
                "\\fBmnemosyne\\-doctor.timer\\fR\n.fi\n")
    text.append(section("DESCRIPTION", """
        `mnemosyne@.service` is a template unit of the systemd user manager: each instance of
        it, `mnemosyne@ID.service`, runs one mnemosyne instance, `mnemosyne serve --instance-id
        ID --with-api`, under the user's own systemd (`systemctl --user`). Many instances run
        side by side and share one database and one coordination directory, see
        `mnemosyne-multi-instance(7)`.

        Packages install the units in /usr/lib/systemd/user/; after a pip or pipx
        installation, `mnemosyne systemd install` writes them to ~/.config/systemd/user/ with
        ExecStart= naming that installation, and `mnemosyne systemd uninstall` removes them
        again. `mnemosyne systemd new` picks a fresh id, writes its environment file and
        enables the instance."""))
    text.append(section("THE INSTANCE ID", """
        The instance name, `%i` in the unit, is the instance id: 8 lowercase hexadecimal
        digits, e.g. `mnemosyne@a1b2c3d4.service`. The same id names the instance in the
        process registry, its liveness lock `locks/ID.lock`, its worktree
        `.mnemosyne/worktrees/ID`, its branch `mnemosyne/ID`, its messages and its log lines.
        A unit whose name is not a valid id fails at once with exit status 2 and a
        `Status: failed:` line saying why; it is not restarted."""))
    text.append(section("ENVIRONMENT FILES", """
        Two optional files are read, both 0600 and written by `mnemosyne systemd new` or by
        hand: ~/.config/mnemosyne/common.env for every instance, then
        ~/.config/mnemosyne/ID.env for one (`%E/mnemosyne/%i.env`). Each holds
        VARIABLE=value lines as `systemd.exec(5)` describes for EnvironmentFile=.
        `MNEMOSYNE_ARGS` adds flags to the `serve` command line (e.g. `--worktree always`);
        `MNEMOSYNE_WORKDIR` names the directory the instance works in and `MNEMOSYNE_ROOT` its
        coordination directory (`systemd new --repo DIR` writes both); every setting's
        variable of `mnemosyne.conf(5)` may be set here too. The environment is read when the
        instance starts: after changing a file, restart the instance."""))
    text.append(section("NOTIFICATION AND WATCHDOG", """
        The service is `Type=notify`: the instance sends READY=1 once it is registered and,
        with the API, listening; `systemctl --user start` returns only then. STATUS= says where
        it serves and how many peers it sees. `WatchdogSec=10s`: the main loop sends WATCHDOG=1
        only while its registry heartbeat succeeds and its health check passes, so systemd
        kills and restarts an instance that hangs. `systemctl --user reload` sends SIGHUP: the
        instance sends RELOADING=1, resolves its settings again, and READY=1. SIGTERM stops it
        cleanly (exit status 0) within `TimeoutStopSec=15s`.

        `Restart=on-failure`, but never after exit status 2 (bad flags or configuration), 6
        (an unsafe coordination directory) or 7 (the id is already running): a restart cannot
        fix those (`RestartPreventExitStatus=`). After 5 starts within 60 s systemd gives up
        until `systemctl --user reset-failed`."""))
    text.append(section("REGISTRY AND DOCTOR", """
        An instance started by systemd records its unit's name in its process registry entry
        (the `systemd_unit` field of `mnemosyne instances --format json`), so the registry and
        the user manager can be compared. `mnemosyne doctor` does so in its systemd check:
        failed `mnemosyne@` units, active units no registry entry names, entries naming an
        inactive unit, installed unit files that differ from this version's, and whether the
        doctor timer is enabled; `doctor --fix` resets failed units and rewrites stale unit
        files. When a unit's process dies, its entry is provably dead (nobody holds its
        liveness lock) and the next `serve` or doctor run removes it."""))
    text.append(section("MNEMOSYNE.TARGET", """
        Every instance is `WantedBy=mnemosyne.target` and `PartOf=` it: `systemctl --user
        enable mnemosyne.target` (which `mnemosyne systemd install --enable` does) starts every
        enabled instance at login, and `systemctl --user stop mnemosyne.target` stops them
        all."""))
    text.append(section("THE DOCTOR TIMER", """
        `mnemosyne-doctor.timer` starts `mnemosyne-doctor.service` 5 minutes after boot and then
        hourly; it runs `mnemosyne doctor --fix --cleanup-stale --all-roots`, which repairs
        what crashed instances left behind in every coordination directory in use. Exit status
        1 (only warnings) counts as success, 4 (problems left) fails the unit. Enable it with
        `systemctl --user enable --now mnemosyne-doctor.timer`."""))
    text.append(section("LINGERING", """
        A user manager runs only while its user is logged in. `loginctl enable-linger`
        keeps it running from boot to shutdown, so enabled instances start at boot and keep
        running after logout; `loginctl disable-linger` undoes it."""))
    text.append(section("LOGGING", """
        Standard error goes to the journal under `SyslogIdentifier=mnemosyne`; each record is
        sent with its priority and the field `MNEMOSYNE_INSTANCE=ID`, so both `journalctl
        --user -u mnemosyne@ID` and `journalctl MNEMOSYNE_INSTANCE=ID` find one instance's
        lines."""))
    text.append(section("THE TEMPLATE", "The unit as installed, without its comments:"))
    text.append(example(*unit_listing("mnemosyne@.service")))
    text.append(".SH FILES\n" + tagged([
        ("/usr/lib/systemd/user/mnemosyne@.service",
         "the template, with mnemosyne.target and the doctor's service and timer beside it "
         "(installed by a package)"),
        ("~/.config/systemd/user/mnemosyne@.service",
         "the same, written by mnemosyne systemd install; it overrides the packaged one"),
        ("~/.config/mnemosyne/common.env", "environment of every instance"),
        ("~/.config/mnemosyne/ID.env", "environment of instance ID"),
    ]))
    text.append(".SH EXAMPLES\n" + paragraphs("Install the units, create an instance for a "
                                              "repository and follow it:"))
    text.append(example(
        "mnemosyne systemd install --enable",
        "mnemosyne systemd new --repo ~/src/myapp --start",
        "systemctl --user start mnemosyne@a1b2c3d4",
        "systemctl --user status mnemosyne@a1b2c3d4",
        "systemctl --user reload mnemosyne@a1b2c3d4",
        "journalctl --user -u mnemosyne@a1b2c3d4",
        "journalctl MNEMOSYNE_INSTANCE=a1b2c3d4",
        "loginctl enable-linger $USER"))
    text.append(see_also("mnemosyne@.service(5)", "systemd.exec(5)"))
    return "".join(text)


@wrapped
def render_multi_instance_7() -> str:
    """Return the roff source of mnemosyne-multi-instance(7)."""
    text = [HEADER.format(name="MNEMOSYNE-MULTI-INSTANCE", section="7", date=DATE,
                          version=__version__, manual="Miscellaneous Information Manual")]
    text.append(".SH NAME\nmnemosyne\\-multi\\-instance \\- many mnemosyne instances on one "
                "machine\n")
    text.append(section("DESCRIPTION", """
        Many mnemosyne instances, one per coding agent, run on one machine at once. They share
        one SQLite database (the memories) and one coordination directory (who runs, who works
        on which branch, and their messages). This page describes how they stay out of each
        other's way, where that has limits, and what to do when something goes wrong."""))
    text.append(section("ARCHITECTURE"))
    text.append(subsection("Coordination files", """
        The coordination directory is `--root DIR` or `MNEMOSYNE_ROOT`; else, inside a git
        repository, `.mnemosyne/` at the top of its main worktree; else
        ~/.local/state/mnemosyne. It holds `process_registry.json` (one signed entry per
        instance, with a heartbeat every 2 s), `branch_registry.json` (branch claims),
        `coordination_queue/` (one file per message), `worktrees/`, `locks/` (liveness locks
        and the registries' lock files), `cursors/` (what each instance has received) and
        `rejected/` (messages that failed a check). Every root in use is recorded in a per-user
        index, so `mnemosyne instances --all-roots` and `mnemosyne doctor --all-roots` see them
        all."""))
    text.append(subsection("Isolation", """
        Each instance holds an flock on `locks/ID.lock` for its whole life: the kernel releases
        it even on SIGKILL, so a crashed instance is seen dead at once, and a second instance
        with a live id is refused (exit status 7). Registry writers hold an exclusive lock and
        readers a shared one, so nobody sees half a file. An entry is judged live, stale (alive
        but no heartbeat within 30 s), unverified (bad signature) or dead; only dead ones are
        ever removed."""))
    text.append(subsection("Worktrees", """
        `serve --worktree auto|always|never`: an instance started inside a linked worktree (or
        with `always`) gets its own git worktree, `.mnemosyne/worktrees/ID`, on a new branch
        `mnemosyne/ID` or on `--branch NAME`, which no other worktree may have checked out. A
        clean worktree is removed when its instance stops; one with uncommitted work is kept,
        and branches are never deleted."""))
    text.append(subsection("Ports", """
        `serve --with-api` listens on the first free port of 3000 to 3010 (`--api-addr`, or
        `api_addr` in `mnemosyne.conf(5)`, moves the range; port 0 takes any free port). Each
        instance writes its URL into its registry entry before it reports ready: `mnemosyne
        instances` shows which instance has which port."""))
    text.append(subsection("Events", """
        Each instance's API streams events over Server-Sent Events at /events: memories
        stored, changed or deleted by any process, instances coming and going, messages and
        heartbeats, with Last-Event-ID to resume. `mnemosyne-dash --all` watches every
        instance. Messages between instances (`mnemosyne send`, `mnemosyne inbox`) are signed
        files published by atomic rename and noticed through inotify within milliseconds; a
        direct message reaches its recipient once, a broadcast every other instance once."""))
    text.append(subsection("Database concurrency", """
        The database is in WAL mode: readers never wait for writers. Every write is one
        BEGIN IMMEDIATE transaction; the writers of one process queue behind one lock, and
        writers of different processes wait up to `busy_timeout_ms` (5 s) for SQLite's lock
        and are retried with backoff until `write_deadline_s` (30 s). Under normal
        contention no caller sees "database is locked"."""))
    text.append(section("LIMITS", """
        One machine: the coordination directory relies on flock, inotify and process ids, not
        on a network file system. 64 instances at once keep their heartbeats on time on a
        2-core machine. A registry file holds at most 1 MiB (about 1,500 instances); a message
        at most `message_size_cap` bytes (1 KiB); messages nobody reads are deleted after
        `message_ttl_s` (300 s). Only 11 ports are tried by default, so the 12th instance with
        an API runs without one unless the range is moved. All writes to the database are
        serialized: a long transaction of another program holds every instance's writes
        back."""))
    text.append(section("TROUBLESHOOTING"))
    text.append(subsection("Address already in use", """
        mnemosyne never fails with this: a port that is taken is skipped and the next one
        tried. Another program that reports it (or a fixed `--api-addr` of a program you
        start) collides with an instance; `mnemosyne instances` shows the ports the instances
        hold, `ss -ltnp` every listener."""))
    text.append(subsection("All ports exhausted", """
        The log line "All ports (3000\u20133010) are in use. API server unavailable" means
        every port of the range is taken: the instance runs without an API (its memories and
        messages work as usual). Stop instances you no longer need, or give this one another
        range with `--api-addr 127.0.0.1:3100` (or port 0 for any free port)."""))
    text.append(subsection("database is locked", """
        A write waits and retries up to `write_deadline_s`; the error "the database stayed
        locked" means another program held a write transaction all that time, e.g. an open
        `sqlite3` shell inside BEGIN. End that transaction. Raising `busy_timeout_ms` or
        `write_deadline_s` only waits longer."""))
    text.append(subsection("A stale registry", """
        `mnemosyne instances --all` shows every entry with its state. Dead entries are removed
        by the next `serve` and by `mnemosyne doctor --cleanup-stale`; a stale (hung) instance
        is never removed: stop it (`systemctl --user restart mnemosyne@ID`, or kill its
        process). An unverified entry was signed with another secret or tampered with: give
        the instances that must trust each other the same `MNEMOSYNE_SHARED_SECRET`. A registry
        file that cannot be read is set aside and rebuilt by the next heartbeats; `mnemosyne
        doctor --fix` makes every safe repair."""))
    text.append(section("SECURITY", """
        Signatures: every registry entry, branch claim and message is signed with HMAC-SHA256,
        keyed by `MNEMOSYNE_SHARED_SECRET` or the per-user secret file
        ~/.config/mnemosyne/secret (0600). An entry whose signature fails is never trusted as
        live; a message whose signature fails is set aside or skipped.

        Permissions: the coordination directory and its folders are 0700 and its files 0600
        whatever the umask; a root that is a symbolic link or another user's is refused (exit
        status 6). Every file there is untrusted input: opened without following links or
        blocking, owned by the user, size-checked before it is read.

        Message limits: a message of more than `message_size_cap` bytes is refused by `send`
        and set aside by a receiver; a replayed copy of a delivered message is deleted, not
        delivered again. The HTTP API answers only 127.0.0.1 by default and needs the per-user
        API token for every route but /health."""))
    text.append(section("BEST PRACTICES", """
        Run each agent's instance as `mnemosyne@ID.service` with `systemd new --repo DIR`, so
        it is restarted on failure and logged under its id. Enable the doctor timer. Give
        every agent on the same repository its own worktree (`--worktree always`) and claim
        branches instead of sharing one working directory. Keep the shared secret in the
        environment files only where instances must trust each other. Use `mnemosyne
        instances` before starting by hand, and `mnemosyne doctor` when something looks
        wrong."""))
    text.append(see_also("mnemosyne-multi-instance(7)", "sqlite3(1)"))
    return "".join(text)


PAGES = {"man1/mnemosyne.1": render_mnemosyne_1,
         "man1/mnemosyne-dash.1": render_mnemosyne_dash_1,
         "man5/mnemosyne.conf.5": render_mnemosyne_conf_5,
         "man5/mnemosyne@.service.5": render_mnemosyne_service_5,
         "man7/mnemosyne-multi-instance.7": render_multi_instance_7}


def write_pages(directory: Path) -> list[Path]:
    """Write every page into *directory* in the `manN/` layout `man` and MANPATH expect."""
    written = []
    for name, render in PAGES.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(), encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    for page in write_pages(Path(sys.argv[1] if len(sys.argv) > 1 else "man")):
        print(page)
