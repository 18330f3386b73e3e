"""Resolve every setting once into a frozen `Settings`, remembering where each value came from.

Precedence: command-line flag > environment > config file > packaged default. The config file
is `$XDG_CONFIG_HOME/mnemosyne/config.toml` (or `--config PATH`). Every setting is declared
once in `SETTINGS` (name, type, default, environment variable, validator, one-line doc): the
`config show` command and the documentation are generated from that table. Unknown file keys
and invalid values are all collected into one `ConfigError`.
Must not: read the environment anywhere else (only this module and daemon/systemd.py do),
or keep configuration in module globals.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
import stat
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from mnemosyne.errors import UsageError

APP_NAME = "mnemosyne"
DATABASE_URL_SCHEMES = ("a plain path, sqlite:///ABSOLUTE/PATH, postgresql://... or "
                        "postgres://...")
POSTGRES_SCHEMES = ("postgresql", "postgres")
LEGACY_NAMES = {"db_path": "database_url"}  # config file keys and flags of earlier versions
API_TOKEN_FILE_NAME = "api-token"
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")


class ConfigError(UsageError):
    """One or more invalid settings; the message lists every problem with its source."""

    def __init__(self, source: str, problems: list[str]) -> None:
        super().__init__(f"{source}: " + "; ".join(problems))
        self.source = source
        self.problems = problems


# --- validators: take the raw value (string from env/flag, or TOML value), return the typed one.


def _positive_float(raw: Any) -> float:
    value = float(raw)
    if not 0 < value < float("inf"):
        raise ValueError("must be a positive number")
    return value


def _positive_int(raw: Any) -> int:
    if isinstance(raw, bool):
        raise ValueError("must be a positive whole number")
    value = int(raw)
    if value <= 0:
        raise ValueError("must be a positive whole number")
    return value


def _log_level(raw: Any) -> str:
    value = str(raw).strip().lower()
    if value not in LOG_LEVELS:
        raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}")
    return value


def _optional_text(raw: Any) -> str | None:
    if raw is None:
        return None
    value = str(raw)
    if not value:
        raise ValueError("must not be empty")
    return value


def _path(raw: Any) -> Path:
    text = str(raw)
    if not text.strip():
        raise ValueError("must not be empty")
    return Path(text).expanduser().absolute()


def _optional_path(raw: Any) -> Path | None:
    return None if raw is None else _path(raw)


def parse_database_url(raw: Any) -> str:
    """Normalise a database URL: a plain path or `sqlite:///abs/path` becomes an absolute path.

    `postgresql://...` and `postgres://...` are kept as given (libpq reads them).
    Raises ValueError if the URL has another scheme, or a sqlite URL is not absolute.
    """
    text = str(raw).strip()
    if "://" not in text:
        return str(_path(text))
    scheme, _, rest = text.partition("://")
    if scheme.lower() in POSTGRES_SCHEMES:
        return text
    if scheme.lower() != "sqlite":
        raise ValueError(f"unsupported scheme {scheme!r}: use {DATABASE_URL_SCHEMES}")
    if not rest.startswith("/") or rest == "/":
        raise ValueError(f"{redact_url(text)!r} is not absolute: use {DATABASE_URL_SCHEMES}")
    return rest


def sqlite_path(database_url: str) -> Path | None:
    """Return the SQLite file a normalised *database_url* names, or None for another engine."""
    return None if "://" in database_url else Path(database_url)


def redact_url(url: str) -> str:
    """Return *url* with any password replaced by `***` (also `password=` parameters)."""
    scheme, sep, rest = url.partition("://")
    if sep:
        authority, slash, tail = rest.partition("/")
        user, at, host = authority.rpartition("@")
        if at and ":" in user:
            user = user.split(":", 1)[0] + ":***"
        rest = f"{user}{at}{host}{slash}{tail}"
    return re.sub(r"(password=)[^&\s]*", r"\1***", f"{scheme}{sep}{rest}", flags=re.IGNORECASE)


def parse_host_port(raw: Any) -> tuple[str, int]:
    """Split `HOST:PORT` (IPv6 as `[::1]:PORT`) into a host and a port from 0 to 65535.

    Raises ValueError if either part is missing or invalid.
    """
    text = str(raw).strip()
    host, sep, port_text = text.rpartition(":")
    if not sep or not host or not port_text.isdigit():
        raise ValueError(f"{text!r} is not HOST:PORT")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    port = int(port_text)
    if port > 65535:
        raise ValueError(f"port {port} is out of range 0-65535")
    if host != "localhost":
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise ValueError(f"{host!r} is not an IP address or localhost") from None
    return host, port


def _host_names(raw: Any) -> tuple[str, ...]:
    """Parse a comma-separated list (or a TOML list) of host names, each without a port."""
    items = raw if isinstance(raw, list) else str(raw).split(",")
    names = tuple(str(item).strip() for item in items if str(item).strip())
    for name in names:
        if any(char.isspace() or char in "/@?#," for char in name):
            raise ValueError(f"{name!r} is not a host name")
    return names


def _api_addr(raw: Any) -> str:
    parse_host_port(raw)
    return str(raw).strip()


@dataclasses.dataclass(frozen=True)
class Setting:
    """One configurable value: how it is named in each source, parsed, and documented."""

    name: str
    default: Callable[[Mapping[str, str]], Any]
    parse: Callable[[Any], Any]
    doc: str
    env: tuple[str, ...] = ()
    secret: bool = False
    shown_default: str | None = None  # for documentation, when the default depends on $HOME

    def describe_default(self) -> str:
        """Return the default as the documentation shows it ('—' for none)."""
        if self.shown_default is not None:
            return self.shown_default
        value = self.default({})
        return "—" if value is None else str(value)


def _xdg_directory(environ: Mapping[str, str], variable: str, fallback: str) -> Path:
    """Return `$variable/mnemosyne` from *environ*, else platformdirs' *fallback* directory."""
    base = environ.get(variable)
    if base and Path(base).is_absolute():
        return Path(base) / APP_NAME
    import platformdirs  # noqa: PLC0415 - only when a default directory is needed

    return Path(getattr(platformdirs, fallback)(APP_NAME))


