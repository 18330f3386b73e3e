import signal
import threading

import pytest

from mnemosyne.config import resolve_settings
from mnemosyne.coord.coordinator import CrossProcessCoordinator
from mnemosyne.coord.inotify import DirectoryWatch
from mnemosyne.coord.queue import MessageQueue
from mnemosyne.coord.root import prepare_root
from mnemosyne.daemon.loop import InstanceLoop, LoopHealth
from mnemosyne.daemon.signals import SignalQueue
from mnemosyne.daemon.systemd import ServiceManager

KEY = b"k"


@pytest.fixture
def parts(tmp_path):
    settings = resolve_settings({"db_path": str(tmp_path / "d.db")},
                                environ={"XDG_CONFIG_HOME": str(tmp_path),
                                         "MNEMOSYNE_HEARTBEAT_INTERVAL_S": "0.05"})
    root = prepare_root(tmp_path / "coord", start=tmp_path)
    coordinator = CrossProcessCoordinator(root, "a1b2c3d4", KEY)
    coordinator.register()
    messages = MessageQueue(root, "a1b2c3d4", KEY, max_bytes=1024, ttl_s=60)
    signals = SignalQueue()
    signals.install([signal.SIGUSR1])
    watch = DirectoryWatch.open(root.queue)
    yield settings, root, coordinator, messages, signals, watch
    watch.close()
    signals.restore()
    coordinator.unregister()


def test_loop_delivers_messages_heartbeats_reloads_and_stops(parts):
    settings, root, coordinator, messages, signals, watch = parts
    received, reloads = [], []
    loop = InstanceLoop(settings, signals, coordinator, messages, watch,
                        lambda current: reloads.append(1) or current, received.append)
    first_beat = coordinator.entry["last_heartbeat"]
    peer = MessageQueue(root, "bbbbbbbb", KEY, max_bytes=1024, ttl_s=60)

    def drive():
        peer.send("a1b2c3d4", "JoinRequest", {"n": 1})
        signals.received.put(signal.SIGHUP)
        threading.Event().wait(0.3)
        signals.received.put(signal.SIGTERM)
        signal.raise_signal(signal.SIGUSR1)  # wakes poll through the self-pipe

    threading.Thread(target=drive).start()
    assert loop.run() == 0
    assert [message.payload for message in received] == [{"n": 1}]
    assert reloads == [1]
    assert coordinator.entry["last_heartbeat"] != first_beat


def test_heartbeat_failure_is_logged_not_raised(parts, caplog):
    settings, _root, coordinator, messages, signals, _watch = parts
    loop = InstanceLoop(settings, signals, coordinator, messages, None, lambda s: s, print)

    def disk_full():
        raise OSError(28, "No space left on device")

    coordinator.heartbeat = disk_full
    assert loop.send_heartbeat() is False
    assert "heartbeat failed" in caplog.text


class RecordingNotifier:
    def __init__(self):
        self.sent = []

    def notify(self, text):
        self.sent.append(text)


def test_watchdog_is_fed_only_while_healthy(parts):
    settings, _root, coordinator, messages, signals, watch = parts
    notifier = RecordingNotifier()
    manager = ServiceManager(notifier=notifier, watchdog_usec=1_000_000)
    health = {"database": True}
    loop = InstanceLoop(settings, signals, coordinator, messages, watch, lambda s: s, print,
                        manager=manager, check_health=lambda: health["database"],
                        describe=lambda: "fine")
    assert loop.feed_watchdog()
    health["database"] = False
    assert not loop.feed_watchdog()
    health["database"] = True
    loop.heartbeat_ok = False
    assert not loop.feed_watchdog()
    loop.update_status()
    loop.update_status()
    assert notifier.sent == ["WATCHDOG=1", "STATUS=fine"]
    silent = InstanceLoop(settings, signals, coordinator, messages, watch, lambda s: s, print,
                          describe=lambda: 1 / 0)  # off systemd: never even computed
    silent.update_status()


