"""The WAL watch: readable when the database's -wal file is written, not for other files."""

from __future__ import annotations

import select

from mnemosyne.store.sqlite.walwatch import WalWatch


def test_a_write_to_the_wal_wakes_the_watch_and_others_do_not(tmp_path):
    database = tmp_path / "m.db"
    watch = WalWatch.open(database)
    assert watch is not None
    try:
        (tmp_path / "other").write_text("x")
        assert select.select([watch], [], [], 1)[0]
        assert watch.drain() is False
        (tmp_path / "m.db-wal").write_text("x")
        assert select.select([watch], [], [], 1)[0]
        assert watch.drain() is True
        assert not select.select([watch], [], [], 0)[0]
    finally:
        watch.close()
    assert watch.fileno() == -1