def _default_database_url(environ: Mapping[str, str]) -> str:
    return str(_xdg_directory(environ, "XDG_DATA_HOME", "user_data_dir") / "mnemosyne.db")


def default_config_path(environ: Mapping[str, str]) -> Path:
    """Return `$XDG_CONFIG_HOME/mnemosyne/config.toml` (platformdirs' user config dir)."""
    return _xdg_directory(environ, "XDG_CONFIG_HOME", "user_config_dir") / "config.toml"


SETTINGS: tuple[Setting, ...] = (
    Setting("database_url", _default_database_url, parse_database_url,
            "the shared database: a SQLite file (path or sqlite:///PATH) or postgresql://...",
            env=("MNEMOSYNE_DB_PATH", "DATABASE_URL"),
            shown_default="~/.local/share/mnemosyne/mnemosyne.db"),
    Setting("log_level", lambda _: "info", _log_level,
            "least severe log level written to stderr", env=("MNEMOSYNE_LOG_LEVEL",)),
    Setting("busy_timeout_ms", lambda _: 5000, _positive_int,
            "how long SQLite waits on a lock before the retry loop takes over (ms)",
            env=("MNEMOSYNE_BUSY_TIMEOUT_MS",)),
    Setting("write_deadline_s", lambda _: 30.0, _positive_float,
            "how long a write transaction is retried on contention before it fails (s)",
            env=("MNEMOSYNE_WRITE_DEADLINE_S",)),
    Setting("max_content_bytes", lambda _: 65536, _positive_int,
            "largest memory content accepted, in UTF-8 bytes",
            env=("MNEMOSYNE_MAX_CONTENT_BYTES",)),
    Setting("root", lambda _: None, _optional_path,
            "coordination directory (.mnemosyne); default: top of the main git worktree",
            env=("MNEMOSYNE_ROOT",)),
    Setting("workdir", lambda _: None, _optional_path,
            "directory `serve` works in (e.g. its repository); default: where it is started",
            env=("MNEMOSYNE_WORKDIR",)),
    Setting("shared_secret", lambda _: None, _optional_text,
            "HMAC key shared by cooperating instances; default: a per-user secret file",
            env=("MNEMOSYNE_SHARED_SECRET",), secret=True),
    Setting("api_addr", lambda _: "127.0.0.1:3000", _api_addr,
            "HOST:PORT the API tries first (then PORT+1 .. PORT+10)",
            env=("MNEMOSYNE_API_ADDR",)),
    Setting("api_capacity", lambda _: 1000, _positive_int,
            "events kept for SSE resume (Last-Event-ID)", env=("MNEMOSYNE_API_CAPACITY",)),
    Setting("api_token", lambda _: None, _optional_text,
            "bearer token the API requires; default: the per-user file "
            "~/.config/mnemosyne/api-token (must be set when api_addr is not loopback)",
            env=("MNEMOSYNE_API_TOKEN",), secret=True),
    Setting("api_allowed_hosts", lambda _: (), _host_names,
            "more host names the API answers to (comma-separated; loopback names and the "
            "bound address always are)", env=("MNEMOSYNE_API_ALLOWED_HOSTS",),
            shown_default="—"),
    Setting("api_max_subscribers", lambda _: 64, _positive_int,
            "most SSE clients at once; more get 503 with Retry-After",
            env=("MNEMOSYNE_API_MAX_SUBSCRIBERS",)),
    Setting("api_max_body_bytes", lambda _: 262144, _positive_int,
            "largest API request body accepted, in bytes (larger: 413)",
            env=("MNEMOSYNE_API_MAX_BODY_BYTES",)),
    Setting("api_keepalive_s", lambda _: 15.0, _positive_float,
            "seconds between SSE keep-alive comments", env=("MNEMOSYNE_API_KEEPALIVE_S",)),
    Setting("api_header_timeout_s", lambda _: 10.0, _positive_float,
            "seconds a client has to send a request's head and a body up to 64 KiB (else 408)",
            env=("MNEMOSYNE_API_HEADER_TIMEOUT_S",)),
    Setting("api_body_timeout_s", lambda _: 30.0, _positive_float,
            "seconds a client has to send the rest of a body over 64 KiB (else 400)",
            env=("MNEMOSYNE_API_BODY_TIMEOUT_S",)),
    Setting("api_max_connections", lambda _: 512, _positive_int,
            "most open API connections (one client address: half); over it the oldest idle "
            "one is closed", env=("MNEMOSYNE_API_MAX_CONNECTIONS",)),
    Setting("heartbeat_interval_s", lambda _: 2.0, _positive_float,
            "seconds between registry heartbeats", env=("MNEMOSYNE_HEARTBEAT_INTERVAL_S",)),
    Setting("stale_threshold_s", lambda _: 30.0, _positive_float,
            "heartbeat age after which an instance counts as stale",
            env=("MNEMOSYNE_STALE_THRESHOLD_S",)),
    Setting("poll_interval_s", lambda _: 2.0, _positive_float,
            "rescan period of the coordination queue when inotify misses events",
            env=("MNEMOSYNE_POLL_INTERVAL_S",)),
    Setting("message_size_cap", lambda _: 1024, _positive_int,
            "largest serialized coordination message, in bytes",
            env=("MNEMOSYNE_MESSAGE_SIZE_CAP",)),
    Setting("message_ttl_s", lambda _: 300.0, _positive_float,
            "seconds after which an undelivered coordination message is deleted",
            env=("MNEMOSYNE_MESSAGE_TTL_S",)),
    Setting("review_check", lambda _: None, _optional_text,
            "shell command `review` runs in each commit's worktree (exit 0: pass); default: "
            "none, only the marker scan", env=("MNEMOSYNE_REVIEW_CHECK",)),
    Setting("review_timeout_s", lambda _: 600.0, _positive_float,
            "seconds a review check may run before it is killed and counts as failed",
            env=("MNEMOSYNE_REVIEW_TIMEOUT_S",)),
)
SETTINGS_BY_NAME = {setting.name: setting for setting in SETTINGS}

