"""The conventions of STYLE.md that a machine can check."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "mnemosyne"
MODULES = sorted(path for path in PACKAGE.rglob("*.py") if "__pycache__" not in path.parts)
ENVIRONMENT_READERS = {"mnemosyne/config.py", "mnemosyne/daemon/systemd.py"}
EVERY_PACKAGE = ("mnemosyne.cli", "mnemosyne.daemon", "mnemosyne.api", "mnemosyne.mcp",
                 "mnemosyne.dash", "mnemosyne.doctor", "mnemosyne.coord", "mnemosyne.store",
                 "mnemosyne.review")
# Library layers that must never reach up into the front ends; the ground modules import
# nothing above them (errors, atomicfile and childwait nothing of mnemosyne at all).
FORBIDDEN_IMPORTS = {
    "mnemosyne/errors.py": ("mnemosyne.",),
    "mnemosyne/atomicfile.py": ("mnemosyne.",),
    "mnemosyne/childwait.py": ("mnemosyne.",),
    "mnemosyne/logs.py": (*EVERY_PACKAGE, "mnemosyne.config"),
    "mnemosyne/config.py": EVERY_PACKAGE,
    "mnemosyne/store/": ("mnemosyne.cli", "mnemosyne.daemon", "mnemosyne.api",
                         "mnemosyne.doctor", "mnemosyne.mcp", "mnemosyne.dash",
                         "mnemosyne.coord", "mnemosyne.review"),
    # The two engines know nothing of each other; what they share lives in store/ itself.
    "mnemosyne/store/sqlite/": ("mnemosyne.store.postgres",),
    "mnemosyne/store/postgres/": ("mnemosyne.store.sqlite",),
    "mnemosyne/coord/": ("mnemosyne.cli", "mnemosyne.daemon", "mnemosyne.api",
                         "mnemosyne.doctor", "mnemosyne.mcp", "mnemosyne.dash",
                         "mnemosyne.store", "mnemosyne.review"),
    "mnemosyne/optimize/": ("mnemosyne.cli", "mnemosyne.api", "mnemosyne.dash",
                            "mnemosyne.doctor", "mnemosyne.mcp", "mnemosyne.review"),
    "mnemosyne/review/": ("mnemosyne.cli", "mnemosyne.api", "mnemosyne.dash",
                          "mnemosyne.doctor", "mnemosyne.mcp"),
    "mnemosyne/api/": ("mnemosyne.cli", "mnemosyne.daemon", "mnemosyne.dash",
                       "mnemosyne.doctor"),
    "mnemosyne/mcp/": ("mnemosyne.cli", "mnemosyne.daemon", "mnemosyne.api",
                       "mnemosyne.dash", "mnemosyne.doctor"),
    "mnemosyne/dash/": ("mnemosyne.cli", "mnemosyne.daemon", "mnemosyne.api",
                        "mnemosyne.store", "mnemosyne.doctor"),
    "mnemosyne/daemon/": ("mnemosyne.cli", "mnemosyne.doctor"),
    "mnemosyne/doctor/": ("mnemosyne.cli", "mnemosyne.api", "mnemosyne.dash"),
}
MAX_COMMAND_LINES = 70


def relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def imported_names(tree: ast.AST) -> list[str]:
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
    return names


@pytest.mark.parametrize("path", MODULES, ids=relative)
def test_module_has_a_docstring_and_a_matching_test(path):
    tree = ast.parse(path.read_text())
    assert ast.get_docstring(tree), f"{relative(path)} needs a module docstring"
    if path.name in ("__init__.py", "__main__.py"):
        return
    if path.parent.name == "cli" and path.name.endswith("_command.py"):
        # Commands are tested end to end as real subprocesses.
        command = path.stem.removesuffix("_command")
        integration = ROOT / "tests" / "integration"
        assert (integration / f"test_{command}.py").exists() or any(
            f'"{command}"' in test.read_text() for test in integration.glob("test_*.py")), \
            f"no integration test runs `mnemosyne {command}`"
        return
    package = path.parent.relative_to(PACKAGE)
    expected = ROOT / "tests" / "unit" / package / f"test_{path.stem}.py"
    assert expected.exists(), f"{relative(path)} has no {relative(expected)}"


@pytest.mark.parametrize("path", MODULES, ids=relative)
def test_environment_exit_and_print_stay_where_they_belong(path):
    name = relative(path)
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv") \
                and isinstance(node.value, ast.Name) and node.value.id == "os":
            assert name in ENVIRONMENT_READERS, f"{name}:{node.lineno} reads the environment"
        if isinstance(node, ast.Call):
            function = node.func
            if isinstance(function, ast.Attribute) and function.attr == "exit" \
                    and isinstance(function.value, ast.Name) and function.value.id == "sys":
                assert name == "mnemosyne/__main__.py", f"{name}:{node.lineno} calls sys.exit"
            if isinstance(function, ast.Name) and function.id == "print":
                assert name.startswith("mnemosyne/cli/"), f"{name}:{node.lineno} prints"


@pytest.mark.parametrize("path", MODULES, ids=relative)
def test_layering_is_one_way(path):
    name = relative(path)
    imports = imported_names(ast.parse(path.read_text()))
    for prefix, forbidden in FORBIDDEN_IMPORTS.items():
        if name.startswith(prefix):
            bad = [module for module in imports if module.startswith(forbidden)]
            assert not bad, f"{name} imports {bad}"
    if name.startswith("mnemosyne/store/") and name.count("/") == 2 \
            and not name.endswith("__init__.py"):  # the interface and what both engines share
        engines = [module for module in imports
                   if module.startswith(("mnemosyne.store.sqlite", "mnemosyne.store.postgres"))]
        assert not engines, f"{name} imports an engine: {engines}"
    if not name.startswith("mnemosyne/cli/") and name != "mnemosyne/__main__.py":
        assert not [module for module in imports if module.startswith("mnemosyne.cli")], name


@pytest.mark.parametrize("path", sorted((PACKAGE / "cli").glob("*_command.py")), ids=relative)
def test_commands_stay_thin(path):
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_COMMAND_LINES, f"{relative(path)} has {lines} lines: move logic out"


def test_importing_every_module_has_no_side_effects():
    names = [".".join(path.relative_to(ROOT).with_suffix("").parts) for path in MODULES
             if path.name != "__main__.py"]
    # Compared with the state before the imports: a coverage run adds its own SIGTERM handler.
    script = (
        "import importlib, logging, signal, sys, threading\n"
        "def state():\n"
        "    signals = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)\n"
        "    return ([signal.getsignal(s) for s in signals],\n"
        "            list(logging.getLogger().handlers), threading.active_count())\n"
        "before = state()\n"
        f"for name in {names!r}:\n"
        "    importlib.import_module(name)\n"
        "assert state() == before, (before, state())\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            cwd=ROOT, check=False)
    assert result.returncode == 0, result.stderr


def test_no_literal_logger_names():
    for path in MODULES:
        text = path.read_text()
        assert "getLogger('" not in text and 'getLogger("' not in text, relative(path)
