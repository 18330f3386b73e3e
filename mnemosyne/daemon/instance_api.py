"""The instance's side of the API: start it, record its URL, feed it events, stop it.

The API always requires a token: the configured one, else the user's token file (created on
first use, 0600), so that no other user of the machine reaches memories through loopback.
Started after registration and before READY=1, so the registry entry and systemd's STATUS=
carry the URL the moment the instance reports ready. The API modules (CherryPy among them) are
imported only here, only when --with-api asks for them: an instance without an API does not
pay their start-up time or memory.
Must not: choose ports or serve requests (mnemosyne.api does).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from mnemosyne.config import Settings
from mnemosyne.coord.context import api_token
from mnemosyne.coord.coordinator import CrossProcessCoordinator
from mnemosyne.coord.root import locate_git
from mnemosyne.daemon.dispatch import Dispatch
from mnemosyne.daemon.loop import InstanceLoop, Watch
from mnemosyne.store.backend import ChangeFeed, MemoryBackend
from mnemosyne.store.sqlite.tasks import tasks_in

if TYPE_CHECKING:
    from mnemosyne.api.front import WsgiApp
    from mnemosyne.api.service import Api
    from mnemosyne.daemon.publisher import EventPublisher
    from mnemosyne.mcp.tools import Inbox

logger = logging.getLogger(__name__)


def refuse_exposed_api(settings: Settings) -> None:
    """Refuse, before anything starts, an API address other machines reach without a token.

    Raises UsageError (exit status 2, which the unit does not restart).
    """
    from mnemosyne.api.ports import ApiAddress  # noqa: PLC0415 - only with --with-api
    from mnemosyne.api.service import check_exposure  # noqa: PLC0415

    check_exposure(ApiAddress.parse(settings.api_addr), settings.api_token)


def mcp_endpoint(settings: Settings, store: MemoryBackend, coordinator: CrossProcessCoordinator,
                 inbox: Inbox) -> WsgiApp:
    """Return the /mcp endpoint: the MCP core acting as this instance, sessions sharing *inbox*.

    The default namespace is the project of the directory the instance works in (its
    worktree, if it has one).
    """
    from mnemosyne.api.mcp_http import McpHttpEndpoint  # noqa: PLC0415 - only with --with-api
    from mnemosyne.mcp.server import McpServer, McpSession, project_namespace  # noqa: PLC0415

    namespace = project_namespace(locate_git(Path.cwd()))
    return McpHttpEndpoint(
        McpServer(store),
        lambda: McpSession(default_namespace=namespace, coordinator=coordinator, inbox=inbox,
                           receives=False),
        settings.api_max_body_bytes)


class FeedWatch:
    """The change feed as one of the loop's watches (`fileno`, `drain` -> whether to call)."""

    def __init__(self, feed: ChangeFeed) -> None:
        self.feed = feed

    def fileno(self) -> int:
        """Return the feed's descriptor."""
        return self.feed.fileno()

    def drain(self) -> bool:
        """Consume the wake-ups; False only when the engine knows they were not about us."""
        return self.feed.drain() is not False


@dataclasses.dataclass(frozen=True)
class LoopHooks:
    """What the main loop calls for the API: the change feed, after heartbeats, at rescans."""

    watches: tuple[tuple[Watch, Callable[[], bool | None]], ...] = ()
    on_heartbeat: Callable[[], None] | None = None
    on_rescan: Callable[[], None] | None = None


@dataclasses.dataclass
class InstanceApi:
    """A running API, and the hooks the instance's loop calls for it."""

    api: Api
    publisher: EventPublisher
    feed: ChangeFeed
    hooks: LoopHooks = dataclasses.field(default_factory=LoopHooks)

    @property
    def address_text(self) -> str:
        """Return HOST:PORT for status lines."""
        return self.api.url.removeprefix("http://")

    @classmethod
    def start(cls, settings: Settings, store: MemoryBackend,
              coordinator: CrossProcessCoordinator, loop: InstanceLoop,
              where: str, *, dispatch: Dispatch | None = None) -> InstanceApi | None:
        """Start the API for an already built *loop* and hook it in; None if no port was free.

        The daemon declares the hooks when it builds its loop instead (`open`, then the
        loop made with `hooks`); this is for a loop that exists already. Without *dispatch*,
        the loop's `on_message` is wrapped in a new one.
        """
        if dispatch is None:
            dispatch = loop.on_message if isinstance(loop.on_message, Dispatch) \
                else Dispatch(loop.on_message)
            loop.on_message = dispatch
        running = cls.open(settings, store, coordinator, loop.health_problem, where,
                           dispatch=dispatch)
        if running is not None:
            hooks = running.hooks
            loop.watches = (*loop.watches, *hooks.watches)
            loop.on_heartbeat = hooks.on_heartbeat
            if hooks.on_rescan is not None:
                loop.on_rescan = hooks.on_rescan
        return running

    @classmethod
    def open(cls, settings: Settings, store: MemoryBackend,
             coordinator: CrossProcessCoordinator, health_problem: Callable[[], str | None],
             where: str, *, dispatch: Dispatch) -> InstanceApi | None:
        """Start the API; return it with the hooks the loop must call, or None (no free port).

        *health_problem* feeds /health (the loop's health); arriving messages reach the API's
        events and the MCP inbox through *dispatch*. Raises UsageError or UnavailableError if
        the address is refused or cannot be bound.
        """
        from mnemosyne.api.service import start_api  # noqa: PLC0415 - only with --with-api
        from mnemosyne.daemon.publisher import EventPublisher  # noqa: PLC0415
        from mnemosyne.mcp.tools import Inbox  # noqa: PLC0415

        token = api_token(settings)  # first: an unsafe token file ends the start (exit 6)
        feed = store.change_feed()  # its wake-up is set before its cursor: no change is missed
        inbox = Inbox()  # what the loop receives, for the MCP `inbox` tool
        try:
            api = start_api(settings, coordinator.instance_id, store,
                            lambda: [view.to_dict() for view in coordinator.instances()],
                            checks=(health_problem,), token=token,
                            routes={"/mcp": mcp_endpoint(settings, store, coordinator, inbox)})
        except BaseException:
            feed.close()
            raise
        if api is None:
            feed.close()
            return None
        try:
            coordinator.update(api_url=api.url)
        except BaseException:
            api.stop()
            feed.close()
            raise
        publisher = EventPublisher(api.hub, coordinator, feed, tasks_in(store))
        publisher.instance_started({"api_url": api.url, "where": where})
        if feed.fileno() < 0:
            logger.warning("cannot watch %s: memory events are published at each queue "
                           "rescan instead of at once", store.display_url)
            hooks = LoopHooks(on_heartbeat=publisher.after_heartbeat,
                              on_rescan=publisher.database_changed)
        else:
            hooks = LoopHooks(watches=((FeedWatch(feed), publisher.database_changed),),
                              on_heartbeat=publisher.after_heartbeat)
        dispatch.on_any(publisher.message_received)
        dispatch.on_any(lambda message: inbox.add([message]))
        return cls(api, publisher, feed, hooks)

    def stop(self) -> None:
        """Announce the stop, end the streams and the server."""
        self.publisher.instance_stopping("stop requested")
        self.api.stop()
        self.feed.close()
