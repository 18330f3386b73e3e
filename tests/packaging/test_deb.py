"""The Debian package: `make deb`, then apt on a pristine Debian 12 root, a smoke test, a purge.

Machine-wide resources: needs root, debootstrap and Debian's build tools (dpkg-buildpackage,
debhelper, dh-python, pybuild-plugin-pyproject, lintian); keeps a Debian 12 root and the
.debs apt downloaded in /var/cache/mnemosyne-tests (under a lock, rebuilt each ISO week), and
reaches deb.debian.org when that cache is cold. The host's package database never sees the
package: it is installed only inside a chroot unpacked under tmp_path. Every command inside
the chroot runs in a private mount and network namespace held by one process this test
starts (so /proc is mounted only there, and ports 3000 and 3001 are this test's own); the
test ends every process it started there by PID and unmounts /proc, even on failure.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import mnemosyne

REPO = Path(__file__).resolve().parents[2]
CACHE = Path("/var/cache/mnemosyne-tests")
SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
HOST_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
TOOLS = ("debootstrap", "dpkg-buildpackage", "dh", "lintian", "unshare", "nsenter", "ip")
# State that apt, dpkg and man-db keep for themselves, compared separately or not at all.
STATE_DIRS = ("proc", "dev", "run", "tmp", "root", "var/cache", "var/lib/apt", "var/lib/dpkg",
              "var/log", "etc/ld.so.cache")
INSTANCE_IDS = ("a1b2c3d4", "e5f6a7b8")
HEALTH_PORTS = (3000, 3001)

pytestmark = pytest.mark.timeout(1800)


def _why_not_runnable() -> str | None:
    if os.geteuid() != 0:
        return "needs root (debootstrap, chroot, mount); CI runs as root"
    missing = [tool for tool in TOOLS if shutil.which(tool, path=HOST_PATH) is None]
    if missing:
        return ("needs " + ", ".join(missing) + " (apt-get install debootstrap debhelper "
                "dh-python pybuild-plugin-pyproject lintian util-linux iproute2, as .ci/run does)")
    return None


def _run(command: list[str], **kwargs) -> subprocess.CompletedProcess[str]:
    kwargs.setdefault("env", {"PATH": HOST_PATH, "LANG": "C.UTF-8"})
    result = subprocess.run(command, capture_output=True, text=True, check=False,
                            timeout=kwargs.pop("timeout", 900), **kwargs)
    assert result.returncode == 0, (f"{command} exited {result.returncode}\n"
                                    f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}")
    return result


def _cached_root() -> Path:
    """Return this week's tarball of a pristine minbase Debian 12 root (with man-db)."""
    CACHE.mkdir(mode=0o755, parents=True, exist_ok=True)
    year, week, _ = datetime.date.today().isocalendar()
    tarball = CACHE / f"{SUITE}-minbase-{year}w{week:02d}.tar"
    with (CACHE / "lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if tarball.exists():
            return tarball
        build = CACHE / f"{SUITE}-build-{os.getpid()}"
        shutil.rmtree(build, ignore_errors=True)
        debs = CACHE / "debootstrap-debs"
        debs.mkdir(exist_ok=True)
        partial = tarball.with_suffix(".partial")
        try:
            _run(["debootstrap", "--variant=minbase", "--include=man-db",
                  f"--cache-dir={debs}", SUITE, str(build), MIRROR], timeout=1500)
            _run(["tar", "--numeric-owner", "-C", str(build), "-cf", str(partial), "."])
            partial.rename(tarball)
        finally:
            shutil.rmtree(build, ignore_errors=True)
            partial.unlink(missing_ok=True)
        for old in CACHE.glob(f"{SUITE}-minbase-*.tar"):
            if old != tarball:
                old.unlink()
        return tarball


class Chroot:
    """A Debian root under tmp_path, entered through one namespace-holding process."""

    def __init__(self, root: Path, holder: subprocess.Popen[bytes]) -> None:
        self.root = root
        self.holder = holder
        self.started: list[subprocess.Popen[str]] = []

    def command(self, argv: list[str], *, network: bool = False) -> list[str]:
        """Return *argv* run inside the chroot; network=True uses the host's network (apt)."""
        namespaces = ["--mount"] if network else ["--mount", "--net"]
        return ["/usr/bin/nsenter", f"--target={self.holder.pid}", *namespaces, "--",
                "/usr/sbin/chroot", str(self.root), *argv]

    def run(self, argv: list[str], env: dict[str, str], *, network: bool = False,
            ok: tuple[int, ...] = (0,)) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(self.command(argv, network=network), env=env,
                                capture_output=True, text=True, check=False, timeout=900)
        assert result.returncode in ok, (f"{argv} exited {result.returncode}\n"
                                         f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}")
        return result

    def start(self, argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[str]:
        with log.open("w") as stderr:
            # nsenter (no --fork) and chroot exec: the PID is the program's own.
            process = subprocess.Popen(self.command(argv), env=env, stdin=subprocess.DEVNULL,
                                       stdout=subprocess.DEVNULL, stderr=stderr, text=True,
                                       start_new_session=True)
        self.started.append(process)
        return process

    def end_everything(self) -> None:
        """End every process this test started in the chroot, by PID, and reap them."""
        for process in self.started:
            if process.poll() is None:
                process.terminate()
        for process in self.started:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        # Anything left inside the chroot descends from the processes above (a maintainer
        # script, a daemon's child): find it by its root directory and end it by PID.
        for _ in range(2):
            for pid in self.pids_inside():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.2)

    def pids_inside(self) -> list[int]:
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                if os.readlink(entry / "root") == str(self.root):
                    pids.append(int(entry.name))
            except OSError:
                continue
        return pids


@pytest.fixture
def debian_root(tmp_path: Path) -> Iterator[Chroot]:
    """A fresh Debian 12 root from the weekly cache, /proc mounted in a private namespace."""
    reason = _why_not_runnable()
    if reason:
        pytest.skip(reason)
    tarball = _cached_root()
    root = tmp_path / "root"
    root.mkdir()
    _run(["tar", "--numeric-owner", "-C", str(root), "-xf", str(tarball)])
    # No maintainer script may start a service in the chroot.
    policy = root / "usr/sbin/policy-rc.d"
    policy.write_text("#!/bin/sh\nexit 101\n")
    policy.chmod(0o755)
    shutil.copy2("/etc/resolv.conf", root / "etc/resolv.conf")
    holder = subprocess.Popen(["/usr/bin/unshare", "--mount", "--net", "--propagation",
                               "private", "/usr/bin/sleep", "infinity"],
                              env={"PATH": HOST_PATH}, start_new_session=True)
    chroot = Chroot(root, holder)
    mounted = False
    try:
        enter = ["/usr/bin/nsenter", f"--target={holder.pid}"]
        deadline = time.monotonic() + 10
        while os.readlink(f"/proc/{holder.pid}/ns/net") == os.readlink("/proc/self/ns/net"):
            assert holder.poll() is None and time.monotonic() < deadline, (
                "unshare did not enter its namespaces")
            time.sleep(0.05)
        _run([*enter, "--mount", "/usr/bin/mount", "-t", "proc", "-o", "nosuid,nodev,noexec",
              "proc", str(root / "proc")])
        mounted = True
        _run([*enter, "--net", "/usr/sbin/ip", "link", "set", "lo", "up"])
        yield chroot
    finally:
        chroot.end_everything()
        if mounted:
            subprocess.run(["/usr/bin/nsenter", f"--target={holder.pid}", "--mount",
                            "/usr/bin/umount", "--lazy", str(root / "proc")],
                           env={"PATH": HOST_PATH}, check=False, timeout=30)
        holder.terminate()
        holder.wait(10)


def _build_deb(out: Path) -> tuple[Path, str]:
    """Run `make deb` into *out*; return the package and lintian's report."""
    result = _run(["make", "--no-print-directory", "deb", f"DEB_OUT={out}"], cwd=REPO,
                  timeout=900)
    debs = sorted(out.glob("*.deb"))
    assert len(debs) == 1, debs
    return debs[0], result.stdout[result.stdout.rfind("lintian "):]


def _snapshot(root: Path) -> set[str]:
    """Every path under *root* outside the state directories, relative to it."""
    paths = set()
    skip = {root / name for name in STATE_DIRS}
    for directory, dirs, files in os.walk(root):
        here = Path(directory)
        dirs[:] = [name for name in dirs if here / name not in skip]
        for name in dirs + files:
            if here / name not in skip:
                paths.add(str((here / name).relative_to(root)))
    return paths


def _smoke_env() -> dict[str, str]:
    home = "/tmp/smoke/home"
    return {"PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "LANG": "C.UTF-8",
            "HOME": home, "XDG_CONFIG_HOME": f"{home}/.config",
            "XDG_DATA_HOME": f"{home}/.local/share", "XDG_STATE_HOME": f"{home}/.local/state",
            "MNEMOSYNE_ROOT": "/tmp/smoke/coord", "PYTHONUNBUFFERED": "1"}


HEALTH_POLL = """
import json, sys, time, urllib.request
answers, deadline = {}, time.monotonic() + 60
while len(answers) < len(sys.argv) - 1 and time.monotonic() < deadline:
    for port in sys.argv[1:]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as reply:
                answers[port] = json.load(reply)
        except OSError:
            time.sleep(0.2)
print(json.dumps(answers))
"""


def test_deb_installs_runs_and_purges_on_pristine_debian_12(debian_root, tmp_path):
    """Build the .deb, install it with apt on Debian 12, use it, purge it: nothing is left."""
    chroot = debian_root
    deb, lintian = _build_deb(tmp_path / "deb")
    package = _run(["dpkg-deb", "--field", str(deb), "Package"]).stdout.strip()
    version = _run(["dpkg-deb", "--field", str(deb), "Version"]).stdout.strip()
    # Debian's `mnemosyne` is a flash-card program with its own /usr/bin/mnemosyne.
    assert package == "mnemosyne-agent"
    assert _run(["dpkg-deb", "--field", str(deb), "Conflicts"]).stdout.strip() == "mnemosyne"
    shipped = {line.split(maxsplit=5)[5].removeprefix("./").split(" -> ")[0].rstrip("/")
               for line in _run(["dpkg-deb", "--contents", str(deb)]).stdout.splitlines()} - {""}
    assert "E:" not in lintian and "W:" not in lintian, lintian
    assert version == mnemosyne.__version__, "debian/changelog disagrees with pyproject.toml"
    for path in ("usr/bin/mnemosyne", "usr/bin/mnemosyne-dash",
                 "usr/lib/systemd/user/mnemosyne@.service", "usr/lib/systemd/user/mnemosyne.target",
                 "usr/share/man/man1/mnemosyne.1.gz", "usr/share/man/man5/mnemosyne.conf.5.gz"):
        assert path in shipped, path
    for page in sorted(REPO.glob("man/man*/*.[0-9]")):
        assert f"usr/share/man/{page.parent.name}/{page.name}.gz" in shipped, page

    root = chroot.root
    shutil.copy2(deb, root / "tmp" / deb.name)
    apt_env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8",
               "DEBIAN_FRONTEND": "noninteractive"}
    archives = CACHE / "apt-archives"
    archives.mkdir(exist_ok=True)
    for cached in archives.glob("*.deb"):
        shutil.copy2(cached, root / "var/cache/apt/archives" / cached.name)
    # Debian's packages of the dependencies first, so that the purge can be compared with
    # the system as it was just before the package came.
    depends = _run(["dpkg-deb", "--field", str(deb), "Depends"]).stdout.strip()
    chroot.run(["apt-get", "satisfy", "-y", "--no-install-recommends",
                depends], apt_env, network=True)
    before = _snapshot(root)
    installed = chroot.run(["apt-get", "install", "-y", "--no-install-recommends",
                            f"/tmp/{deb.name}"], apt_env, network=True)
    assert "0 upgraded, 1 newly installed" in installed.stdout, installed.stdout
    for downloaded in (root / "var/cache/apt/archives").glob("*.deb"):
        if not (archives / downloaded.name).exists():
            partial = archives / f".{downloaded.name}.{os.getpid()}"
            shutil.copy2(downloaded, partial)
            partial.rename(archives / downloaded.name)  # whole, for a parallel run
    installed_paths = _snapshot(root)
    assert shipped <= installed_paths, sorted(shipped - installed_paths)
    status = chroot.run(["dpkg-query", "-W", "-f", "${Status} ${Version}", package], apt_env)
    assert status.stdout == f"install ok installed {version}"

    env = _smoke_env()
    chroot.run(["mkdir", "-p", env["HOME"]], env)
    # Debian's python3 and Debian's libraries, nothing from PyPI (there is no pip at all).
    where = chroot.run(["/usr/bin/python3", "-c",
                        "import apsw, cherrypy, mnemosyne, pygit2, rich; "
                        "print(mnemosyne.__file__, apsw.__file__, cherrypy.__file__)"], env)
    assert all(path.startswith("/usr/lib/python3") for path in where.stdout.split()), where.stdout
    chroot.run(["/usr/bin/python3", "-m", "pip", "--version"], env, ok=(1,))
    assert (root / "usr/bin/mnemosyne").read_text().startswith("#!/usr/bin/python3\n")

    shown = chroot.run(["mnemosyne", "version"], env)
    assert version.split("-")[0] in shown.stdout, shown.stdout
    chroot.run(["mnemosyne", "remember", "-c", "Debian 12 packages the floor versions",
                "-n", "project:smoke", "-t", "debian"], env)
    recalled = chroot.run(["mnemosyne", "recall", "floor versions", "-n", "project:smoke"], env)
    assert "Debian 12 packages the floor versions" in recalled.stdout, recalled.stdout

    logs = [tmp_path / f"serve-{instance}.log" for instance in INSTANCE_IDS]
    servers = []
    for instance, log in zip(INSTANCE_IDS, logs, strict=True):
        servers.append(chroot.start(["mnemosyne", "serve", "--instance-id", instance,
                                     "--with-api"], env, log))
        answers = json.loads(chroot.run(["/usr/bin/python3", "-c", HEALTH_POLL,
                                         str(HEALTH_PORTS[len(servers) - 1])], env).stdout)
        assert answers, f"no /health answer; serve's log:\n{log.read_text()}"
    answers = json.loads(chroot.run(["/usr/bin/python3", "-c", HEALTH_POLL,
                                     *map(str, HEALTH_PORTS)], env).stdout)
    assert {port: answer["instance_id"] for port, answer in answers.items()} == dict(
        zip(map(str, HEALTH_PORTS), INSTANCE_IDS, strict=True)), answers
    assert all(answer["status"] == "ok" for answer in answers.values()), answers

    doctor = chroot.run(["mnemosyne", "doctor"], env, ok=(0, 1))
    assert "doctor: " in doctor.stdout, doctor.stdout
    print(doctor.stdout.strip().splitlines()[-1])

    for server, log in zip(servers, logs, strict=True):
        server.terminate()
        assert server.wait(15) == 0, log.read_text()

    chroot.run(["man", "-w", "mnemosyne"], env)
    if (REPO / "man/man5/mnemosyne@.service.5").exists():
        chroot.run(["man", "-w", "mnemosyne@.service"], env)
    else:
        print("man/man5/mnemosyne@.service.5 is not in man/ yet: `man -w mnemosyne@.service` "
              "not checked (every page in man/ is checked as shipped above)")
    assert (root / "etc/systemd/user/default.target.wants/mnemosyne.target").is_symlink()

    chroot.run(["rm", "-rf", "/tmp/smoke", f"/tmp/{deb.name}"], env)
    chroot.run(["apt-get", "purge", "-y", package], apt_env)
    after = _snapshot(root)
    purged = chroot.run(["dpkg-query", "-W", "-f", "${Status}", package], apt_env, ok=(0, 1))
    assert "installed" not in purged.stdout.replace("not-installed", ""), purged.stdout
    assert not list((root / "var/lib/dpkg/info").glob(f"{package}.*"))
    assert sorted(after - before) == [], "left behind by the purge"
    assert sorted(before - after) == [], "removed by the purge, though not the package's"
    host = subprocess.run(["dpkg-query", "-W", "-f", "${Status} ${Version}", package],
                          check=False, capture_output=True, text=True, env={"PATH": HOST_PATH})
    assert host.stdout != f"install ok installed {version}", "the host's dpkg saw the package"
