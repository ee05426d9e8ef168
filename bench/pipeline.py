"""Benchmark: HTTP -> Kafka -> consumers -> SQLite, and the data API (figures; no asserts).

Each run starts from nothing: a fresh temporary SQLite file (DATABASE_URL),
the embedded broker on a free port, topics under a prefix of the run's own,
`migrate`, the producer role under gunicorn and the consumers, both as
`make run` starts them (on SQLite: one `consume_topic users events coupons`
process, betreco.stack.consumer_processes). Then it measures, by phase
(--phases, all by default, always in this order):

1. e2e, end to end: 10,000 users, events and coupons (coupons on those users
   and events, made by generate_dummy's generator) POSTed as JSON arrays of
   500 to the producer, until all 30,000 rows are in SQLite: records/s from
   the first send to the last row stored, and the producer side alone.
   Meanwhile a sampler thread reads the run's SQLite file (a read-only
   connection; WAL) every 50 ms for the age of the oldest refresh the
   recommendations still owe, now - MIN(created_at) of the outbox
   recommendations_pendingrefresh (0 when empty), from the first send until
   every row is stored and the outbox is empty: its p50, p99 and max are the
   recommendation staleness. The consumers are then stopped (SIGTERM, and
   waited for); each logs "consumer closed after N messages in T s, D s of
   it draining outboxes", and D / T is the refresh share of consumer time
   (T is the consumer's whole life: it starts before the producer and waits
   to be assigned its partitions before the first send);
2. seed, the seed's table: 100 users, 100 events, 100 coupons, one record per
   request from 32 threads on keep-alive connections: seconds until every
   request answered 202, and until every row is stored (consumers started
   again for it, once assigned their partitions);
3. refs, raw references on the same broker and the same kind of file (needs
   e2e): the same messages (keys, values, headers) produced and consumed with
   confluent-kafka alone, and the same rows inserted with one SQLite
   executemany per table (same schema, WAL); the pipeline as a fraction;
4. data-api, the synchronous data API: the API role under gunicorn as
   `make run` starts it (BETRECO_ROLE=api, the same config and workers x
   threads), consumers and producer stopped, on the database the earlier
   phases left (after e2e: 10,000 of each). 100 fresh users and 100 fresh
   events are created through it (POST /users, /events, one record per
   request from 32 threads on keep-alive connections), then (a) 100 coupons
   POSTed at once from those 32 threads: seconds from the first send until
   all answered 201; (b) 1,000 coupons POSTed one after another on one
   keep-alive connection: total seconds. Each write answers only after its
   transaction and the refresh it owes (the middleware drains the outbox),
   so this is the synchronous write path. Every answer must be 201. Shown
   beside the seed's figures (0.68-0.89 s and 5.5 s);
5. single, the single-record producer endpoint: requests/s and p50/p99
   latency over 5,000 single-record POSTs from several client processes x
   threads (consumers stopped), for each gunicorn workers x threads in
   --configs.

Everything started is stopped at the end; all traffic stays on 127.0.0.1.

Usage: python bench/pipeline.py [--runs 3] [--scale 0.1] [--phases e2e,data-api]
       [--configs 4x8,2x4]
"""

import argparse
import http.client
import json
import multiprocessing
import os
import re
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from betreco.embedded_broker import EmbeddedBroker, free_port  # noqa: E402
from betreco.stack import GUNICORN_CONFIG, consumer_processes  # noqa: E402

