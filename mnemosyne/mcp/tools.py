"""The MCP tools: memory, the start-of-session context pack, and coordination.

Memory: remember, recall, list, show, link, update, forget. Context: context. Coordination:
instances, send, inbox, claim_branch, release_branch. Each tool has a strict input schema
(unknown arguments refused), an output schema describing its structured content, and a
handler returning that content plus a short text rendering. A call's arguments are checked
against the input schema before the handler runs; a bad argument, a missing memory or a
refused claim is a tool error (`isError: true`) with one clear message, never a protocol
error. Namespaces: remember defaults to the session's project namespace
(`project:<repository>`, or `global` outside a repository); recall, list and context look in
that namespace and `global` unless told one (`*`: every namespace).
Must not: know about transports; server.py wraps these in JSON-RPC.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

from mnemosyne.coord.branches import INTENTS, MODES, validate_branch_name
from mnemosyne.coord.coordinator import CrossProcessCoordinator
from mnemosyne.coord.identity import validate_instance_id
from mnemosyne.coord.queue import Message, validate_message_type
from mnemosyne.errors import MnemosyneError, NotFoundError, UnavailableError, UsageError
from mnemosyne.mcp.validation import validate
from mnemosyne.store import model
from mnemosyne.store.backend import MemoryBackend
from mnemosyne.store.model import Memory
from mnemosyne.store.query import MAX_LIMIT, make_recall_query

logger = logging.getLogger(__name__)

EVERY_NAMESPACE = "*"
CONTEXT_MAX_MEMORIES = 50
CONTEXT_MAX_CHARACTERS = 16_000
BROADCAST = "all"


MAX_INBOX = 1000


class Inbox:
    """Messages received for an instance, not yet handed to an agent; safe across threads.

    Keeps the newest MAX_INBOX.
    """

    def __init__(self) -> None:
        self._messages: list[Message] = []
        self._lock = threading.Lock()

    def add(self, messages: Iterable[Message]) -> None:
        """Keep *messages* for the next `drain`."""
        with self._lock:
            self._messages.extend(messages)
            del self._messages[:-MAX_INBOX]

    def drain(self) -> list[Message]:
        """Return every kept message, oldest first, and forget them."""
        with self._lock:
            messages, self._messages = self._messages, []
        return messages

    def __len__(self) -> int:
        return len(self._messages)


@dataclasses.dataclass(frozen=True)
class ToolContext:
    """What a tool call may use: the store, this agent's instance, its default namespace."""

    store: MemoryBackend
    default_namespace: str = "global"
    coordinator: CrossProcessCoordinator | None = None
    # Messages received for this instance but not yet handed to the agent (see server.py).
    inbox: Inbox = dataclasses.field(default_factory=Inbox)
    # False where another thread receives the instance's messages (a daemon's main loop):
    # then `inbox` only hands over what that thread put in the inbox.
    receives: bool = True

    def require_coordinator(self) -> CrossProcessCoordinator:
        """Return the coordinator. Raises UnavailableError when this server has none."""
        if self.coordinator is None or self.coordinator.entry is None:
            raise UnavailableError("coordination is not available on this connection")
        return self.coordinator


Result = tuple[dict[str, Any], str]
Handler = Callable[[ToolContext, dict[str, Any]], Result]


@dataclasses.dataclass(frozen=True)
class Tool:
    """One tool as `tools/list` shows it, and the function that runs it."""

    name: str
    title: str
    description: str
    input_schema: dict[str, Any]
    output_schema: dict[str, Any]
    handler: Handler

    def definition(self, structured: bool = True) -> dict[str, Any]:
        """Return the tool's `tools/list` entry.

        *structured* (protocol 2025-06-18) adds its title and outputSchema, which earlier
        revisions do not define.
        """
        entry = {"name": self.name, "description": self.description,
                 "inputSchema": self.input_schema}
        if structured:
            entry.update(title=self.title, outputSchema=self.output_schema)
        return entry

    def call(self, context: ToolContext, arguments: Any) -> dict[str, Any]:
        """Validate *arguments*, run the handler; return the `tools/call` result.

        Every failure becomes a tool error result (`isError: true`, one message).
        """
        try:
            validate({} if arguments is None else arguments, self.input_schema)
            structured, text = self.handler(context, arguments or {})
        except MnemosyneError as error:
            return error_result(error.message)
        except Exception as error:  # a tool failure must not end the session
            logger.exception("tool %s failed", self.name)
            return error_result(f"internal error: {type(error).__name__}: {error}")
        return {"content": [{"type": "text", "text": text}], "structuredContent": structured,
                "isError": False}


