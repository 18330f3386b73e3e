"""The stdio transport: one JSON-RPC message per line on standard input, answers on stdout.

Only JSON-RPC lines are ever written to the output, each flushed at once; logs go elsewhere
(stderr). A line that is not JSON (or too long, or not UTF-8) is answered with a JSON-RPC
parse error (id null), never a traceback; blank lines are skipped. The loop waits in `poll`
on the input and, when given, a signal wakeup descriptor, with a timeout so that `on_idle`
(the registry heartbeat) runs every `idle_interval_s` even while no message comes. It ends
when the input closes (after answering a last line without a newline), when the reader of
the output goes away, or when `stop_requested()` says so after the signal descriptor woke it.
Must not: install signal handlers or register anything (the caller does).
"""

from __future__ import annotations

import errno
import logging
import os
import select
import time
from collections.abc import Callable
from typing import BinaryIO, Protocol

from mnemosyne.mcp import protocol
from mnemosyne.mcp.protocol import ProtocolError
from mnemosyne.mcp.server import McpServer, McpSession

logger = logging.getLogger(__name__)

READ_SIZE = 65536


class Wakeup(Protocol):
    """A descriptor that becomes readable when the loop should look at its signals."""

    def fileno(self) -> int:
        """Return the descriptor to poll."""
        ...


def answer_line(server: McpServer, session: McpSession, line: bytes) -> str | None:
    """Return the JSON text answering one input *line*, or None when nothing is due."""
    try:
        message = protocol.parse_message(line)
    except ProtocolError as error:
        return protocol.encode_message(error.to_response())
    response = server.handle(message, session)
    return None if response is None else protocol.encode_message(response)


def serve_stdio(server: McpServer, session: McpSession, input_fd: int, output: BinaryIO, *,
                wakeup: Wakeup | None = None,
                stop_requested: Callable[[], bool] = lambda: True,
                on_idle: Callable[[], None] | None = None,
                idle_interval_s: float = 2.0) -> str:
    """Answer lines from *input_fd* on *output* until the input closes or a stop is asked.

    Return why it ended: "input closed", "output closed" or "stopped".
    """
    poller = select.poll()
    poller.register(input_fd, select.POLLIN)
    if wakeup is not None:
        poller.register(wakeup.fileno(), select.POLLIN)
    buffer = b""
    discarding = False  # inside an over-long line, until its newline
    next_idle = time.monotonic() + idle_interval_s
    while True:
        timeout_ms = max(0, int((next_idle - time.monotonic()) * 1000)) if on_idle else None
        try:
            events = poller.poll(timeout_ms)
        except InterruptedError:  # pragma: no cover - Python retries poll itself
            events = []
        ready = {fd for fd, _ in events}
        if wakeup is not None and wakeup.fileno() in ready and stop_requested():
            return "stopped"
        if on_idle is not None and time.monotonic() >= next_idle:
            on_idle()
            next_idle = time.monotonic() + idle_interval_s
        if input_fd not in ready:
            continue
        try:
            chunk = os.read(input_fd, READ_SIZE)
        except BlockingIOError:
            continue
        lines = (buffer + chunk).split(b"\n")
        buffer = lines.pop() if chunk else b""
        if not chunk and lines[-1:] == [b""]:
            lines.pop()
        for line in lines:
            if discarding:
                discarding = False
                continue
            if not _write_answer(server, session, line, output):
                return "output closed"
        if len(buffer) > protocol.MAX_MESSAGE_BYTES:
            buffer, discarding = b"", True
            too_long = protocol.make_error(None, protocol.PARSE_ERROR, "message longer than "
                                           f"{protocol.MAX_MESSAGE_BYTES} bytes")
            if not _write(output, protocol.encode_message(too_long)):
                return "output closed"
        if not chunk:
            return "input closed"


def _write_answer(server: McpServer, session: McpSession, line: bytes,
                  output: BinaryIO) -> bool:
    if not line.strip():
        return True
    answer = answer_line(server, session, line.rstrip(b"\r"))
    return answer is None or _write(output, answer)


def _write(output: BinaryIO, text: str) -> bool:
    """Write one line and flush; return False if the reader is gone."""
    try:
        output.write(text.encode("utf-8") + b"\n")
        output.flush()
    except BrokenPipeError:
        return False
    except OSError as error:
        if error.errno in (errno.EPIPE, errno.EBADF):
            return False
        raise
    return True
