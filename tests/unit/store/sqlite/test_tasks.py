"""Task storage: atomic claims, dependency order, retries, skips, release, resume."""

from __future__ import annotations

import threading

import pytest

from mnemosyne.errors import NotFoundError, UsageError
from mnemosyne.store.sqlite.database import Database
from mnemosyne.store.sqlite.tasks import Claimant, TaskStore, result_memory


def definition(name="p", retries=0):
    task = {"title": "t", "cwd": None, "env": {}, "timeout_s": None, "worktree": True,
            "namespace": None, "command": "true", "retries": retries}
    return {"name": name, "tasks": [
        {**task, "id": "a", "depends_on": []},
        {**task, "id": "b", "depends_on": ["a"]},
        {**task, "id": "c", "depends_on": ["a"]},
        {**task, "id": "d", "depends_on": ["b", "c"]},
        {**task, "id": "e", "depends_on": ["d"]},
    ]}


@pytest.fixture
def tasks(store):
    return TaskStore(store.database)


def states(tasks, plan="p"):
    return {row.id: row.state for row in tasks.tasks(plan)}


def finish(tasks, row, status=0):
    return tasks.finish(row.plan, row.id, row.run_id, exit_status=status, duration_s=0.1,
                        output_tail="out")


def test_claims_follow_the_dependencies(tasks):
    plan, created = tasks.put_plan(definition(), "/tmp", "project:x")
    assert created and plan.state == "running" and plan.namespace == "project:x"
    assert states(tasks) == {"a": "ready", "b": "pending", "c": "pending", "d": "pending",
                             "e": "pending"}
    first = tasks.claim("w1", "11111111", "host")
    assert (first.id, first.state, first.attempts, first.worker) == ("a", "running", 1, "w1")
    assert tasks.claim("w2", "22222222", "host") is None
    assert finish(tasks, first).ready == ("b", "c")
    second, third = tasks.claim("w1", "33333333", "h"), tasks.claim("w2", "44444444", "h")
    assert {second.id, third.id} == {"b", "c"}
    assert finish(tasks, second).ready == ()
    assert finish(tasks, third).ready == ("d",)
    assert tasks.counts("p")["done"] == 3


