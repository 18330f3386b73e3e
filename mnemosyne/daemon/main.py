"""Run one instance: open the store, register, report ready, loop until told to stop.

Start-up: open the store -> take the instance id and its liveness lock -> register in the
process registry -> its worktree (coord/worktrees.py), recorded in both registries -> the API
when asked (instance_api.py), its URL recorded in the registry -> ready;
then `InstanceLoop` (loop.py) heartbeats, receives coordination messages and handles signals
until SIGTERM or SIGINT (exit 0), after which the instance unregisters. With `workdir` set it
first moves there. SIGHUP re-resolves the settings as a fresh start would (flags included),
applies what can change at run time (APPLIED_ON_RELOAD), logs which changed settings wait for
a restart, and tells systemd RELOADING=1, then READY=1. The store keeps its WAL bounded by
itself (store/sqlite/checkpoint.py).
Must not: parse the command line, or install signal handlers anywhere but `run`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path

from mnemosyne.config import SETTINGS, Settings
from mnemosyne.coord.context import make_coordinator
from mnemosyne.coord.coordinator import CrossProcessCoordinator
from mnemosyne.coord.identity import new_instance_id, validate_instance_id
from mnemosyne.coord.inotify import DirectoryWatch
from mnemosyne.coord.queue import Message
from mnemosyne.coord.root import CoordinationRoot, locate_git
from mnemosyne.coord.worktrees import Workspace, close_workspace, open_workspace, wants_worktree
from mnemosyne.daemon.dispatch import Dispatch
from mnemosyne.daemon.instance_api import InstanceApi, LoopHooks, refuse_exposed_api
from mnemosyne.daemon.loop import InstanceLoop, LoopHealth
from mnemosyne.daemon.signals import SignalQueue
from mnemosyne.daemon.systemd import ServiceManager
from mnemosyne.daemon.worker import WORK_AVAILABLE, WORK_STOP, TaskWorker
from mnemosyne.errors import MnemosyneError, UsageError
from mnemosyne.logs import set_instance_context, set_log_level
from mnemosyne.store import open_store
from mnemosyne.store.backend import MemoryBackend
from mnemosyne.store.sqlite.tasks import require_tasks

logger = logging.getLogger(__name__)

# Settings the running instance applies on SIGHUP (the loop reads them at each turn); any
# other setting changed in the configuration takes effect at the next start.
APPLIED_ON_RELOAD = frozenset({"log_level", "heartbeat_interval_s"})


@dataclasses.dataclass(frozen=True)
class ServeOptions:
    """What `serve` was asked for beyond the settings."""

    instance_id: str | None = None
    worktree: str = "auto"
    branch: str | None = None
    with_api: bool = False
    accept_work: bool = False


def take_workspace(options: ServeOptions, root: CoordinationRoot,
                   coordinator: CrossProcessCoordinator, start: Path) -> Workspace | None:
    """Give the instance its worktree if it wants one, record it, claim its branch, move in.

    Raises UsageError for --branch without a worktree; ConflictError for a taken branch.
    """
    location = locate_git(start)
    if not wants_worktree(options.worktree, location):
        if options.branch is not None:
            raise UsageError("--branch needs a dedicated worktree: add --worktree always "
                             "(or start inside a linked worktree)")
        return None
    workspace = open_workspace(root, coordinator.instance_id, start, options.branch)
    try:
        coordinator.claim_branch(workspace.branch)
        coordinator.update(worktree_path=str(workspace.path), branch=workspace.branch)
    except BaseException:
        close_workspace(workspace)
        raise
    os.chdir(workspace.workdir)
    return workspace


def run(settings: Settings, options: ServeOptions,
        reload_settings: Callable[[], Settings]) -> int:
    """Serve until SIGTERM/SIGINT; return the exit status.

    *reload_settings* re-resolves the configuration on SIGHUP.
    Raises UnavailableError if the store cannot be opened (exit status 3), ConflictError if
    a live instance holds the id (7), UnsafeError for an unsafe coordination root (6); each
    is also reported to systemd as STATUS= (and ERRNO=).
    """
    manager = ServiceManager.from_environment()
    try:
        return _serve(settings, options, reload_settings, manager)
    except MnemosyneError as error:
        manager.failed(error.message, error.errno)
        raise
    finally:
        manager.close()


def _serve(  # noqa: PLR0915 - the assembly, read top to bottom
        settings: Settings, options: ServeOptions, reload_settings: Callable[[], Settings],
        manager: ServiceManager) -> int:
    instance_id = validate_instance_id(options.instance_id) if options.instance_id is not None \
        else new_instance_id()
    set_instance_context(instance_id)
    enter_workdir(settings)
    if options.with_api:
        refuse_exposed_api(settings)
    signals = SignalQueue()
    signals.install()
    try:
        with open_store(settings, batch_access_counts=True) as store:
            coordinator = make_coordinator(settings, instance_id)
            # First: --accept-work on a PostgreSQL store is refused before anything is open.
            dispatch, worker = declare_dispatch(options, store, coordinator)
            root, messages = coordinator.root, coordinator.messages
            watch = DirectoryWatch.open(root.queue)
            coordinator.register(systemd_unit=manager.unit)
            # So that the registry does not grow between doctor runs.
            coordinator.cleanup_stale_processes()
            workspace, api = None, None

            loop: InstanceLoop | None = None

            def reload(current: Settings) -> Settings:
                manager.reloading()
                fresh = handle_sighup(current, reload_settings)
                manager.ready(loop.describe() if loop and loop.describe else "reloaded")
                return fresh

            try:
                workspace = take_workspace(options, root, coordinator, Path.cwd())
                where = (f"worktree {workspace.path} on {workspace.branch}" if workspace
                         else "no worktree") + (", accepting work" if worker else "")
                # The loop's health is made first, for the API's /health; the API's hooks
                # (WAL watch, heartbeat and rescan callbacks) are declared with the loop.
                loop_health = LoopHealth(settings)
                if options.with_api:
                    api = InstanceApi.open(settings, store, coordinator, loop_health.problem,
                                           where, dispatch=dispatch)
                hooks = api.hooks if api is not None else LoopHooks()

                def describe() -> str:
                    # With the API, the publisher has just counted the peers for its events.
                    peers = len(api.publisher.peers) if api else \
                        len(coordinator.active_processes(fresh=False))
                    serving = f"serving on {api.address_text}" if api else "no API"
                    return f"instance {instance_id}: {serving}, {where}, {peers} peer(s)"

                loop = InstanceLoop(settings, signals, coordinator, messages, watch, reload,
                                    dispatch, manager=manager,
                                    check_health=lambda: database_writable(store),
                                    describe=describe, watches=hooks.watches,
                                    on_heartbeat=hooks.on_heartbeat, on_rescan=hooks.on_rescan,
                                    health=loop_health)
                # Start the broadcast cursor before saying "ready", and hand over what
                # was sent to this id before it ran.
                loop.deliver_messages()
                logger.info("ready: database %s (%d memories), coordination root %s, %s",
                            store.display_url, store.count(), root.path, where)
                if worker is not None:
                    worker.start()
                manager.ready(describe())
                return loop.run()
            finally:
                try:
                    if worker is not None:
                        worker.close()  # a running task goes back to ready
                    if api is not None:
                        api.stop()
                    if workspace is not None:
                        leave_workspace(root, workspace)
                finally:
                    coordinator.unregister()  # whatever the worktree looks like
                    if watch is not None:
                        watch.close()
    finally:
        signals.restore()


def declare_dispatch(options: ServeOptions, store: MemoryBackend,
                     coordinator: CrossProcessCoordinator) -> tuple[Dispatch, TaskWorker | None]:
    """Return the instance's message dispatch, and its task worker with --accept-work.

    Every message is logged; the work messages go to the worker. The API, when started,
    adds its events and the MCP inbox (instance_api.py).
    """
    dispatch = Dispatch(log_message)
    if not options.accept_work:
        return dispatch, None
    worker = TaskWorker(require_tasks(store), coordinator)
    dispatch.on(WORK_AVAILABLE, worker.wake)
    dispatch.on(WORK_STOP, worker.stop_plan)
    return dispatch, worker


def enter_workdir(settings: Settings) -> None:
    """Move into the configured `workdir` (MNEMOSYNE_WORKDIR), if there is one.

    Raises UsageError if it cannot be entered.
    """
    if settings.workdir is None:
        return
    try:
        os.chdir(settings.workdir)
    except OSError as error:
        raise UsageError(f"workdir {settings.workdir}: {error.strerror or error}") from None


def leave_workspace(root: CoordinationRoot, workspace: Workspace) -> None:
    """Move out of the worktree and remove it if it is verified clean; never raises OSError.

    What cannot be verified (or removed) is kept and logged by close_workspace.
    """
    try:
        os.chdir(root.path)
    except OSError as error:
        logger.warning("cannot leave worktree %s for %s: %s", workspace.path, root.path, error)
        os.chdir("/")
    close_workspace(workspace)


def database_writable(store: MemoryBackend) -> bool:
    """Return True if the database answers and can be written right now (`store.health()`).

    Part of the watchdog's health check: a problem with the database (its files, directory or
    disk, a write lock this process has held too long, a server that does not answer)
    withholds WATCHDOG=1; a lock held by another program only degrades /health (a restart
    cannot end it, and it usually ends by itself).
    """
    health = store.health()
    if health.ok:
        return True
    if health.by_another_process:
        logger.warning("database not writable now: %s", health.detail)
        return True
    logger.error("database not writable: %s", health.detail)
    return False


def log_message(message: Message) -> None:
    """Report a received coordination message (the API publishes them as events)."""
    target = message.to_agent or "all"
    logger.info("message %s from %s to %s: %s", message.message_type, message.from_agent,
                target, json.dumps(message.payload, ensure_ascii=False))


def handle_sighup(settings: Settings, reload_settings: Callable[[], Settings]) -> Settings:
    """Re-read the configuration and apply it; keep the old one if the new one is invalid.

    *reload_settings* resolves the settings as a fresh start would (the command line's flags
    included). What the running instance can change (APPLIED_ON_RELOAD) takes effect now;
    every other changed setting keeps its current value until a restart, and one log line
    names both.
    """
    try:
        fresh = reload_settings()
    except MnemosyneError as error:
        logger.error("reload failed, keeping the current configuration: %s", error)
        return settings
    changed = [setting.name for setting in SETTINGS
               if getattr(fresh, setting.name) != getattr(settings, setting.name)]
    later = [name for name in changed if name not in APPLIED_ON_RELOAD]
    sources = {**fresh.sources, **{name: settings.sources.get(name, "default")
                                   for name in later}}
    effective = dataclasses.replace(fresh, sources=sources,
                                    **{name: getattr(settings, name) for name in later})
    if effective.log_level != settings.log_level:
        set_log_level(effective.log_level)
    summary = f"changed {', '.join(changed)}" if changed else "nothing changed"
    if later:
        summary += f"; only after a restart: {', '.join(later)}"
    logger.info("reloaded configuration (log level %s): %s", effective.log_level, summary)
    return effective
