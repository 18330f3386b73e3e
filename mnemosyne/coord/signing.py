"""HMAC-SHA256 signatures over registry entries and messages, and the key they use.

The key is `MNEMOSYNE_SHARED_SECRET` when set; otherwise a random per-user secret file (0600,
in the user config directory) created once, atomically, and reused — never a guessable default.
`load_secret_file` makes and reads such files for other secrets too (the API token).
A signature covers a canonical serialization of every other field (sorted keys, no spaces), so
changing any field, the heartbeat or the worktree included, invalidates it. Comparison uses
`hmac.compare_digest`.
Must not: decide what to do with an entry that fails verification (the registry does).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import os
import secrets
import stat
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mnemosyne.errors import UnavailableError, UnsafeError

SIGNATURE_FIELD = "signature"
SECRET_FILE_NAME = "secret"


# Built once: every heartbeat signs an entry, and json.dumps with options builds an encoder.
CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def canonical_bytes(fields: Mapping[str, Any]) -> bytes:
    """Serialize *fields* without the signature, the same way in every process."""
    unsigned = {key: value for key, value in fields.items() if key != SIGNATURE_FIELD}
    return CANONICAL.encode(unsigned).encode("ascii")


@functools.lru_cache(maxsize=8)
def _keyed(key: bytes) -> hmac.HMAC:
    """Return an HMAC-SHA256 already fed *key*: copying it skips the key setup per signature."""
    return hmac.new(key, digestmod=hashlib.sha256)


def sign(fields: Mapping[str, Any], key: bytes) -> str:
    """Return the hex HMAC-SHA256 of *fields* (signature excluded) under *key*."""
    mac = _keyed(key).copy()
    mac.update(canonical_bytes(fields))
    return mac.hexdigest()


def signed(fields: Mapping[str, Any], key: bytes) -> dict[str, Any]:
    """Return a copy of *fields* with its signature set."""
    return {**fields, SIGNATURE_FIELD: sign(fields, key)}


def verify(fields: Mapping[str, Any], key: bytes) -> bool:
    """Return True if *fields* carries a valid signature under *key*."""
    signature = fields.get(SIGNATURE_FIELD)
    if not isinstance(signature, str):
        return False
    return hmac.compare_digest(signature, sign(fields, key))


def load_key(shared_secret: str | None, config_dir: Path) -> bytes:
    """Return the signing key: the shared secret, else this user's secret file's content.

    Raises UnsafeError if the secret file is a symlink, another user's, or readable by others.
    """
    if shared_secret:
        return shared_secret.encode("utf-8")
    return load_secret_file(config_dir / SECRET_FILE_NAME)


def load_secret_file(path: Path) -> bytes:
    """Return the content of the per-user secret file *path*, creating it first if missing.

    Raises UnsafeError if the file is a symlink, another user's, or readable by others, and
    UnavailableError if it cannot be created or is empty.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        return _create_secret(path)
    except FileExistsError:
        return _read_secret(path)
    except OSError as error:
        raise UnavailableError(f"cannot create the secret file {path}: "
                               f"{error.strerror or error}") from None


def _create_secret(path: Path) -> bytes:
    """Write a new secret to a temporary file, then link it into place; return it.

    `link` fails with FileExistsError if another process published a secret first, and a
    published file is always complete, so every process ends up with the same key.
    """
    value = secrets.token_hex(32).encode("ascii")
    fd, temporary = tempfile.mkstemp(prefix=".secret.", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, value)
        os.fsync(fd)
        os.close(fd)
        os.link(temporary, path)
    finally:
        os.unlink(temporary)
    return value


def _read_secret(path: Path) -> bytes:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as error:
        raise UnsafeError(f"cannot use the secret file {path}: {error.strerror or error} "
                          "(it must be a regular file, not a symbolic link)") from None
    try:
        status = os.fstat(fd)
        if not stat.S_ISREG(status.st_mode):
            raise UnsafeError(f"refusing the secret file {path}: it is not a regular file")
        if status.st_uid != os.geteuid():
            raise UnsafeError(f"refusing the secret file {path}: it belongs to user id "
                              f"{status.st_uid}")
        if stat.S_IMODE(status.st_mode) & 0o077:
            raise UnsafeError(f"refusing the secret file {path}: others can read it "
                              f"(run: chmod 600 {path})")
        value = b""
        while len(value) < 64:
            chunk = os.read(fd, 64 - len(value))
            if not chunk:
                break
            value += chunk
    finally:
        os.close(fd)
    if not value.strip():
        raise UnavailableError(f"the secret file {path} is empty: delete it and a new one will "
                               "be made (instances using the old secret must restart)")
    return value.strip()
