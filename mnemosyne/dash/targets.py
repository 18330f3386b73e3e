"""Which instances to watch: URLs given with --api, or every live one in the registry (--all).

Must not: contact the instances (watcher.py does).
"""

from __future__ import annotations

import time
import urllib.parse

from mnemosyne.config import Settings
from mnemosyne.coord.context import open_root, signing_key
from mnemosyne.coord.registry import ProcessRegistry
from mnemosyne.errors import NotFoundError, UsageError


def normalize_url(raw: str) -> str:
    """Return *raw* as http://HOST:PORT (a bare HOST:PORT is accepted). Raises UsageError."""
    text = raw.strip().rstrip("/")
    if "://" not in text:
        text = f"http://{text}"
    parts = urllib.parse.urlsplit(text)
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme != "http" or not parts.hostname or port is None or \
            parts.path not in ("", "/") or parts.query:
        raise UsageError(f"--api {raw!r} is not an instance URL like http://127.0.0.1:3000")
    return f"http://{parts.netloc}"


def registry_urls(settings: Settings) -> list[str]:
    """Return the API URLs of every live instance in the registry. Raises NotFoundError."""
    registry = ProcessRegistry(open_root(settings), signing_key(settings),
                               settings.stale_threshold_s, clock=time.time)
    urls = [str(view.entry["api_url"]) for view in registry.views()
            if view.state == "live" and view.entry.get("api_url")]
    if not urls:
        raise NotFoundError("no live instance with an API in the registry: start one with "
                            "'mnemosyne serve --with-api'")
    return urls


def resolve_targets(api_urls: list[str], every_instance: bool,
                    settings: Settings) -> list[str]:
    """Return the instance URLs to watch, in order, without duplicates. Raises UsageError."""
    urls = [normalize_url(url) for url in api_urls]
    if every_instance:
        urls += registry_urls(settings)
    if not urls:
        raise UsageError("say which instances to watch: --api URL (repeatable) or --all")
    return list(dict.fromkeys(urls))