ENV_PARSERS: dict[str, Callable[[Any], Any]] = {"DATABASE_URL": parse_database_url}


@dataclasses.dataclass(frozen=True)
class Settings:
    """Every resolved setting, plus where each came from (`flag`, `env:NAME`, `file`, `default`)."""

    database_url: str
    log_level: str
    busy_timeout_ms: int
    write_deadline_s: float
    max_content_bytes: int
    root: Path | None
    workdir: Path | None
    shared_secret: str | None
    api_addr: str
    api_capacity: int
    api_token: str | None
    api_allowed_hosts: tuple[str, ...]
    api_max_subscribers: int
    api_max_body_bytes: int
    api_keepalive_s: float
    api_header_timeout_s: float
    api_body_timeout_s: float
    api_max_connections: int
    heartbeat_interval_s: float
    stale_threshold_s: float
    poll_interval_s: float
    message_size_cap: int
    message_ttl_s: float
    review_check: str | None
    review_timeout_s: float
    config_path: Path
    config_dir: Path = Path()
    state_dir: Path = Path()
    sources: Mapping[str, str] = dataclasses.field(default_factory=dict)
    problems: tuple[str, ...] = ()  # what lenient resolution ignored (doctor reports it)

    @property
    def db_path(self) -> Path | None:
        """Return the SQLite database file, or None when the database is PostgreSQL."""
        return sqlite_path(self.database_url)

    @property
    def api_token_path(self) -> Path:
        """Return the user's API token file (used when api_token is not set)."""
        return self.config_dir / API_TOKEN_FILE_NAME

    def describe(self) -> list[dict[str, Any]]:
        """Return each setting as {name, value, source, doc}, secrets masked, for display."""
        rows = []
        for setting in SETTINGS:
            value = getattr(self, setting.name)
            if setting.secret and value is not None:
                value = "********"
            elif setting.name == "database_url":
                value = redact_url(value)
            elif isinstance(value, Path):
                value = str(value)
            elif isinstance(value, tuple):
                value = ",".join(value)
            rows.append({"name": setting.name, "value": value,
                         "source": self.sources.get(setting.name, "default"),
                         "doc": setting.doc})
        return rows


