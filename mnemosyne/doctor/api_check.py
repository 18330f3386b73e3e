"""The api check: every live instance that advertises an API answers /health as itself.

For each live, verified entry with an `api_url`, `GET <api_url>/health` must answer within
`TIMEOUT_S` with JSON naming the same instance id (a 503 "degraded" answer still proves the
instance is there; its problems are reported as a warning). No answer, or another instance's
answer (the port was taken over), is a problem; there is nothing doctor can repair.
Must not: contact entries that do not verify, or send the API token anywhere.
"""

from __future__ import annotations

import concurrent.futures
import http.client
import json
import urllib.parse
from typing import Any

from mnemosyne.doctor.context import Context
from mnemosyne.doctor.findings import Finding

NAME = "api"
PURPOSE = "each live instance's advertised API answers /health with its own id"
TIMEOUT_S = 2.0


def run(ctx: Context) -> list[Finding]:
    """Ask every advertised API for its health, a few at a time."""
    targets = [(view.instance_id, view.entry["api_url"]) for view in ctx.views()
               if view.state == "live" and view.entry.get("api_url")]
    if not targets:
        return [ctx.finding(NAME, "ok", "no live instance advertises an API")]
    with concurrent.futures.ThreadPoolExecutor(max_workers=min(8, len(targets))) as pool:
        answers = list(pool.map(lambda target: _health(target[1]), targets))
    findings = []
    for (instance_id, url), (status, body, error) in zip(targets, answers, strict=True):
        if error is not None:
            findings.append(ctx.finding(NAME, "problem", f"instance {instance_id}: {url}/health "
                                        f"does not answer ({error})", instance_id=instance_id,
                                        url=url))
        elif body.get("instance_id") != instance_id:
            findings.append(ctx.finding(NAME, "problem", f"instance {instance_id}: {url} answers "
                                        f"as {body.get('instance_id')!r}, not as itself",
                                        instance_id=instance_id, url=url))
        elif status != 200:
            findings.append(ctx.finding(NAME, "warn", f"instance {instance_id} at {url} is "
                                        f"{body.get('status', status)}", instance_id=instance_id,
                                        url=url))
        else:
            findings.append(ctx.finding(NAME, "ok", f"instance {instance_id} answers at {url}",
                                        instance_id=instance_id, url=url))
    return findings


def _health(url: str) -> tuple[int, dict[str, Any], str | None]:
    """Return (status, JSON body, None), or (0, {}, why) if there is no usable answer."""
    try:
        parts = urllib.parse.urlsplit(url)
        host, port = parts.hostname, parts.port or 80
    except ValueError as error:  # e.g. a port over 65535
        return 0, {}, f"not a usable URL ({error})"
    if parts.scheme != "http" or not host:
        return 0, {}, f"not an http URL: {url}"
    connection = http.client.HTTPConnection(host, port, timeout=TIMEOUT_S)
    try:
        connection.request("GET", "/health")
        response = connection.getresponse()
        raw = response.read(65536)
        body = json.loads(raw)
        if not isinstance(body, dict):
            return 0, {}, "the answer is not a JSON object"
        return response.status, body, None
    except (OSError, http.client.HTTPException, ValueError) as error:
        return 0, {}, str(error) or type(error).__name__
    finally:
        connection.close()
