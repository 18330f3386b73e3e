import pytest

from mnemosyne.coord.coordinator import CrossProcessCoordinator
from mnemosyne.coord.root import prepare_root
from mnemosyne.mcp.tools import (
    CONTEXT_MAX_CHARACTERS,
    TOOLS_BY_NAME,
    ToolContext,
    build_context,
    render_context,
)

KEY = b"k" * 32


@pytest.fixture
def root(tmp_path):
    return prepare_root(tmp_path / "coord", start=tmp_path)


@pytest.fixture
def coordinators(root):
    made = []

    def make(instance_id):
        coordinator = CrossProcessCoordinator(root, instance_id, KEY)
        coordinator.register(kind="mcp")
        made.append(coordinator)
        return coordinator

    yield make
    for coordinator in made:
        coordinator.unregister()


@pytest.fixture
def context(store, coordinators):
    return ToolContext(store, "project:app", coordinators("aaaaaaaa"))


def call(context, name, **arguments):
    result = TOOLS_BY_NAME[name].call(context, arguments)
    assert not result["isError"], result["content"][0]["text"]
    assert result["content"][0]["type"] == "text"
    return result["structuredContent"]


def fails(context, name, fragment, **arguments):
    result = TOOLS_BY_NAME[name].call(context, arguments)
    assert result["isError"] is True and "structuredContent" not in result
    assert len(result["content"]) == 1
    assert fragment in result["content"][0]["text"], result["content"][0]["text"]


def test_remember_defaults_to_the_project_namespace(context):
    memory = call(context, "remember", content="Use WAL", tags=["db"], importance=8,
                  type="decision", summary="WAL")["memory"]
    assert (memory["namespace"], memory["tags"], memory["importance"], memory["memory_type"],
            memory["summary"]) == ("project:app", ["db"], 8, "decision", "WAL")
    other = call(context, "remember", content="x", namespace="global")["memory"]
    assert other["namespace"] == "global"


@pytest.mark.parametrize(("arguments", "fragment"), [
    ({}, "missing required argument 'content'"),
    ({"content": "   "}, "content is empty"),
    ({"content": "x", "namespace": "nope"}, "invalid namespace"),
    ({"content": "x", "importance": 11}, "at most 10"),
    ({"content": "x", "importance": "5"}, "importance must be integer"),
    ({"content": "x", "type": "poem"}, "type must be one of"),
    ({"content": "x", "tags": ["a b"]}, "invalid tag"),
    ({"content": "x", "colour": "red"}, "unknown argument 'colour'"),
])
def test_remember_refuses_bad_arguments(context, arguments, fragment):
    fails(context, "remember", fragment, **arguments)
    assert context.store.count() == 0


def test_recall_looks_in_the_project_and_global_unless_told(context):
    mine = call(context, "remember", content="sqlite locking notes")["memory"]
    shared = call(context, "remember", content="sqlite everywhere", namespace="global")["memory"]
    call(context, "remember", content="sqlite elsewhere", namespace="project:other")
    found = call(context, "recall", query="sqlite")["memories"]
    assert {hit["id"] for hit in found} == {mine["id"], shared["id"]}
    assert all(isinstance(hit["score"], float) for hit in found)
    assert len(call(context, "recall", query="sqlite", namespace="*")["memories"]) == 3
    only = call(context, "recall", query="sqlite", namespace="project:other")["memories"]
    assert [hit["namespace"] for hit in only] == ["project:other"]
    assert len(call(context, "recall", query="sqlite", limit=1)["memories"]) == 1
    typed = call(context, "remember", content="sqlite fix", type="bug_fix", tags=["t"],
                 importance=9)["memory"]
    assert [hit["id"] for hit in call(context, "recall", query="sqlite", type=["bug_fix"],
                                      tags=["t"], min_importance=9)["memories"]] == [typed["id"]]


