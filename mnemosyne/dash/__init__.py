"""mnemosyne-dash: a terminal dashboard for one or many instances, over their HTTP APIs.

watcher.py follows one instance (its /events stream with resume, its /health), reconnecting
with backoff; state.py merges what the watchers saw; view.py draws it with rich; app.py runs
the live screen and the keys, or takes one snapshot; targets.py finds the instances.
Must not: read the database or the coordination files except to find instances (--all).
"""