def error_result(message: str) -> dict[str, Any]:
    """Return a tool error result carrying *message*."""
    return {"content": [{"type": "text", "text": message}], "isError": True}


# --- schemas --------------------------------------------------------------------------------

def obj(properties: dict[str, Any], required: tuple[str, ...] = (),
        strict: bool = True) -> dict[str, Any]:
    """Return an object schema (no other properties allowed when *strict*)."""
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    if strict:
        schema["additionalProperties"] = False
    return schema


def text(description: str, **extra: Any) -> dict[str, Any]:
    """Return a string schema."""
    return {"type": "string", "description": description, **extra}


NULLABLE_TEXT = {"type": ["string", "null"]}
MEMORY_ID = text("memory id, or a unique prefix of at least 4 hex digits", minLength=4,
                 maxLength=36)
NAMESPACE_INPUT = text(f"{model.NAMESPACE_FORMS}; default: this project's namespace",
                       minLength=1, maxLength=200)
SCOPE_INPUT = text("one namespace, or '*' for every namespace; default: this project's "
                   "namespace and global", minLength=1, maxLength=200)
IMPORTANCE = {"type": "integer", "minimum": model.MIN_IMPORTANCE,
              "maximum": model.MAX_IMPORTANCE, "description": "1 (trivial) to 10 (essential)"}
TAGS = {"type": "array", "items": text("a tag: no spaces, commas or quotes", minLength=1,
                                       maxLength=model.MAX_TAG_LENGTH),
        "maxItems": model.MAX_TAGS}
MEMORY_TYPE = {"type": "string", "enum": list(model.MEMORY_TYPES)}
CONTENT = text("the text to remember", minLength=1)
SUMMARY = text("a one-line summary", minLength=1, maxLength=model.MAX_SUMMARY_LENGTH)

MEMORY = obj({
    "id": {"type": "string"}, "namespace": {"type": "string"}, "content": {"type": "string"},
    "summary": NULLABLE_TEXT, "memory_type": {"type": "string"},
    "importance": {"type": "integer"}, "tags": {"type": "array", "items": {"type": "string"}},
    "created_at": {"type": "string"}, "updated_at": {"type": "string"},
    "access_count": {"type": "integer"}, "last_accessed_at": NULLABLE_TEXT,
    "archived": {"type": "boolean"}, "superseded_by": NULLABLE_TEXT,
}, ("id", "namespace", "content", "memory_type", "importance", "tags", "created_at",
    "updated_at", "archived"), strict=False)
HIT = {**MEMORY, "properties": {**MEMORY["properties"], "score": {"type": "number"}}}
LINK = obj({"source_id": {"type": "string"}, "target_id": {"type": "string"},
            "link_type": {"type": "string"}, "strength": {"type": "number"},
            "created_at": {"type": "string"}},
           ("source_id", "target_id", "link_type", "strength", "created_at"), strict=False)
MEMORY_LIST = obj({"memories": {"type": "array", "items": MEMORY}}, ("memories",), strict=False)
MESSAGE = obj({"id": {"type": "string"}, "from_agent": {"type": "string"},
               "to_agent": NULLABLE_TEXT, "message_type": {"type": "string"},
               "timestamp": {"type": "string"}, "payload": {}},
              ("id", "from_agent", "message_type", "timestamp"), strict=False)
