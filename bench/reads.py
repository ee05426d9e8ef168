"""Benchmark: GET /recommendation/{id} latency while the consumers store at full speed.

`python -m bench.reads` (part of `make bench`; figures, no asserts). Under
production settings (DEBUG=0) on SQLite, as `make run` starts the processes
(bench/pipeline/stack.py): the broker, the consumers and the producer and
API roles under gunicorn. Users, events and coupons are stored first, so
each reader asks for a user with a recommendation. Then, for each way of
reading below, the API role is started afresh and one thread reads
recommendations one request after another on a keep-alive connection: for
--idle-seconds with nothing else going on (the baseline), then while
senders POST new records (ids of their own, so each is a real write) to the
producer as fast as it takes them and the consumers store them in batches of
CONSUMER_BATCH_SIZE (5,000). Printed for both: requests, median, p99 and max
in ms, and how long the records took to store.

Ways of reading:

- `anonymous, database cache (before)`: PUBLIC_READS=1 and
  CACHE_URL=dbcache://betreco_cache, the throttle counts in a table of the
  main database as the production default was before: every read is also a
  write transaction, queued behind the consumers' batches;
- `anonymous, file cache (after)`: PUBLIC_READS=1 with the default cache (a
  folder of files), the throttle off the main database;
- `read key (after)`: a read key from `create_api_key` (no throttle for key
  holders): the production default, where every read needs a key.
"""

import argparse
import http.client
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

from bench.pipeline import client as pipeline_client
from bench.pipeline.client import Http, expect_202
from bench.pipeline.records import make_records
from bench.pipeline.stack import BENCH_API_KEY, MAKE_RUN_CONFIG, start_stack
from betreco import processes
from betreco.processes import HOST

KINDS = ("users", "events", "coupons")
# Anonymous reads are counted but never refused: the reader is one client.
COUNTED = {"PUBLIC_READS": "1", "THROTTLE_ANON_RATE": "1000000/minute"}
WAYS = {
    "anonymous, database cache (before)": {
        "env": {**COUNTED, "CACHE_URL": "dbcache://betreco_cache"},
        "key": False,
    },
    "anonymous, file cache (after)": {"env": COUNTED, "key": False},
    "read key (after)": {"env": {}, "key": True},
}


class Reader(threading.Thread):
    """GETs recommendations one after another on one keep-alive connection until stopped."""

    def __init__(self, port: int, user_ids: list[int], key: str | None):
        super().__init__(daemon=True)
        self.port, self.user_ids = port, user_ids
        self.headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.latencies: list[float] = []
        self.failures: dict[int, int] = {}
        self.stopping = threading.Event()

    def run(self) -> None:
        conn = http.client.HTTPConnection(HOST, self.port, timeout=60)
        n = 0
        while not self.stopping.is_set():
            path = f"/recommendation/{self.user_ids[n % len(self.user_ids)]}"
            n += 1
            begin = time.perf_counter()
            conn.request("GET", path, headers=self.headers)
            response = conn.getresponse()
            response.read()
            latency = time.perf_counter() - begin
            if response.status == 200:
                self.latencies.append(latency)
            else:
                self.failures[response.status] = self.failures.get(response.status, 0) + 1
        conn.close()


def send_all(port: int, data: dict, batch_size: int, senders: int) -> None:
    """POST every record to the producer in arrays of `batch_size`, each answered 202."""
    producer = Http(port)
    batches = [
        (kind, json.dumps(data[kind][i : i + batch_size]).encode())
        for kind in KINDS
        for i in range(0, len(data[kind]), batch_size)
    ]

    def send(batch):
        kind, body = batch
        status, answer = producer.post(f"/{kind}", body)
        expect_202(status, answer, f"POST /{kind}")

    with ThreadPoolExecutor(senders) as pool:
        list(pool.map(send, batches))


