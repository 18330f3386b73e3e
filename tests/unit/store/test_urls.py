"""redact: no password survives, everything else does."""

from __future__ import annotations

from mnemosyne.store.urls import redact


def test_redact_hides_passwords_and_keeps_the_rest():
    assert redact("postgresql://u:pw@h:5/db?password=x&sslmode=require") == \
        "postgresql://u:***@h:5/db?password=***&sslmode=require"
    assert redact("/var/lib/m.db") == "/var/lib/m.db"
    assert redact("postgres://u@h/db") == "postgres://u@h/db"
