import pytest

from mnemosyne.coord.coordinator import CrossProcessCoordinator
from mnemosyne.coord.root import prepare_root
from mnemosyne.errors import ConflictError

KEY = b"k" * 32


@pytest.fixture
def root(tmp_path):
    return prepare_root(tmp_path / "coord", start=tmp_path)


def test_register_heartbeat_unregister(root):
    coordinator = CrossProcessCoordinator(root, "a1b2c3d4", KEY)
    entry = coordinator.register(api_url="http://127.0.0.1:3000")
    assert entry["api_url"] == "http://127.0.0.1:3000"
    assert set(entry) >= {"instance_id", "pid", "pid_start_time", "hostname", "registered_at",
                          "last_heartbeat", "api_url", "worktree_path", "branch",
                          "systemd_unit", "version", "signature"}
    assert [view.state for view in coordinator.instances()] == ["live"]
    assert coordinator.active_processes() == []  # itself is not "another"
    coordinator.update(branch="mnemosyne/a1b2c3d4")
    assert coordinator.registry.entries()["a1b2c3d4"]["branch"] == "mnemosyne/a1b2c3d4"
    coordinator.unregister()
    assert coordinator.registry.entries() == {}
    CrossProcessCoordinator(root, "a1b2c3d4", KEY).register()  # the id is free again


def test_a_live_id_cannot_be_registered_twice(root):
    CrossProcessCoordinator(root, "a1b2c3d4", KEY).register()
    with pytest.raises(ConflictError, match="a1b2c3d4 is already running"):
        CrossProcessCoordinator(root, "a1b2c3d4", KEY).register()


def test_heartbeat_re_adds_an_entry_lost_with_a_corrupt_file(root):
    coordinator = CrossProcessCoordinator(root, "a1b2c3d4", KEY)
    coordinator.register()
    (root.path / "process_registry.json").write_text("{truncated")
    assert coordinator.registry.entries() == {}
    coordinator.heartbeat()
    assert list(coordinator.registry.entries()) == ["a1b2c3d4"]
    assert list(root.path.glob("process_registry.json.corrupt-*"))


def test_instances_with_different_secrets_do_not_erase_each_other(root):
    first = CrossProcessCoordinator(root, "aaaaaaaa", b"first secret")
    second = CrossProcessCoordinator(root, "bbbbbbbb", b"second secret")
    first.register()
    second.register()
    assert {v.instance_id: v.state for v in first.instances()} == {"aaaaaaaa": "live",
                                                                   "bbbbbbbb": "unverified"}
    assert first.cleanup_stale_processes() == []
    assert second.cleanup_stale_processes() == []
    first.heartbeat()
    second.heartbeat()
    assert set(first.registry.entries()) == {"aaaaaaaa", "bbbbbbbb"}


def test_misuse_is_reported(root):
    coordinator = CrossProcessCoordinator(root, "a1b2c3d4", KEY)
    with pytest.raises(RuntimeError):
        coordinator.heartbeat()
    with pytest.raises(TypeError):
        coordinator.register(colour="blue")


def test_send_and_receive_messages_through_the_coordinator(root):
    alice = CrossProcessCoordinator(root, "aaaaaaaa", KEY)
    bob = CrossProcessCoordinator(root, "bbbbbbbb", KEY)
    alice.register()
    bob.register()
    bob.receive_messages()
    alice.send_message("bbbbbbbb", "JoinRequest", {"branch": "main"})
    alice.send_message(None, "Heartbeat")
    assert [(m.message_type, m.to_agent) for m in bob.receive_messages()] == [
        ("JoinRequest", "bbbbbbbb"), ("Heartbeat", None)]
    assert alice.receive_messages() == []
    assert alice.active_processes()[0].instance_id == "bbbbbbbb"


def test_peers_judged_from_the_heartbeat_read(root):
    me = CrossProcessCoordinator(root, "a1b2c3d4", KEY)
    me.register()
    assert me.active_processes(fresh=False) == []  # no heartbeat yet: reads the file
    peer = CrossProcessCoordinator(root, "bbbbbbbb", KEY)
    peer.register()
    me.heartbeat()
    assert [view.instance_id for view in me.active_processes(fresh=False)] == ["bbbbbbbb"]
    peer.unregister()
    # until the next heartbeat the kept read still shows the peer; a fresh look does not
    assert [view.instance_id for view in me.active_processes(fresh=False)] == ["bbbbbbbb"]
    assert me.active_processes() == []
    me.heartbeat()
    assert me.active_processes(fresh=False) == []
    me.unregister()


def test_register_writes_kind_only_when_given(root):
    plain = CrossProcessCoordinator(root, "a1b2c3d4", KEY)
    assert "kind" not in plain.register()
    agent = CrossProcessCoordinator(root, "b1b2c3d4", KEY)
    assert agent.register(kind="mcp")["kind"] == "mcp"
    assert [view.state for view in agent.instances()] == ["live", "live"]
    with pytest.raises(TypeError):
        CrossProcessCoordinator(root, "c1b2c3d4", KEY).register(colour="red")
