"""Benchmark: the consumers' CPU time per stored record (figures; no asserts).

Each run starts from nothing: a fresh database (a temporary SQLite file, or a
database of its own on the PostgreSQL server that DATABASE_URL names), the
embedded broker on a free port, `migrate`, the topics, and the consumers as
`make run` starts them (one process for all topics on SQLite, one per topic on
PostgreSQL: betreco.stack.consumer_processes). Once every consumer has its
partitions, their CPU time (user + system, all threads, from /proc: CPU, not
wall time, so other work on the machine does not count) is read; then 10,000
users, events and coupons are validated and encoded as the producer does
(`validate_records`, `encode`, its headers) and produced in arrays of 500, each
array flushed before the next, as one producer request each. By default the
consumers are paused (SIGSTOP) while that is produced, and read it as a
backlog: how the arrays happened to arrive otherwise decided how full each
batch was, and the figure moved by a third between runs of the same code
(`--live` reads them as they arrive). The consumers'
CPU time is read again when every row is stored, and once more when the
recommendation outbox is empty (the drains' work included): the differences,
divided by the records stored, are the CPU per stored record. The consumers'
peak RSS (VmHWM) is read at the end.

Usage: python -m bench.consumer_cpu [--runs 3] [--scale 0.1] [--keep] [--live]
       (DATABASE_URL=postgres://... for PostgreSQL)
"""

import argparse
import os
import shutil
import signal
import sqlite3
import statistics
import tempfile
import time
import uuid
from contextlib import ExitStack, contextmanager
from pathlib import Path

from bench.pipeline import say
from bench.pipeline.records import KINDS, make_records
from betreco import processes
from betreco.embedded_broker import EmbeddedBroker
from betreco.stack import consumer_processes
from soak.database import database_name, fresh_database, is_sqlite

TARGET_CPU_US = 60.0  # consumer CPU per stored record, issue 18
ARRAY = 500  # records per producer request
STORE_DEADLINE_S = 600.0
PAUSED_SESSION_TIMEOUT_MS = 60_000
TABLES = {"users": "ingest_user", "events": "ingest_event", "coupons": "ingest_coupon"}
OUTBOX = "recommendations_pendingrefresh"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, all its threads, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


def peak_rss_mib(pid: int) -> float:
    """The peak resident set size of a process (VmHWM), MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def count_rows(url: str, tables: list[str]) -> list[int]:
    """Rows in each table, on a connection of its own (the consumers' commits only)."""
    queries = [f"SELECT count(*) FROM {table}" for table in tables]  # noqa: S608
    if is_sqlite(url):
        with sqlite3.connect(url.removeprefix("sqlite:///"), timeout=30) as db:
            return [db.execute(query).fetchone()[0] for query in queries]
    import psycopg

    with psycopg.connect(url, autocommit=True) as db:
        return [db.execute(query).fetchone()[0] for query in queries]


def encoded_messages(data: dict[str, list[dict]]) -> dict[str, list[tuple[bytes, bytes]]]:
    """(key, value) of each record as the producer publishes it: validated, then encoded."""
    from ingest.kafka.producer import encode
    from ingest.validation import validate_records

    messages = {}
    for kind in KINDS:
        records = validate_records(kind, data[kind])
        messages[kind] = [(str(r["id"]).encode(), encode(r)) for r in records]
    return messages


def produce_arrays(bootstrap: str, prefix: str, messages: dict) -> None:
    """Each kind's messages in arrays of ARRAY, each flushed before the next, with the
    producer's headers."""
    from confluent_kafka import Producer

    from ingest.kafka.topics import SCHEMA_VERSION, Header

    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5})
    for kind in KINDS:
        headers = [(Header.SCHEMA.value, kind), (Header.SCHEMA_VERSION.value, SCHEMA_VERSION)]
        for start in range(0, len(messages[kind]), ARRAY):
            for key, value in messages[kind][start : start + ARRAY]:
                producer.produce(f"{prefix}{kind}", key=key, value=value, headers=headers)
            if producer.flush(60):
                raise RuntimeError("the broker did not acknowledge an array within 60 s")


@contextmanager
def paused(pids: list[int]):
    """SIGSTOP these processes for the block, SIGCONT after it."""
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)


def wait_until(what: str, done, consumers) -> None:
    deadline = time.monotonic() + STORE_DEADLINE_S
    while not done():
        for consumer in consumers:
            if not consumer.alive():
                raise RuntimeError(f"a consumer exited with {consumer.exit_code()}; see its log")
        if time.monotonic() > deadline:
            raise RuntimeError(f"not {what} within {STORE_DEADLINE_S:g} s")
        time.sleep(0.05)


