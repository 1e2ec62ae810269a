"""One store shared by every account thread, and read by other processes (``python bot.py status``)."""

from __future__ import annotations

import sqlite3
import threading
from contextlib import closing
from pathlib import Path

from bot.clock import ManualClock
from bot.state.store import StateStore
from tests.state.conftest import START, fill, order, position

THREADS = 16
WRITES = 200


def test_many_threads_write_into_one_store(store: StateStore) -> None:
    """Orders, fills and positions from 16 threads started together: every row lands, nothing raises."""
    barrier = threading.Barrier(THREADS)
    errors: list[BaseException] = []

    def work(thread: int) -> None:
        try:
            barrier.wait(timeout=30)
            account = f"acct-{thread}"
            for i in range(WRITES):
                coid = f"{account}-{i}"
                store.record_order(order(coid, account_id=account, status="open"))
                if i % 2:  # half the fills land with their position in one transaction, half on their own
                    with store.transaction():
                        store.record_fill(fill(f"fill-{coid}", account_id=account, client_order_id=coid))
                        store.save_position(position(f"S{i}-USD", account_id=account, quantity=float(i)))
                else:
                    store.record_fill(fill(f"fill-{coid}", account_id=account, client_order_id=coid))
                    store.save_position(position(f"S{i}-USD", account_id=account, quantity=float(i)))
                if store.get_order(coid) is None:  # reads interleave with other threads' writes
                    raise AssertionError(f"{coid} written but not read back")
        except BaseException as error:  # reported by the main thread, which cannot see this one's raise
            errors.append(error)

    threads = [threading.Thread(target=work, args=(t,), name=f"writer-{t}") for t in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not [t.name for t in threads if t.is_alive()]
    assert errors == []
    expected = {f"acct-{t}-{i}" for t in range(THREADS) for i in range(WRITES)}
    assert {o.client_order_id for o in store.orders()} == expected
    assert {f.client_order_id for f in store.fills()} == expected
    positions = {(p.account_id, p.symbol): p.quantity for p in store.positions()}
    assert positions == {(f"acct-{t}", f"S{i}-USD"): float(i) for t in range(THREADS) for i in range(WRITES)}


def test_another_process_view_reads_committed_data_while_open(store: StateStore, db_path: Path) -> None:
    store.record_order(order("before"))
    store.beat_master("kraken")
    with StateStore(db_path, clock=ManualClock(START + 1)) as status_view:  # store stays open meanwhile
        assert [o.client_order_id for o in status_view.orders()] == ["before"]
        store.save_position(position())  # written after the second store opened: still seen
        assert status_view.positions() == [position()]
        assert status_view.master_heartbeat("kraken") == store.master_heartbeat("kraken")
    store.record_order(order("after"))  # the first store is unaffected by the second closing
    assert [o.client_order_id for o in store.orders()] == ["before", "after"]
    with closing(sqlite3.connect(db_path)) as raw:  # WAL is what lets readers in while the bot writes
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