HOST = "127.0.0.1"
KINDS = ("users", "events", "coupons")
TABLES = {"users": "ingest_user", "events": "ingest_event", "coupons": "ingest_coupon"}
# The gunicorn config's WEB_CONCURRENCY x GUNICORN_THREADS defaults.
MAKE_RUN_CONFIG = f"{2 * (os.cpu_count() or 1)}x8"
TARGET_E2E = 5000  # records/s end to end
TARGET_SINGLE = 1000  # single-record requests/s
TARGET_SEED_S = 0.2  # seconds for the seed's 100 records of a kind
TARGET_STALENESS_P99_S = 2.0  # age of the oldest owed refresh, p99 over the e2e phase
TARGET_API_CONCURRENT_S = 0.5  # 100 concurrent POST /coupons to the data API, all 201
TARGET_API_SEQUENTIAL_S = 3.0  # 1,000 sequential POST /coupons on one connection
SEED_API_CONCURRENT_S = (0.68, 0.89)  # the seed's figures for the same two measurements
SEED_API_SEQUENTIAL_S = 5.5
API_CONCURRENT = 100
API_SEQUENTIAL = 1000
SAMPLE_INTERVAL_S = 0.05  # the staleness sampler's period
REFRESHED_DEADLINE_S = 60.0  # after the last row is stored, wait this long for an empty outbox
ASSIGNED_TIMEOUT_S = 60.0
PHASES = ("e2e", "seed", "refs", "data-api", "single")
CLOSED_LINE = re.compile(
    r"consumer closed after (\d+) messages in ([\d.]+) s, ([\d.]+) s of it draining outboxes"
)
STORE_DEADLINE_S = 600.0
STOP_TIMEOUT_S = 20.0
# --production: DEBUG=0 settings, writes with a token (authenticated writes are not throttled).
BENCH_API_KEY = "bench-only-api-key"
PRODUCTION_ENV = {
    "DEBUG": "0",
    "SECRET_KEY": "bench-only-secret-key-not-for-production-0123456789abcdef",
    "SECURE_SSL_REDIRECT": "0",
    "ALLOWED_HOSTS": HOST,
    "API_KEYS": BENCH_API_KEY,
}
HEADERS = {"Content-Type": "application/json"}  # plus Authorization with --production


# --- records -------------------------------------------------------------------------------


def make_records(count: int, *, seed: int, id_base: int) -> dict[str, list[dict]]:
    """`count` users, events and coupons in the seed's format (generate_dummy), ids from id_base.

    The base keeps the data sets of one run apart, so every record is new to the database.
    """
    from ingest.management.commands.generate_dummy import generate

    data = generate(users=count, events=count, coupons=count, seed=seed)
    for user in data["users"]:
        user["user_id"] += id_base
    for event in data["events"]:
        event["event_id"] = str(int(event["event_id"]) + id_base)
    for coupon in data["coupons"]:
        coupon["coupon_id"] += id_base
        coupon["user_id"] += id_base
        for selection in coupon["selections"]:
            selection["event_id"] = str(int(selection["event_id"]) + id_base)
    return data


def as_rows(data: dict[str, list[dict]]) -> dict[str, list[tuple]]:
    """The rows Django stores for the seed-format records, for the SQLite reference."""
    pairs = {}
    for event in data["events"]:
        pairs.setdefault(tuple(event["participants"]), len(pairs) + 1)
    return {
        "ingest_user": [
            (
                u["user_id"],
                u["birth_year"],
                u["country"],
                u["currency"],
                u["gender"],
                u["registration_date"],
            )
            for u in data["users"]
        ],
        "ingest_participantpair": [(pk, home, away) for (home, away), pk in pairs.items()],
        "ingest_event": [
            (
                int(e["event_id"]),
                e["begin_timestamp"],
                e["end_timestamp"],
                e["country"],
                e["league"],
                e["sport"],
                pairs[tuple(e["participants"])],
            )
            for e in data["events"]
        ],
        "ingest_coupon": [
            (c["coupon_id"], c["user_id"], str(Decimal(str(c["stake"]))), c["timestamp"])
            for c in data["coupons"]
        ],
        "ingest_selection": [
            (c["coupon_id"], int(s["event_id"]), str(s["odds"]))
            for c in data["coupons"]
            for s in c["selections"]
        ],
    }


REFERENCE_INSERTS = {
    "ingest_user": "INSERT INTO ingest_user (id, birth_year, country, currency, gender,"
    " registration_date) VALUES (?, ?, ?, ?, ?, ?)",
    "ingest_participantpair": "INSERT INTO ingest_participantpair (id, home, away)"
    " VALUES (?, ?, ?)",
    "ingest_event": "INSERT INTO ingest_event (id, begin_timestamp, end_timestamp, country,"
    " league, sport, participants_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
    "ingest_coupon": "INSERT INTO ingest_coupon (id, user_id, stake, timestamp)"
    " VALUES (?, ?, ?, ?)",
    "ingest_selection": "INSERT INTO ingest_selection (coupon_id, event_id, odds) VALUES (?, ?, ?)",
}


# --- HTTP client ---------------------------------------------------------------------------


