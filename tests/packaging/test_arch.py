"""packaging/arch/PKGBUILD parses, and its package() installs what an Arch user needs.

package() runs here in bash with a built wheel in a copy of the checkout, `python` being
Debian's python3 with python3-installer (its Debian layout option makes the paths those of
Arch's /usr prefix). Everything happens under tmp_path.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from mnemosyne import __version__
from tests.packaging.build import REPO, copy_of_checkout, wheel

PKGBUILD = REPO / "packaging" / "arch" / "PKGBUILD"
PAGES = sorted(path.relative_to(REPO / "man").as_posix() for path in REPO.glob("man/man*/*"))
UNITS = ("mnemosyne@.service", "mnemosyne.target", "mnemosyne-doctor.service",
         "mnemosyne-doctor.timer")


def sourced(script: str, **environment: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-euo", "pipefail", "-c", f'source "$1"; {script}', "bash",
                           str(PKGBUILD)], capture_output=True, text=True, check=False,
                          env={**os.environ, **environment}, timeout=120)


def test_pkgbuild_parses():
    result = subprocess.run(["bash", "-n", str(PKGBUILD)], capture_output=True, text=True,
                            check=False)
    assert (result.returncode, result.stderr) == (0, "")


def test_pkgbuild_follows_the_python_guidelines():
    result = sourced('printf "%s\\n" "$pkgver" "${arch[*]}" "${makedepends[*]}" "${depends[*]}"')
    assert result.returncode == 0, result.stderr
    version, arch, makedepends, depends = result.stdout.splitlines()
    assert version == __version__ and arch == "any"
    assert {"python-build", "python-installer", "python-wheel"} <= set(makedepends.split())
    assert {"python", "python-apsw", "python-cherrypy", "python-pygit2", "python-platformdirs",
            "python-daemon", "python-sdnotify"} <= set(depends.split())


def test_package_is_mnemosyne_agent_and_conflicts_with_the_flash_card_mnemosyne():
    """The AUR's `mnemosyne` is another program with its own /usr/bin/mnemosyne."""
    result = sourced('printf "%s\\n" "$pkgname" "${conflicts[*]}"')
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["mnemosyne-agent", "mnemosyne"]


def test_package_installs_programs_units_and_man_pages(tmp_path):
    python = Path("/usr/bin/python3")
    check = subprocess.run([str(python), "-c", "import installer"], capture_output=True,
                           check=False) if python.exists() else None
    if check is None or check.returncode != 0:
        pytest.skip("Debian's python3-installer is not installed (apt-get install "
                    "python3-installer)")
    srcdir, pkgdir, bindir = tmp_path / "src", tmp_path / "pkg", tmp_path / "bin"
    tree = copy_of_checkout(srcdir / f"mnemosyne-{__version__}")
    (tree / "dist").mkdir()
    shutil.copy(wheel(), tree / "dist")
    bindir.mkdir()
    (bindir / "python").symlink_to(python)
    result = sourced('cd "$srcdir" && package', srcdir=str(srcdir), pkgdir=str(pkgdir),
                     PATH=f"{bindir}:{os.environ['PATH']}",
                     DEB_PYTHON_INSTALL_LAYOUT="deb_system")
    assert result.returncode == 0, result.stderr
    for program in ("mnemosyne", "mnemosyne-dash"):
        assert os.access(pkgdir / "usr" / "bin" / program, os.X_OK), program
    for unit in UNITS:
        assert (pkgdir / "usr/lib/systemd/user" / unit).is_file(), unit
    for page in PAGES:
        assert (pkgdir / "usr/share/man" / page).is_file(), page
    assert (pkgdir / "usr/share/licenses/mnemosyne-agent/LICENSE").is_file()
    assert list(pkgdir.glob("usr/lib/python3*/*-packages/mnemosyne/cli/main.py"))
    assert not (pkgdir / "usr" / "local").exists()