def manage(env: dict, *args: str) -> str:
    """`manage.py ARGS` run to its end; its stdout."""
    done = subprocess.run(
        processes.manage_argv(*args),
        cwd=processes.PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def read_key(env: dict) -> str:
    """A read key made with `manage.py create_api_key` (its last line of stdout)."""
    return manage(env, "create_api_key", "bench-reader", "--scope", "read").strip().splitlines()[-1]


def one_way(stack, name: str, way: dict, readers_of: list[int], load: dict, args) -> dict:
    stack.env.update(way["env"])
    try:
        manage(stack.env, "createcachetable")  # the database cache's table, when it is one
        stack.start_api(MAKE_RUN_CONFIG)
    finally:
        for variable in way["env"]:
            stack.env.pop(variable)
    key = read_key(stack.env) if way["key"] else None
    before = stack.rows.counts()
    reader = Reader(stack.api_port, readers_of, key)
    reader.start()
    time.sleep(args.idle_seconds)  # reads with nothing stored meanwhile: the baseline
    idle = list(reader.latencies)
    reader.latencies.clear()
    started = time.perf_counter()
    send_all(stack.producer_port, load, args.batch, args.senders)
    wanted = {kind: before[kind] + len(load[kind]) for kind in KINDS}
    stack.wait_stored(wanted, started)
    reader.stopping.set()
    reader.join()
    stack.stop_api()
    if not (idle and reader.latencies):
        raise RuntimeError(f"{name}: no read answered 200: {reader.failures}")
    return {
        "way": name,
        "failures": reader.failures,
        "idle": percentiles_ms(idle),
        "loaded": percentiles_ms(reader.latencies),
        "stored": sum(len(load[kind]) for kind in KINDS),
        "seconds": time.perf_counter() - started,
    }


def percentiles_ms(latencies: list[float]) -> dict:
    ordered = sorted(latencies)
    return {
        "requests": len(ordered),
        "median": 1000 * statistics.median(ordered),
        "p99": 1000 * ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
        "max": 1000 * ordered[-1],
    }


def one_run(number: int, args) -> list[dict]:
    run_id = uuid.uuid4().hex[:8]
    workdir = Path(tempfile.mkdtemp(prefix="betreco-bench-reads-"))
    try:
        with ExitStack() as exits:
            stack = start_stack(exits, workdir, run_id, production=True)
            stack.start_consumers()
            stack.start_producer(MAKE_RUN_CONFIG)
            stack.wait_assigned()
            base = make_records(args.users, seed=number, id_base=5_000_000_000)
            started = time.perf_counter()
            send_all(stack.producer_port, base, args.batch, args.senders)
            stack.wait_stored({kind: len(base[kind]) for kind in KINDS}, started)
            user_ids = [user["user_id"] for user in base["users"]]
            results = []
            for index, (name, way) in enumerate(WAYS.items()):
                load = make_records(
                    args.records, seed=100 * number + index, id_base=(6 + index) * 1_000_000_000
                )
                results.append(one_way(stack, name, way, user_ids, load, args))
                say_way(number, results[-1])
            return results
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def say_way(number: int, result: dict) -> None:
    failures = f"; refused {result['failures']}" if result["failures"] else ""
    print(
        f"run {number}: {result['way']}: storing {result['stored']:,} records took "
        f"{result['seconds']:.1f} s{failures}",
        flush=True,
    )
    for phase in ("idle", "loaded"):
        figures = result[phase]
        print(
            f"  {phase:<7} {figures['requests']:>6} reads  median {figures['median']:6.1f} ms  "
            f"p99 {figures['p99']:7.1f} ms  max {figures['max']:7.1f} ms",
            flush=True,
        )


def summary(runs: list[list[dict]]) -> None:
    print("\nGET /recommendation/{id}, medians over the runs (idle | while the consumers store):")
    for index, name in enumerate(WAYS):
        rows = [run[index] for run in runs]

        def median_of(phase, figure, rows=rows):
            return statistics.median(row[phase][figure] for row in rows)

        print(
            f"  {name:<36} median {median_of('idle', 'median'):5.1f} | "
            f"{median_of('loaded', 'median'):5.1f} ms   p99 {median_of('idle', 'p99'):6.1f} | "
            f"{median_of('loaded', 'p99'):6.1f} ms"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.reads", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--runs", type=int, default=3, help="runs, each from nothing (3)")
    parser.add_argument("--users", type=int, default=1000, help="records of each kind first (1000)")
    parser.add_argument(
        "--records", type=int, default=10_000, help="records of each kind stored while reading"
    )
    parser.add_argument(
        "--idle-seconds", type=float, default=5.0, help="reads before the load starts (5)"
    )
    parser.add_argument("--batch", type=int, default=500, help="records per POST (500)")
    parser.add_argument("--senders", type=int, default=4, help="threads POSTing batches (4)")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "betreco.settings")
    pipeline_client.use_api_key(BENCH_API_KEY)
    summary([one_run(number, args) for number in range(1, args.runs + 1)])


if __name__ == "__main__":
    main()