class Http:
    """POSTs to 127.0.0.1:port over keep-alive HTTP/1.1, one connection per thread."""

    def __init__(self, port: int, timeout: float = 60.0):
        self.port, self.timeout = port, timeout
        self.local = threading.local()
        self.reconnects = 0

    def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        for attempt in range(2):
            conn = getattr(self.local, "conn", None)
            if conn is None:
                conn = self.local.conn = http.client.HTTPConnection(
                    HOST, self.port, timeout=self.timeout
                )
            try:
                conn.request("POST", path, body, HEADERS)
                response = conn.getresponse()
                data = response.read()
            except (http.client.HTTPException, ConnectionError) as error:
                # The server closed an idle keep-alive connection: reconnect once. Records
                # are keyed by id, so a record sent twice is still stored once.
                conn.close()
                self.local.conn = None
                self.reconnects += 1
                if attempt:
                    raise RuntimeError(f"POST {path} failed twice: {error}") from error
                continue
            if response.will_close:
                conn.close()
                self.local.conn = None
            return response.status, data
        raise AssertionError("unreachable")

    def get_status(self, path: str) -> int:
        conn = http.client.HTTPConnection(HOST, self.port, timeout=5)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            response.read()
            return response.status
        finally:
            conn.close()


def _expect_202(status: int, body: bytes, what: str) -> None:
    if status != 202:
        raise RuntimeError(f"{what}: HTTP {status}: {body[:300]!r}")


# --- the processes of one run --------------------------------------------------------------


@dataclass
class Stack:
    """Broker, database, consumers and the producer under gunicorn for one run."""

    workdir: Path
    broker: EmbeddedBroker
    env: dict[str, str]
    db_path: Path
    empty_db: Path
    consumers: list[subprocess.Popen] = field(default_factory=list)
    producer: subprocess.Popen | None = None
    producer_port: int = 0
    producer_config: str = ""

    def manage(self, *args: str) -> None:
        subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, check=True, timeout=300
        )

    def start_consumers(self) -> None:
        for name, kinds in consumer_processes(self.env["DATABASE_URL"]):
            log = open(self.workdir / f"{name}.log", "wb")  # noqa: SIM115
            self.consumers.append(
                subprocess.Popen(
                    [sys.executable, "manage.py", "consume_topic", *kinds],
                    cwd=ROOT,
                    env=self.env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
            log.close()

    def stop_consumers(self) -> None:
        stop_all(self.consumers)
        self.consumers = []

    def start_producer(self, config: str) -> None:
        """The producer role under gunicorn as `make run` starts it, with workers x threads."""
        self.stop_producer()
        workers, threads = config.split("x")
        self.producer_port = free_port()
        self.producer_config = config
        log = open(self.workdir / f"producer-{config}.log", "wb")  # noqa: SIM115
        self.producer = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--config", GUNICORN_CONFIG, "betreco.wsgi"],
            cwd=ROOT,
            env={
                **self.env,
                "BETRECO_ROLE": "producer",
                "HOST": HOST,
                "PORT": str(self.producer_port),
                "WEB_CONCURRENCY": workers,
                "GUNICORN_THREADS": threads,
                "GUNICORN_GRACEFUL_TIMEOUT": "10",
            },
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        http_client = Http(self.producer_port)
        deadline = time.monotonic() + 60
        while True:
            if self.producer.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.producer.returncode}")
            try:
                if http_client.get_status("/healthz") == 200:
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the producer did not answer /healthz within 60 s")
            time.sleep(0.2)

    def stop_producer(self) -> None:
        if self.producer is not None:
            stop_all([self.producer])
            self.producer = None

    def stop(self) -> None:
        self.stop_producer()
        self.stop_consumers()
        self.broker.stop()

    def counts(self) -> dict[str, int]:
        with sqlite3.connect(self.db_path, timeout=30) as db:
            return {
                kind: db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608
                for kind, table in TABLES.items()
            }

    def wait_stored(self, wanted: dict[str, int], started: float) -> dict[str, float]:
        """Poll the row counts until each kind reaches `wanted`; seconds from `started` per kind."""
        done: dict[str, float] = {}
        deadline = time.monotonic() + STORE_DEADLINE_S
        while True:
            counts = self.counts()
            now = time.perf_counter()
            for kind, count in counts.items():
                if kind in wanted and kind not in done and count >= wanted[kind]:
                    done[kind] = now - started
            if len(done) == len(wanted):
                return done
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"not stored within {STORE_DEADLINE_S:g} s: {counts} of {wanted}; "
                    f"consumer logs in {self.workdir}"
                )
            for process in self.consumers:
                if process.poll() is not None:
                    raise RuntimeError(f"a consumer exited with {process.returncode}")
            time.sleep(0.02)


