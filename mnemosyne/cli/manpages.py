"""Write the man pages from the code, so they cannot drift from it.

`mnemosyne(1)` comes from the argparse parser (commands, options, help), the `ExitCode` table and
the settings table; `mnemosyne.conf(5)` from the settings table. Run
`python -m mnemosyne.cli.manpages man/` after changing any of them; a test fails until you do.
Must not: be imported by the running program (only by tests and packaging).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from mnemosyne import __version__
from mnemosyne.cli.main import COMMANDS, build_parser
from mnemosyne.config import SETTINGS
from mnemosyne.errors import ExitCode

DATE = "2026-11-28"
# The global flags, repeated on every subcommand's usage line; the GLOBAL OPTIONS section has them.
GLOBAL_USAGE = re.compile(r" \[(-h|--db PATH|--config PATH|--log-level \{[a-z,]+\}|--debug)\]")
HEADER = '.TH {name} {section} "{date}" "mnemosyne {version}" "{manual}"\n.nh\n'


def escape(text: str) -> str:
    """Escape *text* for roff: backslashes, hyphens, and a dot or quote starting a line."""
    text = text.replace("\\", "\\e").replace("-", "\\-").replace("—", "\\(em")
    lines = [("\\&" + line) if line.startswith((".", "'")) else line for line in text.split("\n")]
    return "\n".join(lines)


def paragraphs(text: str) -> str:
    """Turn blank-line-separated text into roff paragraphs."""
    blocks = [" ".join(block.split()) for block in text.strip().split("\n\n") if block.strip()]
    return "\n.PP\n".join(escape(block) for block in blocks) + "\n"


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _options(parser: argparse.ArgumentParser, skip: set[str]) -> str:
    out = []
    for action in parser._actions:
        subcommands = isinstance(action, argparse._SubParsersAction)
        if subcommands or action.dest == "help" or set(action.option_strings) & skip:
            continue
        names = ", ".join(action.option_strings) or action.metavar or action.dest
        metavar = ""
        if action.option_strings and action.nargs != 0:
            metavar = " " + (action.metavar or (
                "|".join(action.choices) if action.choices else action.dest.upper()))
        out.append(f".TP\n\\fB{escape(names)}\\fR{escape(metavar)}\n{escape(action.help or '')}")
    return "\n".join(out) + ("\n" if out else "")


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
    text.append(_options(parser, skip=set()))
    text.append(".SH COMMANDS\n")
    for name, sub in _subparsers(parser).items():
        usage = GLOBAL_USAGE.sub("", " ".join(sub.format_usage().split()[1:]))
        text.append(f".SS {name}\n.B {escape(usage)}\n.PP\n")
        text.append(paragraphs(COMMANDS[name].__doc__ or ""))
        text.append(_options(sub, skip=global_flags))
    text.append(".SH EXIT STATUS\n")
    text += [f".TP\n.B {code.value}\n{escape(code.describe())}\n" for code in ExitCode]
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
    text.append(".SH SEE ALSO\n\\fBmnemosyne\\-dash\\fR(1), \\fBmnemosyne.conf\\fR(5), "
                "\\fBsqlite3\\fR(1)\n")
    return "".join(text)


def mcp_section() -> str:
    """Return the MCP TOOLS section of mnemosyne(1), from the tool definitions."""
    from mnemosyne.mcp.tools import TOOLS, describe_arguments  # noqa: PLC0415

    text = [".SH MCP TOOLS\n" + paragraphs(
        "\"mnemosyne mcp\" answers the Model Context Protocol on standard input and output "
        "(e.g. \"claude mcp add mnemosyne -- mnemosyne mcp\"; see the README for VS Code, "
        "Cursor and Codex). Each tool's input schema is strict; errors are tool results with "
        "isError true. The prompt \"context\" gives the same pack as the context tool.")]
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
    text.append(".SH OPTIONS\n" + _options(parser, skip=set()))
    text.append(".SH EXIT STATUS\n.TP\n.B 0\nsuccess\n.TP\n.B 2\ninvalid command line or "
                "configuration\n.TP\n.B 3\nwith \\-\\-once: an instance did not answer (the "
                "snapshot still lists it)\n.TP\n.B 5\nwith \\-\\-all: no live instance with an "
                "API in the registry\n")
    text.append(".SH ENVIRONMENT\n.TP\n.B MNEMOSYNE_API_TOKEN\nthe API token, if the "
                "instances use a configured one (else ~/.config/mnemosyne/api\\-token is "
                "read)\n.TP\n.B MNEMOSYNE_ROOT\ncoordination directory whose "
                "registry \\-\\-all reads\n")
    text.append(".SH EXAMPLES\n.nf\nmnemosyne\\-dash \\-\\-api http://127.0.0.1:3000 \\-\\-api "
                "http://127.0.0.1:3001\nmnemosyne\\-dash \\-\\-all\nmnemosyne\\-dash \\-\\-all "
                "\\-\\-once \\-\\-format json | jq '.instances[].health.status'\n.fi\n")
    text.append(".SH SEE ALSO\n\\fBmnemosyne\\fR(1)\n")
    return "".join(text)


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
    text.append(".SH SEE ALSO\n\\fBmnemosyne\\fR(1)\n")
    return "".join(text)


PAGES = {"man1/mnemosyne.1": render_mnemosyne_1,
         "man1/mnemosyne-dash.1": render_mnemosyne_dash_1,
         "man5/mnemosyne.conf.5": render_mnemosyne_conf_5}


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
