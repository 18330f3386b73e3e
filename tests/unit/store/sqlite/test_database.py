import threading

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