def _read_config_file(path: Path, explicit: bool) -> dict[str, Any]:
    """Read the TOML config file; a missing default file is fine, a missing explicit one is not.

    Raises ConfigError if the file is unreadable, not TOML, or names unknown keys.
    """
    try:
        # Without blocking: a FIFO planted as the file must not hang every command.
        with open(os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC), "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                raise ConfigError(str(path), ["not a regular file"])
            data = tomllib.load(handle)
    except FileNotFoundError:
        if explicit:
            raise ConfigError(str(path), ["no such file"]) from None
        return {}
    except OSError as error:
        raise ConfigError(str(path), [error.strerror or str(error)]) from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(str(path), [f"not valid TOML: {error}"]) from None
    data = {LEGACY_NAMES.get(key, key): value for key, value in data.items()}
    unknown = sorted(set(data) - set(SETTINGS_BY_NAME))
    if unknown:
        valid = ", ".join(SETTINGS_BY_NAME)
        raise ConfigError(str(path), [f"unknown key {key!r} (valid keys: {valid})"
                                      for key in unknown])
    return data


def resolve_settings(
    flags: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    config_path: Path | str | None = None,
    lenient: bool = False,
) -> Settings:
    """Build `Settings` from *flags* (non-None values win), *environ*, the file, and defaults.

    *environ* defaults to `os.environ`; *config_path* to the XDG location.
    Raises ConfigError listing every invalid value with where it came from; with *lenient*
    (for doctor, which reports them) each invalid value falls back to its default instead,
    an unusable file counts as empty, and what was wrong is kept in `Settings.problems`.
    """
    flags = {LEGACY_NAMES.get(key, key): value for key, value in (flags or {}).items()
             if value is not None}
    environ = os.environ if environ is None else environ
    explicit = config_path is not None or bool(environ.get("MNEMOSYNE_CONFIG"))
    if config_path is None:
        config_path = environ.get("MNEMOSYNE_CONFIG") or default_config_path(environ)
    path = Path(config_path).expanduser().absolute()
    problems: list[str] = []
    try:
        file_values = _read_config_file(path, explicit)
    except ConfigError as error:
        if not lenient:
            raise
        problems.append(str(error))
        file_values = {}

    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for setting in SETTINGS:
        candidates: list[tuple[str, Any, Callable[[Any], Any]]] = []
        if setting.name in flags:
            candidates.append(("flag", flags[setting.name], setting.parse))
        candidates += [(f"env:{name}", environ[name], ENV_PARSERS.get(name, setting.parse))
                       for name in setting.env if environ.get(name)]
        if setting.name in file_values:
            candidates.append((f"file:{path}", file_values[setting.name], setting.parse))
        source, raw, parse = candidates[0] if candidates else ("default", None, None)
        try:
            values[setting.name] = setting.default(environ) if parse is None else parse(raw)
        except (ValueError, TypeError) as error:
            problems.append(f"{setting.name} from {source}: {error}")
            if not lenient:
                continue
            values[setting.name], source = setting.default(environ), "default"
        sources[setting.name] = source
    if problems and not lenient:
        raise ConfigError("invalid configuration", problems)
    return Settings(**values, config_path=path, problems=tuple(problems),
                    config_dir=_xdg_directory(environ, "XDG_CONFIG_HOME", "user_config_dir"),
                    state_dir=_xdg_directory(environ, "XDG_STATE_HOME", "user_state_dir"),
                    sources=sources)


def child_environment(extra: Mapping[str, str]) -> dict[str, str]:
    """Return this process's environment with *extra* on top (for the tasks orchestrate runs)."""
    return {**os.environ, **extra}
