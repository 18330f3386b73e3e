from pathlib import Path

from mnemosyne.coord.coordinator import CrossProcessCoordinator
from mnemosyne.coord.root import GitLocation, locate_git, prepare_root
from mnemosyne.daemon.mcp_stdio import current_branch, heartbeat
from mnemosyne.mcp.server import McpSession, project_namespace
from tests.helpers import run_git


def location(top: Path) -> GitLocation:
    return GitLocation(top, top / ".git", in_linked_worktree=False, top=top)


def test_current_branch_in_main_and_linked_worktrees(tmp_path):
    repository = tmp_path / "repo"
    repository.mkdir()
    run_git("init", "-q", "-b", "main", cwd=repository)
    run_git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty",
            "-m", "first", cwd=repository)
    run_git("worktree", "add", "-q", "-b", "feature/x", str(tmp_path / "linked"),
            cwd=repository)
    assert current_branch(locate_git(repository)) == "main"
    linked = locate_git(tmp_path / "linked")
    assert current_branch(linked) == "feature/x"
    assert project_namespace(linked) == "project:repo"
    run_git("checkout", "-q", "--detach", cwd=repository)
    assert current_branch(locate_git(repository)) is None
    assert current_branch(None) is None
    assert current_branch(location(tmp_path / "gone")) is None


def test_heartbeat_refreshes_the_entry_and_collects_messages(tmp_path):
    root = prepare_root(tmp_path / "coord", start=tmp_path)
    mine = CrossProcessCoordinator(root, "aaaaaaaa", b"k" * 32)
    other = CrossProcessCoordinator(root, "bbbbbbbb", b"k" * 32)
    mine.register(kind="mcp")
    other.register()
    try:
        session = McpSession(coordinator=mine)
        other.send_message("aaaaaaaa", "note", {"text": "hi"})
        before = mine.entry["last_heartbeat"]
        heartbeat(session)
        assert mine.entry["last_heartbeat"] >= before
        assert [message.payload for message in session.inbox.drain()] == [{"text": "hi"}]
    finally:
        mine.unregister()
        other.unregister()
