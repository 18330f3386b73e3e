"""One version, from pyproject.toml: every package description agrees with it.

pyproject.toml takes the version from `mnemosyne.__version__` (tool.setuptools.dynamic); the
Debian changelog, the RPM spec and the PKGBUILD must carry the same upstream version, and name
the same license and home page.
"""

from __future__ import annotations

import re
import tomllib

import mnemosyne
from tests.packaging.build import REPO

PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
SPEC = REPO / "packaging" / "rpm" / "mnemosyne-agent.spec"
PKGBUILD = REPO / "packaging" / "arch" / "PKGBUILD"
DEBIAN_CONTROL = REPO / "packaging" / "debian" / "control"
DEBIAN_CHANGELOG = REPO / "packaging" / "debian" / "changelog"


def project_version() -> str:
    project = PYPROJECT["project"]
    if "version" in project:
        return project["version"]
    assert "version" in project["dynamic"]
    attribute = PYPROJECT["tool"]["setuptools"]["dynamic"]["version"]["attr"]
    assert attribute == "mnemosyne.__version__", attribute
    return mnemosyne.__version__


def field(pattern: str, text: str) -> str:
    match = re.search(pattern, text, re.M)
    assert match, pattern
    return match.group(1).strip().strip("'\"")


def spec_version() -> str:
    spec = SPEC.read_text()
    version, release = field(r"^Version:\s*(\S+)", spec), field(r"^Release:\s*(\d+)", spec)
    latest = spec.split("%changelog\n", 1)[1].splitlines()[0]
    assert latest.endswith(f" - {version}-{release}"), f"spec %changelog: {latest}"
    return version


def pkgbuild_version() -> str:
    return field(r"^pkgver=(\S+)", PKGBUILD.read_text())


def debian_version() -> str:
    version = field(r"^mnemosyne-agent \(([^)]+)\)", DEBIAN_CHANGELOG.read_text().splitlines()[0])
    version = version.split(":", 1)[-1]  # no epoch
    return version.rsplit("-", 1)[0] if "-" in version else version  # upstream part


def test_every_package_has_the_project_version():
    versions = {"packaging/rpm/mnemosyne-agent.spec": spec_version(),
                "packaging/arch/PKGBUILD": pkgbuild_version(),
                "packaging/debian/changelog": debian_version()}
    assert versions == dict.fromkeys(versions, project_version())


def test_packages_name_the_same_license_and_home_page():
    homepage = PYPROJECT["project"]["urls"]["Homepage"]
    assert PYPROJECT["project"]["license"] in ({"text": "MIT"}, "MIT")
    spec, pkgbuild = SPEC.read_text(), PKGBUILD.read_text()
    assert field(r"^URL:\s*(\S+)", spec) == homepage
    assert field(r"^url=(\S+)", pkgbuild) == homepage
    assert field(r"^Homepage:\s*(\S+)", DEBIAN_CONTROL.read_text()) == homepage
    assert field(r"^License:\s*(\S+)", spec) == "MIT"
    assert field(r"^license=\((\S+)\)", pkgbuild) == "MIT"
    assert "MIT License" in (REPO / "LICENSE").read_text()
