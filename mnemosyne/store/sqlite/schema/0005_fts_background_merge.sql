-- The full-text index is no longer merged inside the writers' own transactions. With
-- FTS5's automerge each `remember` could pay for merging older segments while every other
-- writer waited behind it: at 100,000 memories that merging was the writers' p99. Now the
-- index merger of each writing process (store/sqlite/indexmerge.py) merges in short
-- transactions of its own, beside them; FTS5's crisis merge (16 segments on one level) still
-- bounds the index when no merger runs.
INSERT INTO memories_fts(memories_fts, rank) VALUES ('automerge', 0);