@pytest.mark.parametrize(("arguments", "fragment"), [
    ({"limit": 0}, "at least 1"),
    ({"limit": 1001}, "at most 1000"),
    ({"query": "ab*"}, "too short"),
    ({"namespace": "bad ns"}, "invalid namespace"),
    ({"type": ["poem"]}, "must be one of"),
    ({"min_importance": 0}, "at least 1"),
    ({"query": 5}, "query must be string"),
])
def test_recall_refuses_bad_arguments(context, arguments, fragment):
    fails(context, "recall", fragment, **arguments)


def test_list_show_link_update_forget(context):
    first = call(context, "remember", content="first")["memory"]
    second = call(context, "remember", content="second", namespace="global")["memory"]
    call(context, "remember", content="third", namespace="project:other")
    listed = call(context, "list")["memories"]
    assert [memory["id"] for memory in listed] == [second["id"], first["id"]]
    assert len(call(context, "list", namespace="*")["memories"]) == 3
    assert len(call(context, "list", limit=1)["memories"]) == 1
    link = call(context, "link", source=second["id"][:8], target=first["id"],
                type="supersedes", strength=0.5)["link"]
    assert (link["source_id"], link["link_type"], link["strength"]) == \
        (second["id"], "supersedes", 0.5)
    shown = call(context, "show", id=first["id"][:6])
    assert shown["memory"]["superseded_by"] == second["id"]
    assert [item["target_id"] for item in shown["links"]] == [first["id"]]
    updated = call(context, "update", id=first["id"], content="first, revised", importance=9,
                   tags=["x"], type="decision", summary="s")["memory"]
    assert (updated["content"], updated["importance"], updated["tags"],
            updated["memory_type"], updated["summary"]) == \
        ("first, revised", 9, ["x"], "decision", "s")
    assert call(context, "update", id=first["id"], archived=True)["memory"]["archived"] is True
    assert first["id"] not in [m["id"] for m in call(context, "list")["memories"]]
    assert first["id"] in [m["id"] for m in call(context, "list", archived=True)["memories"]]
    assert call(context, "update", id=first["id"], archived=False)["memory"]["archived"] is False
    assert call(context, "forget", id=first["id"]) == {"forgotten": first["id"]}
    fails(context, "show", "no memory with id", id=first["id"])


def test_memory_tools_refuse_bad_arguments(context):
    memory = call(context, "remember", content="x")["memory"]
    fails(context, "show", "missing required argument 'id'")
    fails(context, "show", "no memory with id", id="deadbeef")
    fails(context, "show", "not a memory id", id="zzzz")
    fails(context, "link", "a memory cannot be linked to itself", source=memory["id"],
          target=memory["id"], type="related")
    fails(context, "link", "type must be one of", source=memory["id"], target=memory["id"],
          type="likes")
    fails(context, "link", "at most 1", source=memory["id"], target="deadbeef",
          type="related", strength=2)
    fails(context, "update", "nothing to update", id=memory["id"])
    fails(context, "update", "archived must be boolean", id=memory["id"], archived="yes")
    fails(context, "update", "no memory with id", id="deadbeef", importance=3)
    fails(context, "forget", "no memory with id", id="deadbeef")
    fails(context, "list", "at least 1", limit=0)


def test_context_pack_is_bounded_and_sectioned(context):
    assert "No memories stored yet" in render_context(build_context(context))
    for index in range(30):
        call(context, "remember", content=f"project note {index}", importance=1 + index % 10)
    call(context, "remember", content="global rule", namespace="global", importance=10)
    call(context, "remember", content="x" * 9000, importance=10)
    call(context, "remember", content="y" * 9000, importance=10)
    pack = call(context, "context", limit=10)
    assert pack["namespace"] == "project:app" and pack["truncated"] is True
    assert len(pack["memories"]) <= 10
    assert sum(len(m["content"]) for m in pack["memories"]) <= CONTEXT_MAX_CHARACTERS
    assert {m["section"] for m in pack["memories"]} == {"important", "recent", "global"}
    assert len({m["id"] for m in pack["memories"]}) == len(pack["memories"])
    text = TOOLS_BY_NAME["context"].call(context, {})["content"][0]["text"]
    assert text.startswith("# Project memory (project:app)") and "global rule" in text
    fails(context, "context", "invalid namespace", namespace="nope")
    fails(context, "context", "at most 50", limit=51)