CLAIM = obj({"instance_id": {"type": "string"}, "branch": {"type": "string"},
             "mode": {"type": "string"}, "intent": {"type": "string"},
             "assigned_at": {"type": "string"}, "expires_at": NULLABLE_TEXT},
            ("instance_id", "branch", "mode", "intent"), strict=False)


# --- rendering ------------------------------------------------------------------------------

def memory_line(memory: Memory, score: float | None = None) -> str:
    """Return one line naming a memory: id, namespace, type, importance, first words."""
    first = (memory.summary or memory.content).strip().splitlines()[0][:160]
    scored = f" score {score:.3f}" if score is not None else ""
    tags = f" [{', '.join(memory.tags)}]" if memory.tags else ""
    return (f"- {memory.id} ({memory.namespace}, {memory.memory_type}, importance "
            f"{memory.importance}{scored}){tags}: {first}")


def memory_detail(memory: Memory) -> str:
    """Return a memory in full, as text."""
    lines = [f"id: {memory.id}", f"namespace: {memory.namespace}", f"type: {memory.memory_type}",
             f"importance: {memory.importance}", f"tags: {', '.join(memory.tags) or '-'}",
             f"created: {memory.created_at}", f"updated: {memory.updated_at}"]
    if memory.archived:
        lines.append("archived: yes")
    if memory.superseded_by:
        lines.append(f"superseded by: {memory.superseded_by}")
    if memory.summary:
        lines.append(f"summary: {memory.summary}")
    return "\n".join([*lines, "", memory.content])


def lines_or(lines: list[str], empty: str) -> str:
    """Return *lines* joined, or *empty* when there are none."""
    return "\n".join(lines) if lines else empty


# --- memory tools ---------------------------------------------------------------------------

def scope(context: ToolContext, namespace: str | None) -> list[str | None]:
    """Return the namespaces to look in: the one given, every one (None), or project + global."""
    if namespace == EVERY_NAMESPACE:
        return [None]
    if namespace is not None:
        return [model.validate_namespace(namespace)]
    return list(dict.fromkeys([context.default_namespace, "global"]))


def run_remember(context: ToolContext, arguments: dict[str, Any]) -> Result:
    """Store a memory."""
    memory = context.store.remember(
        arguments["content"], namespace=arguments.get("namespace", context.default_namespace),
        importance=arguments.get("importance", model.DEFAULT_IMPORTANCE),
        tags=arguments.get("tags"), memory_type=arguments.get("type", model.DEFAULT_MEMORY_TYPE),
        summary=arguments.get("summary"))
    return {"memory": memory.to_dict()}, f"remembered {memory.id} in {memory.namespace}"


def run_recall(context: ToolContext, arguments: dict[str, Any]) -> Result:
    """Search memories, merging the namespaces in scope by score."""
    limit = arguments.get("limit", 10)
    hits = []
    for namespace in scope(context, arguments.get("namespace")):
        query = make_recall_query(arguments.get("query", ""), namespace=namespace,
                                  memory_types=arguments.get("type"), tags=arguments.get("tags"),
                                  min_importance=arguments.get("min_importance"), limit=limit)
        hits += context.store.recall(query)
    hits = sorted(hits, key=lambda hit: hit.score, reverse=True)[:limit]
    return ({"memories": [hit.to_dict() for hit in hits]},
            lines_or([memory_line(hit.memory, hit.score) for hit in hits], "no memory matches"))


def run_list(context: ToolContext, arguments: dict[str, Any]) -> Result:
    """List the newest memories in scope."""
    limit = arguments.get("limit", 20)
    memories: list[Memory] = []
    for namespace in scope(context, arguments.get("namespace")):
        memories += context.store.list(namespace, limit=limit,
                                       include_archived=arguments.get("archived", False))
    memories = sorted(memories, key=lambda memory: memory.created_at, reverse=True)[:limit]
    return ({"memories": [memory.to_dict() for memory in memories]},
            lines_or([memory_line(memory) for memory in memories], "no memories"))


