"""The config check: the configuration resolves, and the signing secret is usable and private.

Doctor resolves settings leniently (config.py): an invalid file or value is reported here as a
problem instead of stopping doctor. The shared secret is either set (`shared_secret`) or a
regular 0600 file of this user, `~/.config/mnemosyne/secret`; a wider mode is repaired by
`--fix`; a missing file is only noted (the first instance makes it).
Must not: create the secret file, or print it.
"""

from __future__ import annotations

import os
import stat

from mnemosyne.coord.signing import SECRET_FILE_NAME
from mnemosyne.doctor.context import Context
from mnemosyne.doctor.findings import Finding

NAME = "config"
PURPOSE = "the configuration file parses; the shared secret is set or its file is 0600"


def run(ctx: Context) -> list[Finding]:
    """Report the settings' problems and the secret's state."""
    settings = ctx.settings
    findings = [ctx.finding(NAME, "problem", f"invalid configuration: {problem}")
                for problem in settings.problems]
    if not findings:
        where = settings.config_path if settings.config_path.exists() else \
            f"no file at {settings.config_path}, defaults"
        findings.append(ctx.finding(NAME, "ok", f"configuration resolves ({where})"))
    findings.append(_secret(ctx))
    return findings


def _secret(ctx: Context) -> Finding:
    if ctx.settings.shared_secret:
        return ctx.finding(NAME, "ok", "shared secret set (shared_secret)")
    path = ctx.settings.config_dir / SECRET_FILE_NAME
    try:
        status = os.lstat(path)
    except FileNotFoundError:
        return ctx.finding(NAME, "ok", f"no secret file yet at {path} (the first instance or "
                           "command that signs makes it)")
    if not stat.S_ISREG(status.st_mode):
        return ctx.finding(NAME, "problem", f"the secret file {path} is not a regular file "
                           "(a link?): instances refuse it", path=str(path))
    if status.st_uid != os.geteuid():
        return ctx.finding(NAME, "problem", f"the secret file {path} belongs to user id "
                           f"{status.st_uid}: instances refuse it", path=str(path))
    mode = stat.S_IMODE(status.st_mode)
    if mode & 0o077:
        if ctx.run.may("repair"):
            os.chmod(path, 0o600, follow_symlinks=False)
            return ctx.finding(NAME, "fixed", f"made the secret file {path} 0600 (was "
                               f"{mode:04o}); consider a new secret if others could read it",
                               path=str(path))
        return ctx.finding(NAME, "problem", f"others can access the secret file {path} "
                           f"({mode:04o}): instances refuse it", path=str(path))
    if status.st_size == 0:
        return ctx.finding(NAME, "problem", f"the secret file {path} is empty: delete it and a "
                           "new one will be made", path=str(path))
    return ctx.finding(NAME, "ok", f"secret file {path} is private (0600)")
