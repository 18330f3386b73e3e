-- Memories, links between them, and a full-text index kept in sync by triggers.
-- `seq` is the stable integer rowid the external-content FTS5 table points at
-- (an implicit rowid could be renumbered by VACUUM); `id` is the UUID users see.
CREATE TABLE memories (
    seq              INTEGER PRIMARY KEY,
    id               TEXT NOT NULL UNIQUE,
    namespace        TEXT NOT NULL,
    content          TEXT NOT NULL,
    summary          TEXT,
    memory_type      TEXT NOT NULL,
    importance       INTEGER NOT NULL CHECK (importance BETWEEN 1 AND 10),
    tags             TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(tags)),
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    access_count     INTEGER NOT NULL DEFAULT 0 CHECK (access_count >= 0),
    last_accessed_at TEXT,
    archived         INTEGER NOT NULL DEFAULT 0 CHECK (archived IN (0, 1)),
    superseded_by    TEXT REFERENCES memories(id) ON DELETE SET NULL
);
-- Small indexes keep each commit cheap: both end in the implicit `seq`, so they also give
-- "most recently stored first" order within a namespace or an importance level.
CREATE INDEX memories_namespace ON memories(namespace);
CREATE INDEX memories_importance ON memories(importance);

CREATE TABLE memory_links (
    source_id  TEXT NOT NULL REFERENCES memories(id) ON DELETE CASCADE,
    target_id  TEXT NOT NULL REFERENCES memories(id) ON DELETE CASCADE,
    link_type  TEXT NOT NULL,
    strength   REAL NOT NULL DEFAULT 1.0 CHECK (strength >= 0.0 AND strength <= 1.0),
    created_at TEXT NOT NULL,
    PRIMARY KEY (source_id, target_id, link_type),
    CHECK (source_id <> target_id)
);
CREATE INDEX memory_links_target ON memory_links(target_id);

CREATE VIRTUAL TABLE memories_fts USING fts5(
    content, summary, tags,
    content = 'memories', content_rowid = 'seq',
    prefix = '3 4',
    tokenize = 'porter unicode61 remove_diacritics 2'
);

CREATE TRIGGER memories_fts_insert AFTER INSERT ON memories BEGIN
    INSERT INTO memories_fts(rowid, content, summary, tags)
    VALUES (new.seq, new.content, new.summary, new.tags);
END;

CREATE TRIGGER memories_fts_delete AFTER DELETE ON memories BEGIN
    INSERT INTO memories_fts(memories_fts, rowid, content, summary, tags)
    VALUES ('delete', old.seq, old.content, old.summary, old.tags);
END;

CREATE TRIGGER memories_fts_update AFTER UPDATE OF content, summary, tags ON memories BEGIN
    INSERT INTO memories_fts(memories_fts, rowid, content, summary, tags)
    VALUES ('delete', old.seq, old.content, old.summary, old.tags);
    INSERT INTO memories_fts(rowid, content, summary, tags)
    VALUES (new.seq, new.content, new.summary, new.tags);
END;
