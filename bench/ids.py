"""Benchmark: assigned ids (prints figures; asserts nothing).

Measures `ingest.ids.new_id` in one process: ids a second from one thread
and from eight threads sharing the pool, and what one lease of a block
costs. Uses DATABASE_URL when it is set (a migrated database: the leases
are real and use up ids), else a temporary SQLite file it migrates.

Usage: python bench/ids.py [--ids 2000000] [--leases 2000]
"""

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def ids_per_second(new_id, count: int, threads: int) -> float:
    def assign():
        for _ in range(count // threads):
            new_id()

    workers = [threading.Thread(target=assign) for _ in range(threads)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return count / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ids", type=int, default=2_000_000)
    parser.add_argument("--leases", type=int, default=2000)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "betreco.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    with tempfile.TemporaryDirectory() as folder:
        if "DATABASE_URL" not in os.environ:
            os.environ["DATABASE_URL"] = f"sqlite:///{Path(folder) / 'ids.sqlite3'}"
            subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, check=True)
        measure(args)


def measure(args) -> None:
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.db import connection

    from ingest.ids import _pool, lease_block, new_id

    new_id()
    print(f"database: {connection.vendor}")
    print(f"one thread: {ids_per_second(new_id, args.ids, 1):,.0f} ids/s")
    print(f"eight threads: {ids_per_second(new_id, args.ids, 8):,.0f} ids/s")
    print(f"block size reached: {_pool.block_size:,}")
    started = time.perf_counter()
    for _ in range(args.leases):
        lease_block(64)
    print(f"one lease: {(time.perf_counter() - started) / args.leases * 1000:.2f} ms")


if __name__ == "__main__":
    main()