def test_instances_send_inbox(context, coordinators):
    other = coordinators("bbbbbbbb")
    assert other.receive_messages() == []  # starts its broadcast cursor
    listed = call(context, "instances")
    assert listed["self"] == "aaaaaaaa"
    assert {item["instance_id"]: item["self"] for item in listed["instances"]} == \
        {"aaaaaaaa": True, "bbbbbbbb": False}
    sent = call(context, "send", to="bbbbbbbb", message="hello", data={"n": 1})["message"]
    assert sent["to_agent"] == "bbbbbbbb" and sent["payload"] == {"text": "hello",
                                                                  "data": {"n": 1}}
    call(context, "send", to="all", message="to everyone", type="Status")
    received = other.receive_messages()
    assert [(m.payload["text"], m.to_agent) for m in received] == \
        [("hello", "bbbbbbbb"), ("to everyone", None)]
    other.send_message("aaaaaaaa", "note", {"text": "back"})
    inbox = call(context, "inbox")["messages"]
    assert [m["payload"] for m in inbox] == [{"text": "back"}]
    assert call(context, "inbox")["messages"] == []


def test_send_refuses_bad_targets(context):
    fails(context, "send", "no running instance holds id", to="cccccccc", message="x")
    fails(context, "send", "invalid instance id", to="nobody", message="x")
    fails(context, "send", "own instance", to="aaaaaaaa", message="x")
    fails(context, "send", "invalid message type", to="all", message="x", type="1bad")
    fails(context, "send", "missing required argument 'message'", to="all")
    fails(context, "send", "longer than 900", to="all", message="x" * 901)
    fails(context, "inbox", "unknown argument", since="now")


def test_claim_and_release_branches(context, coordinators):
    other = ToolContext(context.store, "project:app", coordinators("bbbbbbbb"))
    claim = call(context, "claim_branch", branch="feature/x")["claim"]
    assert (claim["branch"], claim["mode"], claim["intent"], claim["instance_id"]) == \
        ("feature/x", "isolated", "full", "aaaaaaaa")
    assert "signature" not in claim
    fails(other, "claim_branch", "assigned to instance aaaaaaaa", branch="feature/x")
    listed = call(other, "instances")["instances"]
    assert {i["instance_id"]: i["claimed_branches"] for i in listed}["aaaaaaaa"] == ["feature/x"]
    call(other, "claim_branch", branch="feature/x", intent="read-only")
    assert call(context, "release_branch", branch="feature/x") == {"released": 1}
    call(other, "claim_branch", branch="feature/x")
    assert call(other, "release_branch") == {"released": 1}
    fails(context, "claim_branch", "invalid branch name", branch="a..b")
    fails(context, "claim_branch", "mode must be one of", branch="x", mode="solo")
    fails(context, "release_branch", "invalid branch name", branch="-x")


def test_coordination_tools_need_a_coordinator(store):
    bare = ToolContext(store)
    for name in ("instances", "inbox", "release_branch"):
        fails(bare, name, "coordination is not available")
    fails(bare, "send", "coordination is not available", to="all", message="x")


def test_an_unexpected_failure_is_a_tool_error(context):
    context.store.close()
    context.store.database.path.unlink()
    context.store.database.path.parent.chmod(0o500)
    try:
        result = TOOLS_BY_NAME["remember"].call(context, {"content": "x"})
    finally:
        context.store.database.path.parent.chmod(0o700)
    assert result["isError"] is True
