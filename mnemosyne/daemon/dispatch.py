"""The daemon's message dispatch: a handler per message type, declared where it is assembled.

`Dispatch` is the loop's `on_message`: every arriving coordination message goes to the
handlers registered for every type (`on_any`: the log line, the API's events and the MCP
inbox) and then to those of its own type (`on(type, handler)`: e.g. the work messages of
`serve --accept-work`). Handlers are registered while the daemon is assembled (daemon/main.py)
instead of being patched into the loop afterwards. A handler that raises is logged and the
others still run: no message can stop the loop.
Must not: read the queue (the loop does), or do slow work in a handler.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from mnemosyne.coord.queue import Message, validate_message_type

logger = logging.getLogger(__name__)

Handler = Callable[[Message], None]


class Dispatch:
    """Message type -> handlers; callable with a message."""

    def __init__(self, *every: Handler) -> None:
        self.every: list[Handler] = list(every)
        self.by_type: dict[str, list[Handler]] = {}

    def on_any(self, handler: Handler) -> None:
        """Call *handler* for every message, before the handlers of its type."""
        self.every.append(handler)

    def on(self, message_type: str, handler: Handler) -> None:
        """Call *handler* for every message of *message_type*. Raises UsageError for a bad type."""
        self.by_type.setdefault(validate_message_type(message_type), []).append(handler)

    def types(self) -> list[str]:
        """Return the message types with a handler of their own."""
        return sorted(self.by_type)

    def __call__(self, message: Message) -> None:
        """Hand *message* to its handlers; one that raises is logged, the rest still run."""
        for handler in (*self.every, *self.by_type.get(message.message_type, ())):
            try:
                handler(message)
            except Exception as error:  # noqa: BLE001 - no message may stop the loop
                logger.error("handling message %s (%s) failed: %s: %s", message.id,
                             message.message_type, type(error).__name__, error)
