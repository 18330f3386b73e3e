"""Plan files: validation naming the JSON path, cycles named, waves, the shipped schema."""

from __future__ import annotations

import json

import pytest

from mnemosyne.coord.plan import PLAN_KEYS, TASK_KEYS, PlanError, load_plan, schema_text

DIAMOND = {"name": "diamond", "tasks": [
    {"id": "a", "command": ["true"]},
    {"id": "b", "depends_on": ["a"], "command": "echo b"},
    {"id": "c", "depends_on": ["a"], "command": ["echo", "c"], "retries": 2, "timeout_s": 5},
    {"id": "d", "depends_on": ["b", "c"], "command": "true", "worktree": False,
     "namespace": "project:x", "env": {"A_B": "1"}, "cwd": "sub", "title": "last"},
]}


def plan_with(**changes):
    tasks = [dict(task) for task in DIAMOND["tasks"]]
    for index, fields in changes.items():
        tasks[int(index[1:])].update(fields)
    return {"name": "p", "tasks": tasks}


def test_a_valid_plan_has_its_waves_and_defaults():
    plan = load_plan(json.dumps(DIAMOND))
    assert plan.waves() == [["a"], ["b", "c"], ["d"]]
    first, _, third, last = plan.tasks
    assert first.title == "a" and first.depends_on == () and first.retries == 0
    assert first.worktree is True and third.timeout_s == 5.0 and last.env == {"A_B": "1"}
    assert load_plan(json.dumps(plan.to_dict())) == plan


def test_a_long_chain_does_not_recurse():
    tasks = [{"id": f"t{i}", "command": "true", **({"depends_on": [f"t{i - 1}"]} if i else {})}
             for i in range(3000)]
    assert len(load_plan(json.dumps({"name": "chain", "tasks": tasks})).waves()) == 3000


@pytest.mark.parametrize(("data", "path", "fragment"), [
    ({"name": "p", "tasks": [], "extra": 1}, "$.extra", "unknown key"),
    ({"tasks": [{"id": "a", "command": "x"}]}, "$.name", "must be a name"),
    ({"name": "p", "tasks": []}, "$.tasks", "non-empty"),
    (plan_with(t1={"bogus": 1}), "$.tasks[1].bogus", "unknown key"),
    (plan_with(t2={"id": "a"}), "$.tasks[2].id", "duplicate id 'a'"),
    (plan_with(t3={"depends_on": ["b", "zz"]}), "$.tasks[3].depends_on[1]", "unknown task 'zz'"),
    ({"name": "p", "tasks": [{"id": "a"}]}, "$.tasks[0].command", "missing"),
    (plan_with(t0={"command": []}), "$.tasks[0].command", "non-empty"),
    (plan_with(t0={"command": ["ok", 3]}), "$.tasks[0].command[1]", "non-empty string"),
    (plan_with(t0={"timeout_s": 0}), "$.tasks[0].timeout_s", "seconds"),
    (plan_with(t0={"retries": True}), "$.tasks[0].retries", "integer"),
    (plan_with(t0={"worktree": "yes"}), "$.tasks[0].worktree", "true or false"),
    (plan_with(t0={"env": {"1x": "v"}}), "$.tasks[0].env.1x", "variable name"),
    (plan_with(t0={"namespace": "nope"}), "$.tasks[0].namespace", "project:NAME"),
    ([1], "$", "object"),
])
def test_invalid_plans_name_the_json_path(data, path, fragment):
    with pytest.raises(PlanError) as caught:
        load_plan(json.dumps(data), "f.json")
    assert f"f.json: {path}: " in caught.value.message and fragment in caught.value.message
    assert caught.value.exit_code == 2


def test_a_cycle_is_named():
    data = {"name": "p", "tasks": [{"id": "x", "depends_on": ["y"], "command": "true"},
                                   {"id": "y", "depends_on": ["x"], "command": "true"}]}
    with pytest.raises(PlanError, match=r"\$\.tasks\[0\]\.depends_on: cycle: x -> y -> x"):
        load_plan(json.dumps(data))
    itself = {"name": "p", "tasks": [{"id": "s", "depends_on": ["s"], "command": "true"}]}
    with pytest.raises(PlanError, match="cycle: s -> s"):
        load_plan(json.dumps(itself))


@pytest.mark.parametrize(("changes", "path"), [
    ({"command": ["echo", "\ud800"]}, "$.tasks[0].command[1]"),
    ({"command": "echo \udc80"}, "$.tasks[0].command"),
    ({"env": {"A": "\ud800x"}}, "$.tasks[0].env.A"),
    ({"env": {"\ud800": "v"}}, "$.tasks[0].env"),
    ({"title": "\udfff"}, "$.tasks[0].title"),
])
def test_lone_surrogates_are_refused_by_path_never_echoed(changes, path):
    # JSON can spell them ("\ud800" escapes); no argv, environment or memory can carry them.
    text = json.dumps(plan_with(t0=changes))
    assert "\\ud" in text  # the escape, as a plan file would have it
    with pytest.raises(PlanError) as caught:
        load_plan(text, "f.json")
    assert caught.value.message.startswith(f"f.json: {path}: ")
    assert "not valid Unicode" in caught.value.message
    caught.value.message.encode("utf-8")  # printable: the text itself is not in it


def test_not_json_is_refused():
    with pytest.raises(PlanError, match="not JSON"):
        load_plan("{")


def test_the_schema_is_json_with_the_same_keys():
    schema = json.loads(schema_text())
    assert set(schema["properties"]) == PLAN_KEYS
    assert set(schema["properties"]["tasks"]["items"]["properties"]) == TASK_KEYS
