"""Tests of the PostgreSQL store, against a real server (tests/postgres_server.py)."""