def test_concurrent_claims_never_share_a_task(db_path, tasks):
    many = {"name": "wide", "tasks": [{**definition()["tasks"][0], "id": f"t{i}"}
                                      for i in range(60)]}
    tasks.put_plan(many, "/tmp", "global")
    claimed: list[str] = []

    def claim(worker):
        database = Database.open(db_path)
        try:
            own = TaskStore(database)
            while (row := own.claim(worker, worker, "h")) is not None:
                claimed.append(row.id)
        finally:
            database.close()

    threads = [threading.Thread(target=claim, args=(f"w000000{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(claimed) == sorted(f"t{i}" for i in range(60))


def test_claims_and_attempts_stay_within_the_plan_s_root(tasks):
    tasks.put_plan(definition(), "/tmp", "global", root="/a")
    assert tasks.claim("w", "r1", "h", "/b") is None
    assert not tasks.has_ready_work("/b") and tasks.has_ready_work("/a")
    assert tasks.claim("w", "r1", "h", "/a").id == "a"
    assert tasks.running("/b") == [] and len(tasks.running("/a")) == len(tasks.running()) == 1
    assert tasks.plan("p").root == "/a"


def test_max_concurrent_limits_running_tasks(tasks):
    many = {"name": "wide", "tasks": [{**definition()["tasks"][0], "id": f"t{i}"}
                                      for i in range(5)]}
    tasks.put_plan(many, "/tmp", "global", max_concurrent=2)
    assert tasks.claim("w", "r1", "h") and tasks.claim("w", "r2", "h")
    assert tasks.claim("w", "r3", "h") is None


def test_failure_retries_then_skips_the_dependents(tasks):
    tasks.put_plan(definition(retries=1), "/tmp", "global")
    first = tasks.claim("w", "r1", "h")
    assert finish(tasks, first, status=3).state == "ready"
    again = tasks.claim("w", "r2", "h")
    assert again.id == "a" and again.attempts == 2
    outcome = finish(tasks, again, status=3)
    assert outcome.state == "failed" and set(outcome.skipped) == {"b", "c", "d", "e"}
    assert tasks.plan("p").state == "finished"
    row = tasks.tasks("p")[0]
    assert (row.exit_status, row.output_tail) == (3, "out")


def test_a_result_memory_is_stored_with_the_end(tasks, store):
    tasks.put_plan(definition(), "/tmp", "global")
    row = tasks.claim("w", "r1", "h")
    memory = result_memory(row, "project:x", "done", exit_status=0, duration_s=0.5,
                           output_tail="hello", error=None)
    outcome = tasks.finish("p", "a", "r1", exit_status=0, duration_s=0.5, output_tail="hello",
                           memory=memory)
    stored = store.get(outcome.memory_id)
    assert stored.memory_type == "task" and stored.namespace == "project:x"
    assert "p/a" in stored.content and "hello" in stored.content


def test_release_and_a_late_end_change_nothing_twice(tasks):
    tasks.put_plan(definition(), "/tmp", "global")
    row = tasks.claim("w", "r1", "h")
    assert tasks.set_process("p", "a", "r1", 123, 456)
    assert tasks.running()[0].pid == 123
    assert tasks.release("p", "a", "r1", "worker died")
    assert not tasks.release("p", "a", "r1", "again")
    assert finish(tasks, row) is None  # the attempt was taken away: its end is dropped
    row = tasks.tasks("p")[0]
    assert (row.state, row.attempts, row.error) == ("ready", 0, "worker died")


def test_resume_keeps_done_tasks_and_restarts_failed_ones(tasks):
    tasks.put_plan(definition(), "/tmp", "global")
    finish(tasks, tasks.claim("w", "r1", "h"))
    finish(tasks, tasks.claim("w", "r2", "h"), status=1)
    tasks.set_plan_state("p", "stopped")
    assert tasks.claim("w", "r3", "h") is None
    _, created = tasks.put_plan(definition(), "/tmp", "global")
    assert not created
    assert states(tasks) == {"a": "done", "b": "ready", "c": "ready", "d": "pending",
                             "e": "pending"}
    assert tasks.has_ready_work()


def test_another_definition_under_the_same_name_is_refused_until_finished(tasks):
    tasks.put_plan(definition(), "/tmp", "global")
    changed = definition()
    changed["tasks"] = changed["tasks"][:1]
    with pytest.raises(UsageError, match="another definition"):
        tasks.put_plan(changed, "/tmp", "global")
    finish(tasks, tasks.claim("w", "r1", "h"), status=1)  # the rest is skipped: finished
    tasks.put_plan(changed, "/tmp", "global")  # a new run of the new definition
    assert states(tasks) == {"a": "ready"}
    assert [plan.name for plan in tasks.plans()] == ["p"]
    with pytest.raises(NotFoundError):
        tasks.plan("nope")


def test_every_transition_is_journaled_once(tasks):
    start = tasks.last_event()
    tasks.put_plan(definition(retries=1), "/tmp", "global")
    row = tasks.claim("w", "r1", "h")
    finish(tasks, row, status=2)
    events = tasks.events_after(start)
    assert [(e.task, e.state, e.attempt) for e in events] == [
        ("a", "ready", 0), ("a", "running", 1), ("a", "ready", 1)]
    assert events[-1].exit_status == 2 and events[-1].to_dict()["worker"] == "w"
    assert tasks.events_after(events[-1].seq) == [] and tasks.last_event() == events[-1].seq


def test_an_end_can_claim_the_next_task_in_the_same_transaction(tasks):
    tasks.put_plan(definition(), "/tmp", "project:x")
    first = tasks.claim("w1", "11111111", "host")
    outcome = tasks.finish(first.plan, first.id, first.run_id, exit_status=0, duration_s=0.1,
                           output_tail="", then=Claimant("w1", "22222222", "host"))
    assert outcome.ready == ("b", "c")
    claimed = outcome.claimed
    assert (claimed.id, claimed.state, claimed.run_id, claimed.worker) == \
        ("b", "running", "22222222", "w1")
    assert tasks.claim("w2", "33333333", "host").id == "c"  # the other one is left to others
    # An end that was taken away claims nothing; with nothing ready, nothing is claimed.
    assert tasks.finish(first.plan, first.id, first.run_id, exit_status=0, duration_s=0.1,
                        output_tail="", then=Claimant("w1", "44444444", "host")) is None
    late = tasks.finish(claimed.plan, claimed.id, claimed.run_id, exit_status=0,
                        duration_s=0.1, output_tail="", then=Claimant("w1", "55555555", "h"))
    assert (late.ready, late.claimed) == ((), None)
    assert states(tasks)["a"] == "done" and states(tasks)["b"] == "done"
