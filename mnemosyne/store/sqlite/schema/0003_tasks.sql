-- Task plans run by `mnemosyne orchestrate` and the workers (`serve --accept-work`): the
-- shared truth of what is pending, ready, running, done, failed or skipped, so that nothing
-- is lost with a process. Claims are single IMMEDIATE transactions (store/tasks.py).
CREATE TABLE task_plans (
    name            TEXT PRIMARY KEY,
    definition      TEXT NOT NULL,          -- the validated plan, JSON
    base_dir        TEXT NOT NULL,          -- where the plan was started (tasks' cwd base)
    root            TEXT NOT NULL,          -- the coordination root whose workers run it
    namespace       TEXT NOT NULL,          -- default namespace of the result memories
    state           TEXT NOT NULL CHECK (state IN ('running', 'stopped', 'finished')),
    max_concurrent  INTEGER NOT NULL DEFAULT 0,  -- 0: no limit
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);

CREATE TABLE tasks (
    plan            TEXT NOT NULL REFERENCES task_plans(name) ON DELETE CASCADE,
    id              TEXT NOT NULL,
    position        INTEGER NOT NULL,
    title           TEXT NOT NULL,
    spec            TEXT NOT NULL,          -- the task as in the plan, JSON
    state           TEXT NOT NULL CHECK (state IN
                        ('pending', 'ready', 'running', 'done', 'failed', 'skipped')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    retries         INTEGER NOT NULL DEFAULT 0,
    worker          TEXT,
    run_id          TEXT,                   -- this attempt's id (its worktree's name)
    pid             INTEGER,                -- the attempt's process group leader
    pid_start       INTEGER,                -- its start time, against pid reuse
    hostname        TEXT,
    started_at      TEXT,
    finished_at     TEXT,
    ready_ns        INTEGER,                -- when it became ready (time.time_ns)
    started_ns      INTEGER,
    finished_ns     INTEGER,
    exit_status     INTEGER,
    duration_s      REAL,
    output_tail     TEXT,
    error           TEXT,
    memory_id       TEXT,
    worktree_path   TEXT,                   -- a task worktree kept (uncommitted changes)
    PRIMARY KEY (plan, id)
);

CREATE INDEX tasks_ready ON tasks(state, plan, position);

CREATE TABLE task_dependencies (
    plan        TEXT NOT NULL,
    task        TEXT NOT NULL,
    depends_on  TEXT NOT NULL,
    PRIMARY KEY (plan, task, depends_on),
    FOREIGN KEY (plan, task) REFERENCES tasks(plan, id) ON DELETE CASCADE
);

CREATE INDEX task_dependents ON task_dependencies(plan, depends_on);

-- A short journal of task transitions (started, done, failed, skipped, back to ready), written
-- by triggers in the transaction that made them, whichever process. The orchestrator and the
-- instances' APIs tail it when the WAL changes (task_started, task_finished, task_failed
-- events) instead of every worker broadcasting to every instance. Pruned like change_log.
CREATE TABLE task_log (
    seq          INTEGER PRIMARY KEY,
    plan         TEXT NOT NULL,
    task         TEXT NOT NULL,
    state        TEXT NOT NULL,
    worker       TEXT,
    attempt      INTEGER NOT NULL,
    exit_status  INTEGER,
    duration_s   REAL,
    error        TEXT
);

CREATE TRIGGER task_log_state AFTER UPDATE OF state ON tasks
WHEN new.state != old.state AND new.state != 'pending' BEGIN
    INSERT INTO task_log(plan, task, state, worker, attempt, exit_status, duration_s, error)
    VALUES (new.plan, new.id, new.state, coalesce(new.worker, old.worker), new.attempts,
            new.exit_status, new.duration_s, new.error);
END;

CREATE TRIGGER task_log_prune AFTER INSERT ON task_log WHEN new.seq % 1000 = 0 BEGIN
    DELETE FROM task_log WHERE seq <= new.seq - 10000;
END;
