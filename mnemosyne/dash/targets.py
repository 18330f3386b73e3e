"""Which instances to watch: URLs given with --api, or every live one in the registry (--all).

With --all-roots, the registries of every coordination root in the user's index are read
(roots that are gone or unsafe are left out); "no instance" errors name the roots read.

Also the web dashboard's one-time login link of a live instance (`mnemosyne dashboard-url`):
its URL from the registry, and a one-time code the instance gives for the user's API token
(POST /login-codes), so that the user types no secret and the token never enters a browser.

Must not: watch the instances (watcher.py does).
"""

from __future__ import annotations

import http.client
import time
import urllib.parse

from mnemosyne.config import Settings
from mnemosyne.coord.context import api_token, open_indexed_roots, open_root, signing_key
from mnemosyne.coord.registry import ProcessRegistry
from mnemosyne.coord.root import CoordinationRoot
from mnemosyne.dash.sse_client import get_json
from mnemosyne.errors import NotFoundError, UnavailableError, UsageError


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


NO_API = "no live instance with an API in the registry of {where}: start one with " \
         "'mnemosyne serve --with-api'"
LOGIN_TIMEOUT_S = 5.0
# A wildcard address is not one a browser should open: the same instance on loopback.
WILDCARD_HOSTS = {"0.0.0.0": "127.0.0.1", "[::]": "[::1]"}


def describe_roots(roots: list[CoordinationRoot]) -> str:
    """Return which roots were read, for a message: one path, or how many."""
    if len(roots) == 1:
        return f"coordination root {roots[0].path}"
    return f"{len(roots)} indexed coordination roots"


def live_apis(settings: Settings, every_root: bool = False) -> tuple[dict[str, str], str]:
    """Return {instance id: API URL} of every live instance with an API, and where it looked.

    *every_root* reads every indexed root's registry, not only the current root's.
    """
    roots = open_indexed_roots(settings)[0] if every_root else [open_root(settings)]
    key, apis = signing_key(settings), {}
    for root in roots:
        registry = ProcessRegistry(root, key, settings.stale_threshold_s, clock=time.time)
        apis.update({view.instance_id: str(view.entry["api_url"]) for view in registry.views()
                     if view.state == "live" and view.entry.get("api_url")})
    return apis, describe_roots(roots)


def registry_urls(settings: Settings, every_root: bool = False) -> list[str]:
    """Return the API URLs of every live instance in the registry. Raises NotFoundError."""
    apis, where = live_apis(settings, every_root)
    if not apis:
        raise NotFoundError(NO_API.format(where=where))
    return list(apis.values())


def login_url(settings: Settings, instance_id: str | None = None) -> str:
    """Return a one-time dashboard login link of a live instance (the only one, or the given).

    Raises NotFoundError if there is no such instance, UsageError if several could be meant,
    UnsafeError if the token file is unsafe, UnavailableError if the instance does not answer.
    """
    apis, where = live_apis(settings)
    if instance_id is not None:
        if instance_id not in apis:
            raise NotFoundError(f"no live instance {instance_id!r} with an API in the registry "
                                f"of {where}"
                                + (f" (live: {', '.join(sorted(apis))})" if apis else ""))
        url = apis[instance_id]
    elif len(apis) == 1:
        url = next(iter(apis.values()))
    elif not apis:
        raise NotFoundError(NO_API.format(where=where))
    else:
        raise UsageError(f"{len(apis)} live instances have an API ({', '.join(sorted(apis))}): "
                         "choose one with --instance ID")
    parts = urllib.parse.urlsplit(url)
    host = parts.netloc.rpartition(":")[0] if parts.port is not None else parts.netloc
    netloc = WILDCARD_HOSTS.get(host, host) + (f":{parts.port}" if parts.port else "")
    base = f"http://{netloc}"
    try:
        answer = get_json(base, "/login-codes", LOGIN_TIMEOUT_S, api_token(settings), "POST")
        path = answer["path"]
    except (OSError, ValueError, KeyError, TypeError, http.client.HTTPException) as error:
        raise UnavailableError(f"the instance at {base} gave no login link: "
                               f"{str(error) or type(error).__name__}") from None
    if not isinstance(path, str) or not path.startswith("/login?code="):
        raise UnavailableError(f"the instance at {base} gave no login link")
    return base + path


def resolve_targets(api_urls: list[str], every_instance: bool, settings: Settings,
                    every_root: bool = False) -> list[str]:
    """Return the instance URLs to watch, in order, without duplicates.

    *every_root* (--all-roots) looks in every indexed root's registry.
    Raises UsageError if nothing is to be watched, NotFoundError if a registry has no one.
    """
    urls = [normalize_url(url) for url in api_urls]
    if every_instance or every_root:
        urls += registry_urls(settings, every_root)
    if not urls:
        raise UsageError("say which instances to watch: --api URL (repeatable), --all or "
                         "--all-roots")
    return list(dict.fromkeys(urls))
