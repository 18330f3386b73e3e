import threading

from mnemosyne.store.database import Database


def test_connections_are_pooled_and_a_nested_call_shares_its_callers(tmp_path):
    database = Database.open(tmp_path / "d.db")
    first = database.read(lambda connection: connection)
    assert database.read(lambda connection: connection) is first  # the warm one again
    nested = database.read(lambda outer: (outer, database.read(lambda inner: inner)))
    assert nested[0] is nested[1]
    seen = []
    busy, done = threading.Event(), threading.Event()

    def hold_one():
        def wait(connection):
            seen.append(connection)
            busy.set()
            done.wait(10)
        database.read(wait)

    thread = threading.Thread(target=hold_one)
    thread.start()
    busy.wait(10)
    other = database.read(lambda connection: connection)  # in use elsewhere: another one
    done.set()
    thread.join()
    assert other is not seen[0]
    assert len(database._all) == 2  # never one per thread
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