def stop_all(processes: list[subprocess.Popen]) -> None:
    """SIGTERM each (consumers finish their batch and commit), then wait; kill what hangs."""
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def start_stack(exits: ExitStack, workdir: Path, run_id: str, production: bool) -> Stack:
    broker = EmbeddedBroker().start()
    db_path = workdir / "bench.sqlite3"
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "DATABASE_URL": f"sqlite:///{db_path}",
        "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
        "KAFKA_TOPIC_PREFIX": f"bench-{run_id}-",
        "KAFKA_CONSUMER_GROUP": f"bench-{run_id}",
        "LOG_LEVEL": os.environ.get("LOG_LEVEL", "WARNING"),
        **(PRODUCTION_ENV if production else {}),
    }
    env.pop("TOPICS", None)
    stack = Stack(workdir, broker, env, db_path, workdir / "empty.sqlite3")
    exits.callback(stack.stop)
    stack.manage("migrate", "--no-input", "-v", "0")
    shutil.copyfile(db_path, stack.empty_db)  # the same schema, for the SQLite reference
    subprocess.run(
        [sys.executable, "-m", "betreco.stack", "--ensure-topics"],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=120,
        capture_output=True,
    )
    return stack


# --- 1. end to end -------------------------------------------------------------------------


def end_to_end(stack: Stack, data: dict, batch_size: int, senders: int) -> dict:
    """POST every record in arrays of `batch_size`; time until the producer and the DB have all."""
    client = Http(stack.producer_port)
    batches = [
        (kind, json.dumps(data[kind][i : i + batch_size]).encode())
        for kind in KINDS
        for i in range(0, len(data[kind]), batch_size)
    ]
    before = stack.counts()
    wanted = {kind: before[kind] + len(data[kind]) for kind in KINDS}

    def send(batch):
        kind, body = batch
        status, answer = client.post(f"/{kind}", body)
        _expect_202(status, answer, f"POST /{kind} of a batch")

    started = time.perf_counter()
    with ThreadPoolExecutor(senders) as pool:
        list(pool.map(send, batches))
    produced_s = time.perf_counter() - started
    stored = stack.wait_stored(wanted, started)
    total = sum(len(data[kind]) for kind in KINDS)
    seconds = max(stored.values())
    return {
        "records": total,
        "seconds": seconds,
        "rate": total / seconds,
        "producer_s": produced_s,
        "producer_rate": total / produced_s,
        "stored_s": stored,
    }


# --- 2. the seed's table -------------------------------------------------------------------


def seed_table(stack: Stack, data: dict, workers: int) -> dict:
    """Each kind's records one per request from `workers` threads: to all 202, to all stored."""
    client = Http(stack.producer_port)
    result = {}
    with ThreadPoolExecutor(workers) as pool:
        for kind in KINDS:
            wanted = {k: c for k, c in stack.counts().items()}
            wanted[kind] += len(data[kind])
            bodies = [json.dumps(record).encode() for record in data[kind]]

            def send(body, kind=kind):
                status, answer = client.post(f"/{kind}", body)
                _expect_202(status, answer, f"POST /{kind}")

            started = time.perf_counter()
            list(pool.map(send, bodies))
            accepted = time.perf_counter() - started
            stored = stack.wait_stored({kind: wanted[kind]}, started)[kind]
            result[kind] = {"accepted_s": accepted, "stored_s": stored}
    return result


# --- 3. single-record endpoint -------------------------------------------------------------


def _load_process(port: int, path: str, bodies: list[bytes], threads: int, queue) -> None:
    """One client process: `threads` keep-alive connections sharing `bodies`; report to queue."""
    client = Http(port)
    latencies, statuses = [], Counter()
    lock = threading.Lock()
    chunks = [bodies[i::threads] for i in range(threads)]

    def worker(chunk):
        mine, codes = [], Counter()
        for body in chunk:
            begin = time.perf_counter()
            status, _ = client.post(path, body)
            mine.append(time.perf_counter() - begin)
            codes[status] += 1
        with lock:
            latencies.extend(mine)
            statuses.update(codes)

    started = time.monotonic()
    pool = [threading.Thread(target=worker, args=(chunk,)) for chunk in chunks]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    queue.put((started, time.monotonic(), latencies, dict(statuses), client.reconnects))


