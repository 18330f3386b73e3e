-- A short journal of stored, changed and deleted memories, written by triggers in the same
-- transaction as the change itself, whichever process made it. Running instances tail it to
-- publish live events (memory_stored, memory_updated, memory_deleted). `seq` only grows: the
-- pruning below never deletes the newest row, so SQLite never reuses a seq.
CREATE TABLE change_log (
    seq        INTEGER PRIMARY KEY,
    op         TEXT NOT NULL CHECK (op IN ('stored', 'updated', 'deleted')),
    memory_id  TEXT NOT NULL,
    namespace  TEXT NOT NULL
);

CREATE TRIGGER change_log_stored AFTER INSERT ON memories BEGIN
    INSERT INTO change_log(op, memory_id, namespace) VALUES ('stored', new.id, new.namespace);
END;

CREATE TRIGGER change_log_updated
AFTER UPDATE OF content, summary, tags, namespace, memory_type, importance, archived
ON memories BEGIN
    INSERT INTO change_log(op, memory_id, namespace) VALUES ('updated', new.id, new.namespace);
END;

CREATE TRIGGER change_log_deleted AFTER DELETE ON memories BEGIN
    INSERT INTO change_log(op, memory_id, namespace) VALUES ('deleted', old.id, old.namespace);
END;

-- Keep about the last 10,000 changes: every 1,000th entry removes the oldest 1,000.
CREATE TRIGGER change_log_prune AFTER INSERT ON change_log WHEN new.seq % 1000 = 0 BEGIN
    DELETE FROM change_log WHERE seq <= new.seq - 10000;
END;
