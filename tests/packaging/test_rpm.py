"""`make rpm` builds a noarch RPM with the files and requirements a user of it needs.

Needs rpmbuild (Debian: the rpm package) and Debian's python3-build and python3-installer,
which the spec uses where Fedora's pyproject macros are missing. Builds under tmp_path only.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest

from mnemosyne import __version__
from tests.packaging.build import REPO

UNITS = ("mnemosyne@.service", "mnemosyne.target", "mnemosyne-doctor.service",
         "mnemosyne-doctor.timer")
PAGES = sorted(path.relative_to(REPO / "man").as_posix() for path in REPO.glob("man/man*/*"))
RUNTIME = ("apsw", "cherrypy", "pygit2", "platformdirs", "python-daemon", "sdnotify")


@pytest.fixture(scope="module")
def package(tmp_path_factory):
    if not shutil.which("rpmbuild"):
        pytest.skip("rpmbuild is not installed (Debian: apt-get install rpm)")
    topdir = tmp_path_factory.mktemp("rpm")
    result = subprocess.run(["make", "--no-print-directory", "rpm", f"RPM_TOPDIR={topdir}"],
                            cwd=REPO, capture_output=True, text=True, check=False, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (built,) = (topdir / "RPMS" / "noarch").glob("*.rpm")
    assert built.name == f"mnemosyne-agent-{__version__}-1.noarch.rpm"
    return built


def query(package, *flags: str) -> list[str]:
    result = subprocess.run(["rpm", *flags, str(package)], capture_output=True, text=True,
                            check=True)
    return result.stdout.splitlines()


def test_rpm_installs_the_programs_units_and_man_pages(package):
    files = set(query(package, "-qlp"))
    assert {"/usr/bin/mnemosyne", "/usr/bin/mnemosyne-dash"} <= files
    assert {f"/usr/lib/systemd/user/{unit}" for unit in UNITS} <= files
    for page in PAGES:
        assert f"/usr/share/man/{page}" in files or f"/usr/share/man/{page}.gz" in files, page
    assert any(path.endswith("/site-packages/mnemosyne/cli/main.py") for path in files)
    assert any(path.endswith("/LICENSE") for path in files)
    assert not [path for path in files if "/tools/" in path or "/tests/" in path]


def test_rpm_requires_python_and_every_runtime_dependency(package):
    requires = query(package, "-qRp")
    assert any(line.startswith("python(abi) = 3.") for line in requires), requires
    for name in RUNTIME:
        assert any(line.startswith(("python3dist(", "python3.")) and f"dist({name})" in line
                   for line in requires), name
    assert query(package, "-qp", "--queryformat", "%{ARCH}") == ["noarch"]


def test_rpm_scriptlets_preset_and_disable_the_user_units(package):
    scripts = "\n".join(query(package, "-qp", "--scripts"))
    assert "preset --global mnemosyne.target mnemosyne-doctor.timer" in scripts
    assert "disable --global mnemosyne.target mnemosyne-doctor.timer" in scripts


def test_rpm_conflicts_with_the_flash_card_mnemosyne(package):
    """Fedora's `mnemosyne` is another program with its own /usr/bin/mnemosyne."""
    assert query(package, "-qp", "--conflicts") == ["mnemosyne"]
