-- Memories, links, full-text search and the change journal, as in the SQLite schema
-- (mnemosyne/store/schema/0001 and 0002). Text that is compared or ordered uses the "C"
-- collation, so id prefixes and export order are the same bytes as SQLite's whatever the
-- server's locale. Timestamps stay text in the stored form (exact round trip).
CREATE TABLE memories (
    seq              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id               text COLLATE "C" NOT NULL UNIQUE,
    namespace        text COLLATE "C" NOT NULL,
    content          text NOT NULL,
    summary          text,
    memory_type      text COLLATE "C" NOT NULL,
    importance       integer NOT NULL CHECK (importance BETWEEN 1 AND 10),
    tags             jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(tags) = 'array'),
    created_at       text COLLATE "C" NOT NULL,
    updated_at       text COLLATE "C" NOT NULL,
    access_count     bigint NOT NULL DEFAULT 0 CHECK (access_count >= 0),
    last_accessed_at text COLLATE "C",
    archived         boolean NOT NULL DEFAULT false,
    superseded_by    text COLLATE "C" REFERENCES memories(id) ON DELETE SET NULL,
    -- Weights: tags A, content B, summary C (recall ranks them 2 : 1 : 0.5, as FTS5 does).
    search           tsvector GENERATED ALWAYS AS (
        setweight(jsonb_to_tsvector('english', tags, '["string"]'), 'A')
        || setweight(to_tsvector('english', content), 'B')
        || setweight(to_tsvector('english', coalesce(summary, '')), 'C')) STORED
);
CREATE INDEX memories_namespace ON memories(namespace, seq);
CREATE INDEX memories_importance ON memories(importance, seq);
CREATE INDEX memories_search ON memories USING gin(search);

CREATE TABLE memory_links (
    source_id  text COLLATE "C" NOT NULL REFERENCES memories(id) ON DELETE CASCADE,
    target_id  text COLLATE "C" NOT NULL REFERENCES memories(id) ON DELETE CASCADE,
    link_type  text COLLATE "C" NOT NULL,
    strength   double precision NOT NULL DEFAULT 1.0 CHECK (strength >= 0.0 AND strength <= 1.0),
    created_at text COLLATE "C" NOT NULL,
    PRIMARY KEY (source_id, target_id, link_type),
    CHECK (source_id <> target_id)
);
CREATE INDEX memory_links_target ON memory_links(target_id);

-- The change journal, in two steps so that writers never wait for each other (group commit
-- keeps working). A write's triggers append to `change_pending` (ordered by nothing but a
-- bigserial, which is NOT commit order). Readers move committed pending rows into
-- `change_log` under one advisory lock (see postgres/changes.py), giving each its `seq` there:
-- a sequencing transaction commits before the next one starts, so a reader that has seen seq
-- N never sees a smaller one appear later (SQLite's resume rule, where one writer at a time
-- gives the same order).
CREATE TABLE change_pending (
    id         bigserial PRIMARY KEY,
    op         text NOT NULL CHECK (op IN ('stored', 'updated', 'deleted')),
    memory_id  text COLLATE "C" NOT NULL,
    namespace  text COLLATE "C" NOT NULL
);

CREATE TABLE change_log (
    seq        bigint PRIMARY KEY,
    op         text NOT NULL CHECK (op IN ('stored', 'updated', 'deleted')),
    memory_id  text COLLATE "C" NOT NULL,
    namespace  text COLLATE "C" NOT NULL
);
CREATE SEQUENCE change_log_seq;

CREATE FUNCTION mnemosyne_log_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    pending_id bigint;
BEGIN
    IF TG_OP = 'DELETE' THEN
        INSERT INTO change_pending (op, memory_id, namespace)
        VALUES ('deleted', OLD.id, OLD.namespace) RETURNING id INTO pending_id;
    ELSE
        INSERT INTO change_pending (op, memory_id, namespace)
        VALUES (CASE TG_OP WHEN 'INSERT' THEN 'stored' ELSE 'updated' END, NEW.id,
                NEW.namespace) RETURNING id INTO pending_id;
    END IF;
    -- Nobody has read for 10,000 changes (no instance runs): forget the oldest 1,000.
    IF pending_id % 1000 = 0 THEN
        DELETE FROM change_pending WHERE id <= pending_id - 10000;
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER change_log_stored AFTER INSERT ON memories
    FOR EACH ROW EXECUTE FUNCTION mnemosyne_log_change();
CREATE TRIGGER change_log_updated
    AFTER UPDATE OF content, summary, tags, namespace, memory_type, importance, archived
    ON memories FOR EACH ROW EXECUTE FUNCTION mnemosyne_log_change();
CREATE TRIGGER change_log_deleted AFTER DELETE ON memories
    FOR EACH ROW EXECUTE FUNCTION mnemosyne_log_change();