def run_show(context: ToolContext, arguments: dict[str, Any]) -> Result:
    """Return one memory with its links."""
    memory = context.store.get(arguments["id"])
    links = context.store.links_of(memory.id)
    link_lines = [f"link: {link.source_id} -[{link.link_type} {link.strength:g}]-> "
                  f"{link.target_id}" for link in links]
    return ({"memory": memory.to_dict(), "links": [link.to_dict() for link in links]},
            "\n".join([memory_detail(memory), *([""] if link_lines else []), *link_lines]))


def run_link(context: ToolContext, arguments: dict[str, Any]) -> Result:
    """Link two memories."""
    link = context.store.link(arguments["source"], arguments["target"], arguments["type"],
                              arguments.get("strength", 1.0))
    return ({"link": link.to_dict()},
            f"linked {link.source_id} -[{link.link_type}]-> {link.target_id}")


def run_update(context: ToolContext, arguments: dict[str, Any]) -> Result:
    """Change fields of one memory."""
    memory = context.store.update(
        arguments["id"], content=arguments.get("content"), summary=arguments.get("summary"),
        importance=arguments.get("importance"), tags=arguments.get("tags"),
        memory_type=arguments.get("type"), archived=arguments.get("archived"))
    return {"memory": memory.to_dict()}, f"updated {memory.id}"


def run_forget(context: ToolContext, arguments: dict[str, Any]) -> Result:
    """Delete one memory and its links."""
    memory = context.store.forget(arguments["id"])
    return {"forgotten": memory.id}, f"forgot {memory.id}"


# --- context --------------------------------------------------------------------------------