def _prefix(server: str | None) -> str:
    """The run's database is named after the server's: betreco_i18 -> betreco_i18_bench_<random>."""
    on_server = server and not is_sqlite(server)
    return f"{database_name(server) if on_server else 'betreco'}_bench"


def one_run(number: int, args, messages: dict, records: int) -> dict:
    run_id = uuid.uuid4().hex[:8]
    workdir = Path(tempfile.mkdtemp(prefix="betreco-bench-cpu-"))
    server = os.environ.get("DATABASE_URL")
    try:
        with ExitStack() as exits:
            url = exits.enter_context(fresh_database(server, workdir, prefix=_prefix(server)))
            broker = EmbeddedBroker().start()
            exits.callback(broker.stop)
            env = processes.child_env(
                DATABASE_URL=url,
                KAFKA_BOOTSTRAP_SERVERS=broker.bootstrap_servers,
                KAFKA_TOPIC_PREFIX=f"bench-{run_id}-",
                KAFKA_CONSUMER_GROUP=f"bench-{run_id}",
                LOG_LEVEL="INFO",
                # Paused while the backlog is produced: the group must not drop them meanwhile.
                KAFKA_SESSION_TIMEOUT_MS=str(PAUSED_SESSION_TIMEOUT_MS),
            )
            env.pop("TOPICS", None)
            processes.migrate(env)
            processes.ensure_topics(env)
            consumers = [
                processes.start_consumer(name, kinds, env, workdir / f"{name}.log")
                for name, kinds in consumer_processes(url)
            ]
            exits.callback(processes.stop_all, consumers, 20)
            if processes.wait_joined(consumers, partitions=True, timeout=60):
                raise RuntimeError(f"consumers not assigned within 60 s; logs in {workdir}")
            pids = [consumer.pid for consumer in consumers]
            with paused(pids if args.backlog else []):
                idle = sum(cpu_seconds(pid) for pid in pids)
                produce_arrays(broker.bootstrap_servers, env["KAFKA_TOPIC_PREFIX"], messages)
            tables = list(TABLES.values())
            wait_until("stored", lambda: sum(count_rows(url, tables)) >= records, consumers)
            stored = sum(cpu_seconds(pid) for pid in pids)
            wait_until("refreshed", lambda: count_rows(url, [OUTBOX]) == [0], consumers)
            drained = sum(cpu_seconds(pid) for pid in pids)
            result = {
                "stored_us": (stored - idle) / records * 1e6,
                "total_us": (drained - idle) / records * 1e6,
                "rss_mib": max(peak_rss_mib(pid) for pid in pids),
                "processes": len(pids),
            }
    finally:
        if args.keep:
            say(f"run {number}: files kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    say(
        f"run {number}: {records} records, {result['processes']} consumer process(es): "
        f"CPU {result['total_us']:.1f} µs per stored record ({result['stored_us']:.1f} µs "
        f"until all were stored, the rest draining outboxes); peak RSS "
        f"{result['rss_mib']:.0f} MiB"
    )
    return result


def report(runs: list[dict], database: str, backlog: bool) -> None:
    med = statistics.median
    total = med(r["total_us"] for r in runs)
    each = ", ".join(f"{r['total_us']:.1f}" for r in runs)
    say(
        f"\nMedians of {len(runs)} run(s) on {database}, arrays of {ARRAY}, "
        f"{'a backlog' if backlog else 'read as produced'}, {os.cpu_count()} CPUs"
    )
    say(
        f"{'consumer CPU per stored record':<44} {total:>8.1f} µs   <= {TARGET_CPU_US:g} µs "
        f"{TARGET_CPU_US / total:.2f}x {'met' if total <= TARGET_CPU_US else 'MISSED'} ({each})"
    )
    say(f"{'  of it until every row was stored':<44} {med(r['stored_us'] for r in runs):>8.1f} µs")
    say(f"{'consumer peak RSS (largest process)':<44} {med(r['rss_mib'] for r in runs):>8.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.consumer_cpu", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--runs", type=int, default=3, help="runs, each from nothing (3)")
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the record counts")
    parser.add_argument("--keep", action="store_true", help="keep each run's files and logs")
    parser.add_argument(
        "--live",
        dest="backlog",
        action="store_false",
        help="consumers read as the arrays arrive (default: a backlog, produced while paused)",
    )
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "betreco.settings")
    import django

    django.setup()
    count = max(ARRAY, int(10_000 * args.scale))
    runs = []
    for number in range(1, args.runs + 1):
        data = make_records(count, seed=number, id_base=1_000_000_000)
        messages = encoded_messages(data)
        records = sum(len(messages[kind]) for kind in KINDS)
        runs.append(one_run(number, args, messages, records))
    server = os.environ.get("DATABASE_URL", "")
    report(runs, "SQLite" if not server or is_sqlite(server) else "PostgreSQL", args.backlog)


if __name__ == "__main__":
    main()
