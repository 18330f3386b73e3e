-- Memories of one namespace in order of importance (and, through the rowid `seq`, newest first
-- within one importance): what an empty recall in a namespace and a context pack read, now an
-- index scan instead of a sort of the whole namespace. It also serves every lookup by
-- namespace alone, so the single-column index goes.
CREATE INDEX memories_namespace_importance ON memories(namespace, importance);
DROP INDEX memories_namespace;
