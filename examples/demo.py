"""pgqrs from Python: one producer, two consumers, 2,000 jobs.

Run after `pgqrs install` and `pgqrs queue create demo`, with PGQRS_DSN set
(tools/demo.sh does all of it: `make demo`).
"""

from __future__ import annotations

import sys
import threading
import time

from pgqrs import Admin, Config, Consumer, Producer

QUEUE = "demo"
JOBS = 2_000
BATCH = 100


def main() -> None:
    config = Config.load()  # PGQRS_DSN, PGQRS_SCHEMA, ... or ./pgqrs.yaml
    with Admin(config) as admin:
        # Produce: 2,000 jobs in batches of 100, one statement per batch.
        producer = Producer(admin.pool, QUEUE, config)
        started = time.perf_counter()
        for start in range(0, JOBS, BATCH):
            producer.batch_enqueue([{"job": n, "square_me": n} for n in range(start, min(start + BATCH, JOBS))])
        sent_in = time.perf_counter() - started
        print(f"sent {JOBS} jobs in {sent_in:.2f}s ({JOBS / sent_in:,.0f} msgs/s)")

        # Consume: two loops in threads lease 50 at a time, "work", then archive.
        done = {"consumer-1": 0, "consumer-2": 0}
        total = 0
        finished = 0.0
        lock = threading.Lock()

        def consume(name: str) -> None:
            nonlocal total, finished
            worker_id = admin.register_worker(QUEUE, name, 0)
            consumer = Consumer(admin.pool, QUEUE, config, worker_id=worker_id)
            try:
                while True:
                    messages = consumer.dequeue_batch(qty=50, lock_time_seconds=30)
                    if not messages:
                        with lock:
                            if total >= JOBS:
                                return
                        time.sleep(0.05)
                        continue
                    _ = [m.payload["square_me"] ** 2 for m in messages]  # the "work"
                    consumer.archive_batch([m.id for m in messages])
                    with lock:
                        done[name] += len(messages)
                        total += len(messages)
                        finished = time.perf_counter()
            finally:
                admin.stop_worker(worker_id)

        started = time.perf_counter()
        threads = [threading.Thread(target=consume, args=(name,)) for name in done]
        for thread in threads:
            thread.start()
        while any(thread.is_alive() for thread in threads):
            elapsed = time.perf_counter() - started
            print(f"\rprocessed {total:5d}/{JOBS}  ({total / max(elapsed, 1e-9):,.0f} msgs/s)", end="", flush=True)
            time.sleep(0.1)
        for thread in threads:
            thread.join()
        elapsed = max(finished - started, 1e-9)
        print(f"\rprocessed {total:5d}/{JOBS}  ({total / elapsed:,.0f} msgs/s)")

        print("summary:")
        for name, count in done.items():
            print(f"  {name}: {count} jobs")
        print(f"  total: {total} jobs in {elapsed:.2f}s, {total / elapsed:,.0f} msgs/s")
        print(f"  archived: {admin.count_archive(QUEUE)}, left in the queue: {admin.count_messages(QUEUE)}")
    if total != JOBS:
        sys.exit(f"expected {JOBS} jobs, processed {total}")


if __name__ == "__main__":
    main()
