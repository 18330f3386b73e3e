"""Build the project's wheel once per test session, from a copy of the checkout.

The copy keeps build/ and *.egg-info out of the working tree (parallel runs never share them).
The build is pip's isolated one (setuptools from the package index, as pip and pipx users get).
"""

from __future__ import annotations

import atexit
import functools
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
IGNORED = shutil.ignore_patterns(".git", ".venv*", "build", "dist", "*.egg-info", "node_modules",
                                 "__pycache__", ".mnemosyne", ".pytest_cache", ".coverage*")


def copy_of_checkout(destination: Path) -> Path:
    """Copy the checkout's sources into *destination* and return it."""
    shutil.copytree(REPO, destination, ignore=IGNORED, symlinks=True)
    return destination


@functools.cache
def wheel() -> Path:
    """Return the path of the wheel built from this checkout (built on the first call)."""
    directory = Path(tempfile.mkdtemp(prefix="mnemosyne-wheel-"))
    atexit.register(shutil.rmtree, directory, True)
    source = copy_of_checkout(directory / "src")
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check",
         "--no-deps", "--wheel-dir", str(directory / "dist"), str(source)],
        capture_output=True, text=True, check=False, timeout=300)
    assert result.returncode == 0, result.stderr
    (built,) = (directory / "dist").glob("mnemosyne-*.whl")
    return built
