"""Where a dequeue starts: at its queue's position, so that while other transactions keep
vacuum from removing consumed messages, a dequeue does not step over all of them.

Measured with PostgreSQL's own counters for the current transaction (index entries read
and heap blocks fetched), never with a clock.
"""

from __future__ import annotations

import statistics
import time

import psycopg
import pytest

READS = """SELECT pg_stat_get_xact_tuples_returned('pgqrs.pgqrs_messages_rank_idx'::regclass),
                  pg_stat_get_xact_blocks_fetched('pgqrs.pgqrs_messages'::regclass)"""


def consume(dsn: str, queue: str, count: int) -> None:
    """count messages dequeued and deleted, one per transaction, by one session."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"""DO $$ BEGIN
            FOR i IN 1..{count} LOOP
                PERFORM pgqrs.delete('{queue}', (SELECT id FROM pgqrs.dequeue('{queue}')));
                COMMIT;
            END LOOP; END $$""")


def measured_dequeue(conn: psycopg.Connection, queue: str) -> tuple[int, int, int]:
    """One dequeue in a transaction of its own: (id, index entries read, heap blocks fetched)."""
    with conn.transaction():
        entries, blocks = conn.execute(READS).fetchone()
        msg_id = conn.execute("SELECT id FROM pgqrs.dequeue(%s)", [queue]).fetchone()[0]
        entries_after, blocks_after = conn.execute(READS).fetchone()
    conn.execute("SELECT pgqrs.delete(%s, %s)", [queue, msg_id])
    return msg_id, entries_after - entries, blocks_after - blocks


@pytest.fixture
def held(dsn):
    """The two kinds of long transaction: an xid held idle, and a REPEATABLE READ snapshot."""
    with psycopg.connect(dsn) as with_xid, psycopg.connect(dsn) as snapshot:
        with_xid.execute("SELECT txid_current()")
        snapshot.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        snapshot.execute("SELECT count(*) FROM pg_class")
        yield
        with_xid.rollback()
        snapshot.rollback()


def fill(dsn: str, queue: str, count: int) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT pgqrs.create_queue(%s)", [queue])
        for start in range(0, count, 10_000):
            conn.execute("SELECT count(*) FROM pgqrs.enqueue_batch(%s, array_fill('{}'::jsonb, ARRAY[%s]))",
                         [queue, min(10_000, count - start)])
        conn.execute("VACUUM ANALYZE pgqrs.pgqrs_messages")


@pytest.mark.parametrize("consumed", [2_000, 20_000])
def test_a_dequeue_reads_what_it_takes_however_much_was_consumed(dsn, held, consumed):
    fill(dsn, "deep", consumed + 100)
    consume(dsn, "deep", consumed)
    with psycopg.connect(dsn, autocommit=True) as conn:
        # A new session sweeps from the head first: that reads past every consumed message ...
        _, swept, _ = measured_dequeue(conn, "deep")
        assert swept >= consumed
        # ... and then starts at the position: a few entries and pages, for either backlog.
        reads = [measured_dequeue(conn, "deep")[1:] for _ in range(21)]
    assert statistics.median(r[0] for r in reads) <= 5, reads
    assert statistics.median(r[1] for r in reads) <= 10, reads


def test_messages_behind_the_position_are_delivered(dsn, held):
    fill(dsn, "behind", 3_100)
    consume(dsn, "behind", 3_000)  # enough that sessions start at the position
    with psycopg.connect(dsn, autocommit=True) as a, psycopg.connect(dsn, autocommit=True) as b:
        measured_dequeue(a, "behind")
        measured_dequeue(b, "behind")
        # A release moves the position back: the other session's next dequeue gets it.
        released = a.execute("SELECT id FROM pgqrs.dequeue('behind', 1, 300)").fetchone()[0]
        b.execute("SELECT id FROM pgqrs.dequeue('behind', 1, 300)")
        assert a.execute("SELECT pgqrs.release('behind', %s)", [released]).fetchone()[0]
        assert b.execute("SELECT id FROM pgqrs.dequeue('behind', 1, 300)").fetchone()[0] == released
        # A rolled-back dequeue and a lease that ran out: found by the sweeps.
        with a.transaction(force_rollback=True):
            rolled_back = a.execute("SELECT id FROM pgqrs.dequeue('behind', 1, 300)").fetchone()[0]
        expired = a.execute("SELECT id FROM pgqrs.dequeue('behind', 1, 0)").fetchone()[0]
        seen: set[int] = set()
        give_up = time.monotonic() + 60  # the queue runs dry after 100: then only the sweeps find anything
        while not {rolled_back, expired} <= seen and time.monotonic() < give_up:
            seen.update(r[0] for r in b.execute("SELECT id FROM pgqrs.dequeue('behind', 1, 300)"))
        assert {rolled_back, expired} <= seen


def test_queues_keep_their_positions_apart_and_drop_removes_them(dsn):
    with psycopg.connect(dsn, autocommit=True) as conn:
        a = conn.execute("SELECT pgqrs.create_queue('pos_a')").fetchone()[0]
        b = conn.execute("SELECT pgqrs.create_queue('pos_b')").fetchone()[0]
        names = [r[0] for r in conn.execute(
            "SELECT c.relname FROM pg_class c WHERE c.relnamespace = 'pgqrs'::regnamespace AND c.relkind = 'S' "
            "AND c.relname LIKE 'pgqrs_position_%' ORDER BY 1")]
        assert names == [f"pgqrs_position_{a}", f"pgqrs_position_{b}"]
        # Not part of the extension (pg_dump keeps them), but dropped with the queue.
        assert conn.execute(
            "SELECT count(*) FROM pg_depend WHERE objid = 'pgqrs.pgqrs_position_%s'::regclass AND deptype = 'e'" % a
        ).fetchone()[0] == 0
        assert conn.execute("SELECT pgqrs.drop_queue('pos_a')").fetchone()[0]
        assert conn.execute("SELECT to_regclass('pgqrs.pgqrs_position_%s')" % a).fetchone()[0] is None
