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