def test_extra_watches_heartbeat_and_rescan_hooks(parts, tmp_path):
    settings, _root, coordinator, messages, signals, watch = parts
    watched = tmp_path / "watched"
    watched.mkdir()
    extra = DirectoryWatch.open(watched)
    calls = {"change": 0, "beat": 0, "rescan": 0}
    loop = InstanceLoop(settings, signals, coordinator, messages, watch, lambda s: s, print,
                        watches=((extra, lambda: calls.__setitem__("change", 1)),),
                        on_heartbeat=lambda: calls.__setitem__("beat", 1),
                        on_rescan=lambda: calls.__setitem__("rescan", 1))

    def drive():
        (watched / "file").write_text("x")
        threading.Event().wait(0.3)
        signals.received.put(signal.SIGTERM)
        signal.raise_signal(signal.SIGUSR1)

    threading.Thread(target=drive).start()
    assert loop.run() == 0
    extra.close()
    assert calls == {"change": 1, "beat": 1, "rescan": 1}


def test_health_problem_reports_a_stalled_loop_and_a_failing_heartbeat(parts):
    settings, _root, coordinator, messages, signals, watch = parts
    loop = InstanceLoop(settings, signals, coordinator, messages, watch, lambda s: s, print)
    assert loop.health_problem() is None
    loop.heartbeat_ok = False
    assert loop.health_problem() == "registry heartbeat failing"
    loop.last_turn -= 3600
    assert "main loop stalled" in loop.health_problem()


def test_a_queue_that_cannot_be_read_is_logged_once_a_minute_not_raised(parts, caplog):
    import shutil  # noqa: PLC0415

    settings, root, coordinator, messages, signals, _watch = parts
    loop = InstanceLoop(settings, signals, coordinator, messages, None, lambda s: s, print)
    shutil.rmtree(root.queue)
    root.queue.write_text("not a directory")
    for _ in range(100):
        loop.deliver_messages()
    assert caplog.text.count("cannot read the coordination queue") == 1


def test_a_deep_registry_costs_one_failed_heartbeat_at_most(parts, caplog):
    settings, root, coordinator, messages, signals, _watch = parts
    loop = InstanceLoop(settings, signals, coordinator, messages, None, lambda s: s, print)
    (root.path / "process_registry.json").write_bytes(b"[" * 100_000 + b"]" * 100_000)
    assert loop.send_heartbeat()
    assert "was corrupt" in caplog.text
    assert [view.instance_id for view in coordinator.instances()] == ["a1b2c3d4"]


def test_a_watch_callback_returning_true_is_called_again_until_it_returns_false(parts,
                                                                                 tmp_path):
    settings, _root, coordinator, messages, signals, watch = parts
    watched = tmp_path / "watched"
    watched.mkdir()
    extra = DirectoryWatch.open(watched)
    answers = [True, True, True, False]
    calls = []

    def on_change():
        calls.append(1)
        return answers[len(calls) - 1] if len(calls) <= len(answers) else False

    loop = InstanceLoop(settings, signals, coordinator, messages, watch, lambda s: s, print,
                        watches=((extra, on_change),))

    def drive():
        (watched / "file").write_text("x")  # one wake-up only
        threading.Event().wait(0.5)
        signals.received.put(signal.SIGTERM)
        signal.raise_signal(signal.SIGUSR1)

    threading.Thread(target=drive).start()
    assert loop.run() == 0
    extra.close()
    assert len(calls) == 4  # woken once, then called again while a write was in flight


def test_a_full_scan_before_the_loop_counts_as_its_first(parts):
    """The start-up delivery is the first full scan: the loop does not repeat it at once."""
    settings, _root, coordinator, messages, signals, watch = parts
    scans = []
    loop = InstanceLoop(settings, signals, coordinator, messages, watch, lambda s: s, print)
    original = messages.receive

    def counting(names=None):
        scans.append(names)
        return original(names)

    messages.receive = counting
    loop.deliver_messages()
    signals.received.put(signal.SIGTERM)
    assert loop.run() == 0
    assert scans == [None]


def test_loop_health_is_its_own_object_shared_with_the_loop(parts):
    settings, _, coordinator, messages, signals, watch = parts
    health = LoopHealth(settings)
    loop = InstanceLoop(settings, signals, coordinator, messages, watch, lambda s: s, print,
                        health=health)
    loop.heartbeat_ok = False
    assert health.problem() == "registry heartbeat failing" == loop.health_problem()
    health.heartbeat_ok = True
    health.last_turn -= 3600
    assert "main loop stalled" in loop.health_problem()