def build_context(context: ToolContext, namespace: str | None = None,
                  limit: int = 20) -> dict[str, Any]:
    """Return the memories an agent should load at start, bounded in number and size.

    In order: the project namespace's most important (then newest) memories (about half of
    *limit*), its newest ones not already chosen (a quarter), and the most important global
    ones (a quarter); each memory once, at most *limit* and CONTEXT_MAX_CHARACTERS of content.
    Raises UsageError for a bad namespace.
    """
    project = model.validate_namespace(namespace or context.default_namespace)
    recent_share = max(1, limit // 4)
    global_share = max(1, limit // 4) if project != "global" else 0
    important_share = max(1, limit - recent_share - global_share)
    sections: list[tuple[str, list[Memory]]] = [
        ("important", [hit.memory for hit in context.store.recall(make_recall_query(
            "", namespace=project, limit=important_share))]),
        ("recent", context.store.list(project, limit=recent_share + important_share)),
    ]
    if global_share:
        sections.append(("global", [hit.memory for hit in context.store.recall(make_recall_query(
            "", namespace="global", limit=global_share))]))
    chosen: dict[str, dict[str, Any]] = {}
    size, truncated = 0, False
    for section, memories in sections:
        for memory in memories:
            if memory.id in chosen:
                continue
            if len(chosen) >= limit or size + len(memory.content) > CONTEXT_MAX_CHARACTERS:
                truncated = True
                continue
            size += len(memory.content)
            chosen[memory.id] = {**memory.to_dict(), "section": section}
    return {"namespace": project, "memories": list(chosen.values()), "truncated": truncated}


def render_context(pack: dict[str, Any]) -> str:
    """Return the context pack as Markdown for an agent to read."""
    lines = [f"# Project memory ({pack['namespace']})", ""]
    titles = {"important": "Most important", "recent": "Recently stored",
              "global": "Global (every project)"}
    for section, title in titles.items():
        memories = [memory for memory in pack["memories"] if memory["section"] == section]
        if not memories:
            continue
        lines += [f"## {title}", ""]
        for memory in memories:
            tags = f" [{', '.join(memory['tags'])}]" if memory["tags"] else ""
            lines.append(f"- ({memory['memory_type']}, importance {memory['importance']}, id "
                         f"{memory['id'][:8]}){tags} {memory['content'].strip()}")
        lines.append("")
    if not pack["memories"]:
        lines.append("No memories stored yet. Use the `remember` tool to keep decisions, "
                     "constraints and fixes for later sessions.")
    if pack["truncated"]:
        lines.append("(more memories exist: use `recall` to search them)")
    return "\n".join(lines).rstrip() + "\n"


def run_context(context: ToolContext, arguments: dict[str, Any]) -> Result:
    """Return the start-of-session context pack."""
    pack = build_context(context, arguments.get("namespace"), arguments.get("limit", 20))
    return pack, render_context(pack)


# --- coordination ---------------------------------------------------------------------------

def run_instances(context: ToolContext, arguments: dict[str, Any]) -> Result:
    """List the instances in this coordination root, with their branch claims."""
    coordinator = context.require_coordinator()
    claims: dict[str, list[str]] = {}
    for branch, held in coordinator.branches.assignments().items():
        for claim in held:
            claims.setdefault(str(claim.get("instance_id")), []).append(branch)
    views = [view for view in coordinator.instances()
             if arguments.get("all", False) or view.state != "dead"]
    found = [{**view.to_dict(), "claimed_branches": sorted(claims.get(view.instance_id, [])),
              "self": view.instance_id == coordinator.instance_id} for view in views]
    lines = [f"- {item.get('instance_id')} {item['state']} pid {item.get('pid')} "
             f"{item.get('kind') or 'daemon'} branch {item.get('branch') or '-'} claims "
             f"{','.join(item['claimed_branches']) or '-'} worktree "
             f"{item.get('worktree_path') or '-'}{' (this agent)' if item['self'] else ''}"
             for item in found]
    return ({"self": coordinator.instance_id, "instances": found},
            lines_or(lines, "no instances"))


def run_send(context: ToolContext, arguments: dict[str, Any]) -> Result:
    """Send a message to one live instance, or to every other one."""
    coordinator = context.require_coordinator()
    target = arguments["to"]
    message_type = validate_message_type(arguments.get("type", "note"))
    if target == BROADCAST:
        to_agent = None
    else:
        to_agent = validate_instance_id(target)
        if to_agent == coordinator.instance_id:
            raise UsageError("cannot send a message to this agent's own instance")
        entry = coordinator.registry.entries().get(to_agent)
        if entry is None or coordinator.registry.judge(entry).state not in ("live", "stale"):
            raise NotFoundError(f"no running instance holds id {to_agent} (see the "
                                "`instances` tool)")
    payload: dict[str, Any] = {"text": arguments["message"]}
    if "data" in arguments:
        payload["data"] = arguments["data"]
    message = coordinator.send_message(to_agent, message_type, payload)
    return {"message": message.to_dict()}, f"sent {message.id} to {target}"


def run_inbox(context: ToolContext, arguments: dict[str, Any]) -> Result:
    """Return the messages that arrived for this instance since the last call."""
    coordinator = context.require_coordinator()
    messages = context.inbox.drain()
    if context.receives:
        messages += coordinator.receive_messages()
    lines = [f"- {message.timestamp} from {message.from_agent} to {message.to_agent or 'all'} "
             f"{message.message_type}: {json.dumps(message.payload, ensure_ascii=False)}"
             for message in messages]
    return ({"messages": [message.to_dict() for message in messages]},
            lines_or(lines, "no new messages"))


def run_claim_branch(context: ToolContext, arguments: dict[str, Any]) -> Result:
    """Claim a branch for this instance."""
    coordinator = context.require_coordinator()
    claim = coordinator.branches.claim(arguments["branch"], coordinator.instance_id,
                                       arguments.get("mode", "isolated"),
                                       arguments.get("intent", "full"))
    shown = {key: value for key, value in claim.items() if key != "signature"}
    return ({"claim": shown},
            f"claimed branch {claim['branch']} ({claim['mode']}, {claim['intent']})")


def run_release_branch(context: ToolContext, arguments: dict[str, Any]) -> Result:
    """Release this instance's claim of a branch (or of every branch)."""
    coordinator = context.require_coordinator()
    branch = arguments.get("branch")
    if branch is not None:
        validate_branch_name(branch)
    released = coordinator.branches.release(coordinator.instance_id, branch)
    return ({"released": released},
            f"released {released} claim(s)" + (f" of branch {branch}" if branch else ""))


# --- the table ------------------------------------------------------------------------------

QUERY_FILTERS = {
    "namespace": SCOPE_INPUT,
    "type": {"type": "array", "items": MEMORY_TYPE, "maxItems": len(model.MEMORY_TYPES),
             "description": "only these memory types"},
    "tags": {**TAGS, "description": "only memories carrying all these tags"},
    "min_importance": {**IMPORTANCE, "description": "only memories at least this important"},
}

TOOLS: tuple[Tool, ...] = (
    Tool("remember", "Remember",
         "Store a memory (a decision, fix, constraint, pattern...) for later sessions and other "
         "agents. Namespace defaults to this project's.",
         obj({"content": CONTENT, "namespace": NAMESPACE_INPUT, "importance": IMPORTANCE,
              "tags": TAGS, "type": MEMORY_TYPE, "summary": SUMMARY}, ("content",)),
         obj({"memory": MEMORY}, ("memory",), strict=False), run_remember),
    Tool("recall", "Recall",
         "Find the memories that best match a query (full text, importance and recency). "
         "All words must match (any word if none match that way); `word*` matches a prefix; "
         "an empty query returns the most important memories. Searches this project's "
         "namespace and global unless a namespace is given.",
         obj({"query": text("words to look for", maxLength=2000), **QUERY_FILTERS,
              "limit": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT,
                        "description": "at most this many results (default 10)"}}),
         obj({"memories": {"type": "array", "items": HIT}}, ("memories",), strict=False),
         run_recall),
    Tool("list", "List memories",
         "List memories, most recently stored first (this project's namespace and global "
         "unless a namespace is given).",
         obj({"namespace": SCOPE_INPUT,
              "limit": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT,
                        "description": "at most this many (default 20)"},
              "archived": {"type": "boolean", "description": "include archived memories"}}),
         MEMORY_LIST, run_list),
    Tool("show", "Show a memory", "Show one memory in full, with its links.",
         obj({"id": MEMORY_ID}, ("id",)),
         obj({"memory": MEMORY, "links": {"type": "array", "items": LINK}},
             ("memory", "links"), strict=False), run_show),
    Tool("link", "Link memories",
         "Link two memories; `supersedes` also marks the target as superseded (recall then "
         "leaves it out).",
         obj({"source": MEMORY_ID, "target": MEMORY_ID,
              "type": {"type": "string", "enum": list(model.LINK_TYPES)},
              "strength": {"type": "number", "minimum": 0, "maximum": 1,
                           "description": "0 to 1 (default 1)"}}, ("source", "target", "type")),
         obj({"link": LINK}, ("link",), strict=False), run_link),
    Tool("update", "Update a memory",
         "Change a memory's content, summary, importance, tags or type, or archive it "
         "(archived: true; kept but no longer recalled) or bring it back (archived: false).",
         obj({"id": MEMORY_ID, "content": CONTENT, "summary": SUMMARY, "importance": IMPORTANCE,
              "tags": {**TAGS, "description": "replace the tags with these"},
              "type": MEMORY_TYPE, "archived": {"type": "boolean"}}, ("id",)),
         obj({"memory": MEMORY}, ("memory",), strict=False), run_update),
    Tool("forget", "Forget a memory", "Delete one memory and its links for good.",
         obj({"id": MEMORY_ID}, ("id",)),
         obj({"forgotten": {"type": "string"}}, ("forgotten",), strict=False), run_forget),
    Tool("context", "Project context",
         "What to load at the start of a session: this project's most important and newest "
         "memories and the most important global ones, bounded in size.",
         obj({"namespace": NAMESPACE_INPUT,
              "limit": {"type": "integer", "minimum": 1, "maximum": CONTEXT_MAX_MEMORIES,
                        "description": "at most this many memories (default 20)"}}),
         obj({"namespace": {"type": "string"},
              "memories": {"type": "array", "items": {
                  **MEMORY, "properties": {**MEMORY["properties"],
                                           "section": {"type": "string"}}}},
              "truncated": {"type": "boolean"}}, ("namespace", "memories", "truncated"),
             strict=False), run_context),
    Tool("instances", "Instances",
         "List the instances and agents working in this repository: state, branch, worktree, "
         "claimed branches; `self` marks this agent's own.",
         obj({"all": {"type": "boolean", "description": "include dead entries"}}),
         obj({"self": {"type": "string"},
              "instances": {"type": "array", "items": obj({
                  "instance_id": {"type": "string"}, "state": {"type": "string"},
                  "claimed_branches": {"type": "array", "items": {"type": "string"}},
                  "self": {"type": "boolean"}}, ("instance_id", "state"), strict=False)}},
             ("self", "instances"), strict=False), run_instances),
    Tool("send", "Send a message",
         "Send a message to one instance (its id, see `instances`) or to all others ('all'). "
         "It waits for its recipient for a few minutes (message_ttl_s).",
         obj({"to": text("an instance id (8 hex digits) or 'all'", minLength=1, maxLength=8),
              "message": text("the text to send", minLength=1, maxLength=900),
              "type": text("message type (default: note)", minLength=1, maxLength=64),
              "data": {"description": "optional JSON data sent with the text"}},
             ("to", "message")),
         obj({"message": MESSAGE}, ("message",), strict=False), run_send),
    Tool("inbox", "Inbox",
         "Receive the messages sent to this agent's instance (and to all) since the last call.",
         obj({}),
         obj({"messages": {"type": "array", "items": MESSAGE}}, ("messages",), strict=False),
         run_inbox),
    Tool("claim_branch", "Claim a branch",
         "Claim a git branch for this agent's instance. Refused while another instance holds "
         "a conflicting claim (isolated: no other writer; coordinated: shared with other "
         "coordinated writers).",
         obj({"branch": text("the branch name", minLength=1, maxLength=255),
              "mode": {"type": "string", "enum": list(MODES)},
              "intent": {"type": "string", "enum": list(INTENTS)}}, ("branch",)),
         obj({"claim": CLAIM}, ("claim",), strict=False), run_claim_branch),
    Tool("release_branch", "Release a branch",
         "Release this agent's claim of a branch, or of every branch when none is given.",
         obj({"branch": text("the branch name", minLength=1, maxLength=255)}),
         obj({"released": {"type": "integer"}}, ("released",), strict=False),
         run_release_branch),
)
TOOLS_BY_NAME = {tool.name: tool for tool in TOOLS}


def describe_arguments(tool: Tool) -> str:
    """Return *tool*'s arguments in one line: `name` (type, required), for the docs."""
    schema = tool.input_schema
    required = set(schema.get("required", ()))
    parts = []
    for name, item in schema["properties"].items():
        kind = item.get("type", "any JSON")
        if isinstance(kind, list):
            kind = " or ".join(kind)
        if "enum" in item:
            kind = " / ".join(item["enum"]) if len(item["enum"]) <= 3 else "memory type" \
                if item["enum"] == list(model.MEMORY_TYPES) else "link type"
        elif kind == "array" and "items" in item:
            inner = item["items"]
            kind = "memory types" if "enum" in inner else f"array of {inner.get('type')}"
        elif kind == "integer" and "minimum" in item and "maximum" in item:
            kind = f"integer {item['minimum']}..{item['maximum']}"
        parts.append(f"`{name}` ({kind}{', required' if name in required else ''})")
    return ", ".join(parts) or "none"