def load(port: int, kind: str, records: list[dict], processes: int, threads: int) -> dict:
    """Single-record POSTs of `records` from processes x threads: requests/s and latencies."""
    bodies = [json.dumps(record).encode() for record in records]
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    workers = [
        context.Process(
            target=_load_process, args=(port, f"/{kind}", bodies[i::processes], threads, queue)
        )
        for i in range(processes)
    ]
    for worker in workers:
        worker.start()
    reports = [queue.get(timeout=STORE_DEADLINE_S) for _ in workers]
    for worker in workers:
        worker.join()
    began = min(r[0] for r in reports)
    ended = max(r[1] for r in reports)
    latencies = sorted(latency for r in reports for latency in r[2])
    statuses = Counter()
    for report in reports:
        statuses.update(report[3])
    return {
        "requests": len(latencies),
        "seconds": ended - began,
        "rate": len(latencies) / (ended - began),
        "p50_ms": 1000 * latencies[len(latencies) // 2],
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        "statuses": dict(statuses),
        "reconnects": sum(r[4] for r in reports),
    }


def single_record(stack: Stack, config: str, data: dict, warmup: int, args) -> dict:
    """Restart gunicorn with `config` (workers x threads), warm it up, then measure."""
    if stack.producer_config != config or stack.producer is None:
        stack.start_producer(config)
    users = data["users"]
    load(stack.producer_port, "users", users[:warmup], args.clients, args.client_threads)
    result = load(stack.producer_port, "users", users[warmup:], args.clients, args.client_threads)
    result["config"] = config
    return result


# --- 4. raw references ---------------------------------------------------------------------


def _read_all(bootstrap: str, topics: list[str]) -> tuple[list, float]:
    """Every message of `topics` from offset 0 with a plain consumer: (messages, seconds)."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"bench-reader-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    try:
        metadata = consumer.list_topics(timeout=10).topics
        partitions = [TopicPartition(t, p, 0) for t in topics for p in metadata[t].partitions]
        ends = {
            (tp.topic, tp.partition): consumer.get_watermark_offsets(tp, timeout=10)[1]
            for tp in partitions
        }
        wanted = sum(ends.values())
        messages = []
        started = time.perf_counter()
        consumer.assign(partitions)
        deadline = time.monotonic() + 120
        while len(messages) < wanted and time.monotonic() < deadline:
            messages += [m for m in consumer.consume(1000, timeout=1.0) if m.error() is None]
        return messages, time.perf_counter() - started
    finally:
        consumer.close()


def kafka_reference(stack: Stack, run_id: str) -> dict:
    """The pipeline's messages, produced again (the producer's settings) and consumed raw."""
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    bootstrap = stack.broker.bootstrap_servers
    prefix = stack.env["KAFKA_TOPIC_PREFIX"]
    source, _ = _read_all(bootstrap, [f"{prefix}{kind}" for kind in KINDS])
    copies = {f"{prefix}{kind}": f"bench-ref-{run_id}-{kind}" for kind in KINDS}
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(t, 3, 1) for t in copies.values()]).values():
        future.result(timeout=30)
    producer = Producer(
        {"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all", "linger.ms": 5}
    )
    producer.list_topics(timeout=10)  # connected before the clock starts, as a server's would be
    failed = []

    def on_delivery(error, _message):
        if error is not None:
            failed.append(error)

    started = time.perf_counter()
    for message in source:
        while True:
            try:
                producer.produce(
                    copies[message.topic()],
                    key=message.key(),
                    value=message.value(),
                    headers=message.headers(),
                    on_delivery=on_delivery,
                )
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    left = producer.flush(60)
    produce_s = time.perf_counter() - started
    if left or failed:
        raise RuntimeError(f"reference produce: {left} not delivered, {failed[:3]}")
    copied, consume_s = _read_all(bootstrap, list(copies.values()))
    count = len(source)
    return {
        "messages": count,
        "mean_bytes": statistics.mean(len(m.value()) for m in source),
        "produce_rate": count / produce_s,
        "consume_rate": len(copied) / consume_s,
        "both_rate": count / (produce_s + consume_s),
    }


def sqlite_reference(stack: Stack, data: dict) -> dict:
    """The same rows with one executemany per table into an empty copy of the schema (WAL)."""
    path = stack.workdir / "reference.sqlite3"
    shutil.copyfile(stack.empty_db, path)
    rows = as_rows(data)
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        started = time.perf_counter()
        db.execute("BEGIN IMMEDIATE")
        for table, statement in REFERENCE_INSERTS.items():
            db.executemany(statement, rows[table])
        db.execute("COMMIT")
        seconds = time.perf_counter() - started
    finally:
        db.close()
    records = sum(len(data[kind]) for kind in KINDS)
    return {"records": records, "seconds": seconds, "rate": records / seconds}


# --- one run, and the report ---------------------------------------------------------------


def one_run(number: int, args) -> dict:
    run_id = uuid.uuid4().hex[:8]
    count = max(10, int(10_000 * args.scale))
    single = max(100, int(args.requests * args.scale))
    warmup = max(20, single // 10)
    e2e_data = make_records(count, seed=number, id_base=1_000_000_000)
    seed_data = make_records(100, seed=1000 + number, id_base=2_000_000_000)
    load_data = {
        "users": make_records(warmup + single, seed=2000 + number, id_base=3_000_000_000)["users"]
    }
    result = {}
    workdir = Path(tempfile.mkdtemp(prefix="betreco-bench-pipeline-"))
    try:
        with ExitStack() as exits:
            stack = start_stack(exits, workdir, run_id, args.production)
            stack.start_consumers()
            stack.start_producer(MAKE_RUN_CONFIG)
            result["e2e"] = end_to_end(stack, e2e_data, args.batch, args.senders)
            _say_e2e(number, result["e2e"])
            result["seed"] = seed_table(stack, seed_data, args.seed_workers)
            _say_seed(number, result["seed"])
            stack.stop_consumers()
            result["kafka"] = kafka_reference(stack, run_id)
            result["sqlite"] = sqlite_reference(stack, e2e_data)
            _say_refs(number, result)
            result["single"] = []
            for config in args.configs:
                measured = single_record(stack, config, load_data, warmup, args)
                result["single"].append(measured)
                _say_single(number, measured, args)
    finally:
        if args.keep:
            sys.stdout.write(f"run {number}: files kept in {workdir}\n")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return result


def _say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _say_e2e(n: int, r: dict) -> None:
    stored = ", ".join(f"{k} {s:.2f} s" for k, s in r["stored_s"].items())
    _say(
        f"run {n}: end to end {r['records']} records in {r['seconds']:.2f} s = "
        f"{r['rate']:,.0f} records/s; producer side {r['producer_s']:.2f} s = "
        f"{r['producer_rate']:,.0f} records/s; all stored at: {stored}"
    )


def _say_seed(n: int, r: dict) -> None:
    parts = [
        f"{k} 202 in {v['accepted_s']:.3f} s, stored {v['stored_s']:.3f} s" for k, v in r.items()
    ]
    _say(f"run {n}: seed table (100 each, one per request): " + "; ".join(parts))


def _say_refs(n: int, r: dict) -> None:
    k, s = r["kafka"], r["sqlite"]
    _say(
        f"run {n}: raw confluent-kafka {k['messages']} messages of {k['mean_bytes']:.0f} B: "
        f"produce {k['produce_rate']:,.0f}/s, consume {k['consume_rate']:,.0f}/s, "
        f"both {k['both_rate']:,.0f}/s; raw SQLite executemany {s['records']} records "
        f"in {s['seconds']:.3f} s = {s['rate']:,.0f}/s"
    )


def _say_single(n: int, r: dict, args) -> None:
    _say(
        f"run {n}: single-record POST /users, gunicorn {r['config']} (workers x threads), "
        f"client {args.clients}x{args.client_threads}: {r['requests']} requests in "
        f"{r['seconds']:.2f} s = {r['rate']:,.0f} req/s; p50 {r['p50_ms']:.1f} ms, "
        f"p99 {r['p99_ms']:.1f} ms; statuses {r['statuses']}, reconnects {r['reconnects']}"
    )


def report(runs: list[dict], args) -> None:
    med = statistics.median

    def row(name, values, unit, target, higher_is_better=True):
        value = med(values)
        each = ", ".join(f"{v:,.3g}" if v < 10 else f"{v:,.0f}" for v in values)
        shown = f"{value:,.3f}" if value < 10 else f"{value:,.0f}"
        if target is None:
            goal, ratio = "", ""
        else:
            goal = f"{'>=' if higher_is_better else '<='} {target:,g}"
            factor = value / target if higher_is_better else target / value
            ratio = f"{factor:.2f}x {'met' if factor >= 1 else 'MISSED'}"
        _say(f"{name:<44} {shown:>10} {unit:<9} {goal:<10} {ratio:<14} ({each})")

    settings = "DEBUG=0 (--production)" if args.production else "make run's settings (DEBUG on)"
    _say(
        f"\nMedians of {len(runs)} run(s), scale {args.scale:g}, {os.cpu_count()} CPUs, "
        f"{settings}; end to end and seed table under gunicorn {MAKE_RUN_CONFIG}, "
        f"batches of {args.batch} from {args.senders} threads; single-record client "
        f"{args.clients} processes x {args.client_threads} threads"
    )
    _say(f"{'figure':<44} {'median':>10} {'unit':<9} {'target':<10} {'vs target':<14} (runs)")
    e2e = [r["e2e"]["rate"] for r in runs]
    row("end to end (HTTP batches -> SQLite)", e2e, "rec/s", TARGET_E2E)
    row(
        "  producer side only (202 for all batches)",
        [r["e2e"]["producer_rate"] for r in runs],
        "rec/s",
        None,
    )
    for kind in KINDS:
        row(
            f"seed table: 100 {kind}, all 202",
            [r["seed"][kind]["accepted_s"] for r in runs],
            "s",
            TARGET_SEED_S,
            False,
        )
        row(
            f"seed table: 100 {kind}, all stored",
            [r["seed"][kind]["stored_s"] for r in runs],
            "s",
            None,
        )
    for i, config in enumerate(args.configs):
        single = [r["single"][i] for r in runs]
        row(
            f"single-record POST, gunicorn {config}",
            [s["rate"] for s in single],
            "req/s",
            TARGET_SINGLE,
        )
        row("  p50 latency", [s["p50_ms"] for s in single], "ms", None)
        row("  p99 latency", [s["p99_ms"] for s in single], "ms", None)
    row("raw confluent-kafka produce", [r["kafka"]["produce_rate"] for r in runs], "msg/s", None)
    row("raw confluent-kafka consume", [r["kafka"]["consume_rate"] for r in runs], "msg/s", None)
    both = [r["kafka"]["both_rate"] for r in runs]
    row("raw confluent-kafka produce+consume", both, "msg/s", None)
    sqlite_rates = [r["sqlite"]["rate"] for r in runs]
    row("raw SQLite executemany (WAL)", sqlite_rates, "rec/s", None)
    _say(
        f"pipeline end to end as a fraction of raw Kafka produce+consume: "
        f"{med(e2e) / med(both):.1%}; of raw SQLite executemany: {med(e2e) / med(sqlite_rates):.1%}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs, each from nothing (3)")
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the record counts")
    parser.add_argument("--batch", type=int, default=500, help="records per POST end to end (500)")
    parser.add_argument("--senders", type=int, default=4, help="threads POSTing batches (4)")
    parser.add_argument("--seed-workers", type=int, default=32, help="threads for the seed table")
    parser.add_argument("--requests", type=int, default=5000, help="single-record POSTs (5000)")
    parser.add_argument("--clients", type=int, default=2, help="client processes (2)")
    parser.add_argument("--client-threads", type=int, default=16, help="threads each (16)")
    parser.add_argument(
        "--configs",
        type=lambda text: [c for c in text.split(",") if c],
        default=[MAKE_RUN_CONFIG, "2x4", "8x8"],
        help="gunicorn workers x threads for the single-record test (make run's, 2x4, 8x8)",
    )
    parser.add_argument("--keep", action="store_true", help="keep each run's files and logs")
    parser.add_argument(
        "--production",
        action="store_true",
        help="DEBUG=0 (production settings, writes with a token) instead of make run's defaults",
    )
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "betreco.settings")
    if args.production:
        HEADERS["Authorization"] = f"Bearer {BENCH_API_KEY}"
    runs = [one_run(number, args) for number in range(1, args.runs + 1)]
    report(runs, args)


if __name__ == "__main__":
    main()
