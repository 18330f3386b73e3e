import threading

from mnemosyne.errors import UnavailableError
from mnemosyne.store.sqlite.database import Database


def test_each_thread_gets_its_own_connection(tmp_path):
    database = Database.open(tmp_path / "d.db")
    seen = []

    def remember_connection():
        seen.append(database.connection())

    thread = threading.Thread(target=remember_connection)
    thread.start()
    thread.join()
    main = database.connection()
    assert seen[0] is not main
    assert database.connection() is main
    database.close()


def test_writes_from_many_threads_all_land(tmp_path):
    database = Database.open(tmp_path / "d.db")
    database.write(lambda c: c.execute("CREATE TABLE IF NOT EXISTS n (x)"))

    def writer(offset):
        for index in range(100):
            database.write(lambda c, v=offset + index: c.execute("INSERT INTO n VALUES (?)", (v,)))

    threads = [threading.Thread(target=writer, args=(i * 1000,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert database.read(lambda c: c.execute("SELECT count(*) FROM n").fetchall()) == [(600,)]
    database.close()


def in_a_new_thread(work):
    thread = threading.Thread(target=work)  # a thread's first use opens its connection
    thread.start()
    thread.join()


def test_a_removed_or_replaced_file_is_never_made_again_by_a_later_connection(tmp_path):
    # Only the first connection may create the file: a thread or helper opening later must
    # not make an empty database where the real one was (nor write to a replacement).
    path = tmp_path / "m.db"
    database = Database.open(path)
    try:
        database.write(lambda c: c.execute("CREATE TABLE kept(x)"))
        names = []
        in_a_new_thread(lambda: names.extend(database.read(
            lambda c: c.execute("SELECT name FROM sqlite_master WHERE name='kept'").fetchall())))
        assert names == [("kept",)]  # a later connection, to the same file
        path.rename(tmp_path / "moved.db")
        errors = []

        def new_thread_reads():
            try:
                database.read(lambda c: c.execute("SELECT 1").fetchall())
            except UnavailableError as error:
                errors.append(error.message)

        in_a_new_thread(new_thread_reads)
        assert errors == [f"database file {path} was removed"]
        database.checkpointer.request()
        database.index_merger.request()
        database.checkpointer.close()
        database.index_merger.close()
        assert not path.exists()
        path.write_bytes(b"")  # another file now has the name
        in_a_new_thread(new_thread_reads)
        assert "was removed or replaced by another file" in errors[1]
        assert path.read_bytes() == b""
    finally:
        database.close()

