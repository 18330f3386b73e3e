"""The wheel pip and pipx install: the package, the man pages in share/man, the license."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile

import pytest

from mnemosyne import __version__
from tests.packaging.build import REPO, wheel

PAGES = sorted(path.relative_to(REPO / "man").as_posix() for path in REPO.glob("man/man*/*"))


@pytest.fixture(scope="module")
def names():
    with zipfile.ZipFile(wheel()) as archive:
        return set(archive.namelist())


def test_wheel_ships_every_man_page_in_share_man(names):
    data = f"mnemosyne-{__version__}.data/data/share/man/"
    assert PAGES and {f"{data}{page}" for page in PAGES} <= names
    assert not [name for name in names if "/man/" in name and not name.startswith(data)]


def test_wheel_ships_the_license_and_no_build_tools(names):
    assert any(name.startswith(f"mnemosyne-{__version__}.dist-info/")
               and name.endswith("LICENSE") for name in names)
    assert not [name for name in names if name.startswith(("tools/", "tests/", "bench/"))]
    assert f"mnemosyne-{__version__}.dist-info/entry_points.txt" in names


def test_metadata_names_the_license_and_urls():
    with zipfile.ZipFile(wheel()) as archive:
        metadata = archive.read(f"mnemosyne-{__version__}.dist-info/METADATA").decode()
    assert "License: MIT" in metadata or "License-Expression: MIT" in metadata
    assert "Project-URL: Homepage, https://" in metadata


@pytest.mark.skipif(not shutil.which("man"), reason="man is not installed (Debian: man-db)")
def test_installed_pages_are_found_by_man_through_path(tmp_path):
    """As after `pip install --user` or pipx: man finds <prefix>/share/man from <prefix>/bin."""
    prefix = tmp_path / "prefix"
    # --ignore-installed: never touch the mnemosyne installed in the running environment.
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
                    "--ignore-installed",
                    "--disable-pip-version-check", "--prefix", str(prefix), str(wheel())],
                   check=True, capture_output=True, timeout=120)
    for page in PAGES:
        assert (prefix / "share" / "man" / page).is_file(), page
    environment = {key: value for key, value in os.environ.items() if key != "MANPATH"}
    environment["PATH"] = f"{prefix / 'bin'}:/usr/bin:/bin"
    for name in ("mnemosyne", "mnemosyne@.service", "mnemosyne-multi-instance"):
        found = subprocess.run(["man", "-w", name], env=environment, capture_output=True,
                               text=True, check=False)
        assert found.stdout.startswith(str(prefix / "share" / "man")), (name, found)
