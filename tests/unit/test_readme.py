"""The README's reference tables say what the code does."""

from __future__ import annotations

import re
from pathlib import Path

from mnemosyne.config import SETTINGS
from mnemosyne.errors import ExitCode

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def section(name: str) -> list[str]:
    match = re.search(rf"<!-- {name}:.*?-->\n(.*?)<!-- /{name} -->", README, re.S)
    assert match, f"README has no {name} section"
    return match.group(1).strip().splitlines()[2:]  # skip the header and the rule


def test_exit_code_table_matches_the_enum():
    expected = [f"| {code.value} | {code.describe()} |" for code in ExitCode]
    assert section("exit-codes") == expected


def test_settings_table_matches_the_settings():
    expected = [
        f"| `{setting.name}` | {', '.join(f'`{name}`' for name in setting.env)} | "
        + (f"`{setting.describe_default()}`" if setting.describe_default() != "—" else "—")
        + f" | {setting.doc} |"
        for setting in SETTINGS]
    assert section("settings") == expected


def test_quick_start_names_the_two_commands():
    assert "make serve" in README and "make test" in README


def test_mcp_tool_table_matches_the_tools():
    from mnemosyne.mcp.tools import TOOLS, describe_arguments  # noqa: PLC0415

    expected = [f"| `{tool.name}` | {describe_arguments(tool)} | {tool.description} |"
                for tool in TOOLS]
    assert section("mcp-tools") == expected
