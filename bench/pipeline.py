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
   keep-alive connection: total seconds. Every answer must be 201. Shown
   beside the seed's figures (0.68-0.89 s and 5.5 s). The refreshes these
   writes owe are settled by the API process (RefreshAfterWriteMiddleware:
   in the request, or by a drainer thread it wakes), so the outbox sampler
   runs over the coupons too: the staleness they leave, until it is empty;
5. single, the single-record producer endpoint: requests/s and p50/p99
   latency over 5,000 single-record POSTs from several client processes x
   threads (consumers stopped), for each gunicorn workers x threads in
   --configs.

Every 202's receipts (id, topic, partition, offset) are kept. When the row
counts stop moving for STALL_S, every acknowledged record is reconciled
against the database by where its 202 put it (soak/reconcile.py, shared with
the soak); records missing at offsets the consumer group has committed past
will never be stored, so the run stops there and says so loudly: the missing
(topic, partition, offset ranges), and whether the broker still holds them.

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
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from betreco.embedded_broker import EmbeddedBroker, free_port  # noqa: E402
from betreco.stack import GUNICORN_CONFIG, consumer_processes  # noqa: E402
from ingest.sports import sport_key  # noqa: E402
from soak.processes import ensure_topics  # noqa: E402
from soak.reconcile import Receipt, Reconciliation, receipts_of, reconcile  # noqa: E402

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
# Row counts still for this long: reconcile every acknowledged record by its 202's topic,
# partition and offset, and stop when the consumers have committed past missing ones.
STALL_S = 10.0
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


def make_records(
    count: int, *, seed: int, id_base: int, coupons: int | None = None
) -> dict[str, list[dict]]:
    """`count` users, events and coupons (or `coupons` of them) in the seed's format
    (generate_dummy), ids from id_base.

    The base keeps the data sets of one run apart, so every record is new to the database.
    """
    from ingest.management.commands.generate_dummy import generate

    data = generate(
        users=count, events=count, coupons=count if coupons is None else coupons, seed=seed
    )
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
                sport_key(e["sport"]),
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
    " league, sport, sport_key, participants_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
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


def _expect_201(status: int, body: bytes, what: str) -> None:
    if status != 201:
        raise RuntimeError(f"{what}: HTTP {status} instead of 201: {body[:300]!r}")


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
    consumer_logs: list[Path] = field(default_factory=list)
    consumer_starts: int = 0
    producer: subprocess.Popen | None = None
    producer_port: int = 0
    producer_config: str = ""
    api: subprocess.Popen | None = None
    api_port: int = 0
    receipts: list[Receipt] = field(default_factory=list)  # every 202's, for reconcile()

    def manage(self, *args: str) -> None:
        subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, check=True, timeout=300
        )

    def start_consumers(self) -> None:
        """The consumers as `make run` starts them; logging at INFO for their closing line."""
        self.consumer_starts += 1
        level = self.env["LOG_LEVEL"].upper()
        env = {**self.env, "LOG_LEVEL": "DEBUG" if level == "DEBUG" else "INFO"}
        self.consumer_logs = []
        for name, kinds in consumer_processes(self.env["DATABASE_URL"]):
            path = self.workdir / f"{name}-{self.consumer_starts}.log"
            log = open(path, "wb")  # noqa: SIM115
            self.consumers.append(
                subprocess.Popen(
                    [sys.executable, "manage.py", "consume_topic", *kinds],
                    cwd=ROOT,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
            log.close()
            self.consumer_logs.append(path)

    def wait_assigned(self) -> None:
        """Until every consumer has logged its first partition assignment."""
        deadline = time.monotonic() + ASSIGNED_TIMEOUT_S
        waiting = list(zip(self.consumers, self.consumer_logs, strict=True))
        while waiting:
            for process, path in list(waiting):
                if process.poll() is not None:
                    raise RuntimeError(f"a consumer exited with {process.returncode}; see {path}")
                if re.search(r"\bassigned (?!nothing)", path.read_text(errors="replace")):
                    waiting.remove((process, path))
            if waiting and time.monotonic() > deadline:
                raise RuntimeError(f"consumers not assigned within {ASSIGNED_TIMEOUT_S:g} s")
            time.sleep(0.05)

    def stop_consumers(self) -> dict | None:
        """SIGTERM the consumers and wait; their closing lines, summed (None without them)."""
        if not self.consumers:
            return None
        stop_all(self.consumers)
        self.consumers = []
        return consumer_time(self.consumer_logs)

    def _start_gunicorn(self, role: str, config: str) -> tuple[subprocess.Popen, int]:
        """A role under gunicorn as `make run` starts it (its config file), workers x threads."""
        workers, threads = config.split("x")
        port = free_port()
        log = open(self.workdir / f"{role}-{config}.log", "wb")  # noqa: SIM115
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--config", GUNICORN_CONFIG, "betreco.wsgi"],
            cwd=ROOT,
            env={
                **self.env,
                "BETRECO_ROLE": role,
                "HOST": HOST,
                "PORT": str(port),
                "WEB_CONCURRENCY": workers,
                "GUNICORN_THREADS": threads,
                "GUNICORN_GRACEFUL_TIMEOUT": "10",
            },
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        http_client = Http(port)
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"gunicorn ({role}) exited with {process.returncode}")
            try:
                if http_client.get_status("/healthz") == 200:
                    return process, port
            except OSError:
                pass
            if time.monotonic() > deadline:
                stop_all([process])
                raise RuntimeError(f"the {role} role did not answer /healthz within 60 s")
            time.sleep(0.2)

    def start_producer(self, config: str) -> None:
        """The producer role under gunicorn as `make run` starts it, with workers x threads."""
        self.stop_producer()
        self.producer, self.producer_port = self._start_gunicorn("producer", config)
        self.producer_config = config

    def stop_producer(self) -> None:
        if self.producer is not None:
            stop_all([self.producer])
            self.producer = None

    def start_api(self, config: str) -> None:
        """The data API (the api role) under gunicorn as `make run` starts it."""
        self.stop_api()
        self.api, self.api_port = self._start_gunicorn("api", config)

    def stop_api(self) -> None:
        if self.api is not None:
            stop_all([self.api])
            self.api = None

    def stop(self) -> None:
        self.stop_api()
        self.stop_producer()
        self.stop_consumers()
        self.broker.stop()

    def acknowledged(self, kind: str, answer: bytes) -> None:
        """Keep the receipts of a 202 (one list.extend: safe from many sender threads)."""
        self.receipts.extend(receipts_of(kind, json.loads(answer)))

    def stored_ids(self, kind: str, ids: list[int]) -> set[int]:
        with sqlite3.connect(self.db_path, timeout=30) as db:
            marks = ",".join("?" * len(ids))
            query = f"SELECT id FROM {TABLES[kind]} WHERE id IN ({marks})"  # noqa: S608
            return {row[0] for row in db.execute(query, ids)}

    def reconcile(self) -> Reconciliation:
        """Every acknowledged record against the database, by where its 202 put it."""
        return reconcile(
            self.receipts,
            self.stored_ids,
            self.broker.bootstrap_servers,
            group=self.env["KAFKA_CONSUMER_GROUP"],
        )

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
        last, moved = None, time.monotonic()
        while True:
            counts = self.counts()
            now = time.perf_counter()
            for kind, count in counts.items():
                if kind in wanted and kind not in done and count >= wanted[kind]:
                    done[kind] = now - started
            if len(done) == len(wanted):
                return done
            if counts != last:
                last, moved = counts, time.monotonic()
            elif time.monotonic() - moved > STALL_S:
                self._lost(self.reconcile(), counts, wanted)  # raises when they will never come
                moved = time.monotonic()
            if time.monotonic() > deadline:
                found = self.reconcile()
                self._lost(found, counts, wanted)
                raise RuntimeError(
                    f"not stored within {STORE_DEADLINE_S:g} s: {counts} of {wanted}; "
                    f"{found.summary()}; consumer logs in {self.workdir}"
                )
            for process in self.consumers:
                if process.poll() is not None:
                    raise RuntimeError(f"a consumer exited with {process.returncode}")
            time.sleep(0.02)

    def _lost(self, found: Reconciliation, counts: dict, wanted: dict) -> None:
        """Say loudly, and stop the run, when acknowledged records are missing and the
        consumers have committed past them: the counts will never reach `wanted`."""
        if not found.passed:
            return
        _say("!" * 100)
        _say(
            f"!!! ACKNOWLEDGED RECORDS LOST: rows {counts} of {wanted}; the consumer group has "
            f"committed past {found.passed} acknowledged offsets whose records are not stored"
        )
        for line in found.lines():
            _say(f"!!! {line}")
        _say("!" * 100)
        raise RuntimeError(f"{found.summary()}; consumer logs in {self.workdir}")


def consumer_time(logs: list[Path]) -> dict | None:
    """Messages, seconds alive and seconds draining outboxes, from the consumers' closing lines.

    None (with a warning) when a log has no such line: a consumer killed, not stopped.
    """
    totals = {"messages": 0, "seconds": 0.0, "draining_s": 0.0}
    for path in logs:
        found = CLOSED_LINE.findall(path.read_text(errors="replace"))
        if not found:
            _say(f"warning: no 'consumer closed' line in {path}; no refresh share this run")
            return None
        messages, seconds, draining = found[-1]
        totals["messages"] += int(messages)
        totals["seconds"] += float(seconds)
        totals["draining_s"] += float(draining)
    totals["share"] = totals["draining_s"] / totals["seconds"] if totals["seconds"] else 0.0
    return totals


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
    ensure_topics(env)
    return stack


# --- 1. end to end -------------------------------------------------------------------------


def parse_db_datetime(text: str) -> datetime:
    """A datetime Django stored on SQLite: UTC as text, '2026-11-26 21:03:04.123456'."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


class OutboxSampler(threading.Thread):
    """Every SAMPLE_INTERVAL_S: how long the oldest refresh the recommendations owe has waited.

    Reads the run's SQLite file on a read-only connection of its own (WAL: never in a
    writer's way); each query outside a transaction sees the latest commit.
    """

    def __init__(self, db_path: Path):
        super().__init__(name="outbox-sampler", daemon=True)
        self.db_path = db_path
        self.ages: list[float] = []  # seconds; 0 when the outbox was empty
        self.rows: list[int] = []
        self.last_empty = 0.0  # perf_counter of the latest sample that found the outbox empty
        self.error: BaseException | None = None
        self.halt = threading.Event()

    def run(self) -> None:
        try:
            db = sqlite3.connect(
                f"file:{self.db_path}?mode=ro", uri=True, timeout=5, isolation_level=None
            )
            try:
                while not self.halt.is_set():
                    oldest, rows = db.execute(
                        "SELECT MIN(created_at), COUNT(*) FROM recommendations_pendingrefresh"
                    ).fetchone()
                    now = datetime.now(UTC)
                    if oldest is None:
                        self.ages.append(0.0)
                        self.last_empty = time.perf_counter()
                    else:
                        age = (now - parse_db_datetime(oldest)).total_seconds()
                        self.ages.append(max(age, 0.0))
                    self.rows.append(rows)
                    self.halt.wait(SAMPLE_INTERVAL_S)
            finally:
                db.close()
        except BaseException as error:  # reported by stop()
            self.error = error

    def wait_empty(self, since: float, deadline_s: float) -> float | None:
        """Until a sample taken after `since` (perf_counter) found the outbox empty."""
        deadline = time.perf_counter() + deadline_s
        while self.last_empty <= since:
            if time.perf_counter() > deadline or not self.is_alive():
                return None
            time.sleep(SAMPLE_INTERVAL_S / 2)
        return self.last_empty

    def stop(self) -> dict:
        self.halt.set()
        self.join(10)
        if self.error is not None:
            raise RuntimeError(f"the outbox sampler failed: {self.error!r}") from self.error
        ages = sorted(self.ages)
        if not ages:
            raise RuntimeError("the outbox sampler took no sample")
        return {
            "samples": len(ages),
            "p50_s": ages[len(ages) // 2],
            "p99_s": ages[min(len(ages) - 1, int(len(ages) * 0.99))],
            "max_s": ages[-1],
            "max_rows": max(self.rows),
            "owed_share": sum(1 for age in ages if age > 0) / len(ages),
        }


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
        stack.acknowledged(kind, answer)

    sampler = OutboxSampler(stack.db_path)
    sampler.start()
    try:
        started = time.perf_counter()
        with ThreadPoolExecutor(senders) as pool:
            list(pool.map(send, batches))
        produced_s = time.perf_counter() - started
        stored = stack.wait_stored(wanted, started)
        # The refreshes the last rows owe are part of the phase: sample until they are done.
        emptied = sampler.wait_empty(started + max(stored.values()), REFRESHED_DEADLINE_S)
    finally:
        staleness = sampler.stop()
    total = sum(len(data[kind]) for kind in KINDS)
    seconds = max(stored.values())
    return {
        "records": total,
        "seconds": seconds,
        "rate": total / seconds,
        "producer_s": produced_s,
        "producer_rate": total / produced_s,
        "stored_s": stored,
        "refreshed_s": None if emptied is None else emptied - started,
        "staleness": staleness,
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
                stack.acknowledged(kind, answer)

            started = time.perf_counter()
            list(pool.map(send, bodies))
            accepted = time.perf_counter() - started
            stored = stack.wait_stored({kind: wanted[kind]}, started)[kind]
            result[kind] = {"accepted_s": accepted, "stored_s": stored}
    return result


# --- 4. the data API (synchronous) --------------------------------------------------------


def _percentiles_ms(latencies: list[float]) -> tuple[float, float, float]:
    ordered = sorted(latencies)
    n = len(ordered)
    return (
        1000 * ordered[n // 2],
        1000 * ordered[min(n - 1, int(n * 0.99))],
        1000 * ordered[-1],
    )


def data_api(stack: Stack, data: dict, workers: int) -> dict:
    """The API role: fresh users and events, then coupons at once and one after another."""
    stack.stop_producer()  # idle here; the single-record phase starts it again
    stack.start_api(MAKE_RUN_CONFIG)
    rows_before = stack.counts()
    client = Http(stack.api_port)
    latencies: dict[str, list[float]] = {}

    def post(kind: str, record: dict, what: str) -> float:
        body = json.dumps(record).encode()
        begin = time.perf_counter()
        status, answer = client.post(f"/{kind}", body)
        latency = time.perf_counter() - begin
        _expect_201(status, answer, f"data API: POST /{kind} ({what})")
        return latency

    coupons = data["coupons"]
    if len(coupons) < API_CONCURRENT + API_SEQUENTIAL:
        raise ValueError(f"data API: {API_CONCURRENT + API_SEQUENTIAL} coupons needed")
    result = {"rows_before": rows_before}
    sampler = OutboxSampler(stack.db_path)
    with ThreadPoolExecutor(workers) as pool:
        # The same threads (and their keep-alive connections) serve every step.
        for kind in ("users", "events"):
            started = time.perf_counter()
            latencies[kind] = list(pool.map(lambda r, k=kind: post(k, r, "setup"), data[kind]))
            result[f"{kind}_s"] = time.perf_counter() - started
        sampler.start()
        started = time.perf_counter()
        latencies["concurrent"] = list(
            pool.map(lambda r: post("coupons", r, "concurrent"), coupons[:API_CONCURRENT])
        )
        result["concurrent_s"] = time.perf_counter() - started
    sequential = coupons[API_CONCURRENT : API_CONCURRENT + API_SEQUENTIAL]
    one = Http(stack.api_port)  # this thread's one keep-alive connection
    started = time.perf_counter()
    latencies["sequential"] = []
    for record in sequential:
        begin = time.perf_counter()
        status, answer = one.post("/coupons", json.dumps(record).encode())
        latencies["sequential"].append(time.perf_counter() - begin)
        _expect_201(status, answer, "data API: POST /coupons (sequential)")
    result["sequential_s"] = time.perf_counter() - started
    with sqlite3.connect(stack.db_path, timeout=30) as db:
        result["owed_after"] = db.execute(
            "SELECT COUNT(*) FROM recommendations_pendingrefresh"
        ).fetchone()[0]
    emptied = sampler.wait_empty(time.perf_counter(), REFRESHED_DEADLINE_S)
    result["staleness"] = sampler.stop()
    result["emptied_after_s"] = (
        None if emptied is None else emptied - started - result["sequential_s"]
    )
    result["reconnects"] = client.reconnects + one.reconnects
    result["latency_ms"] = {name: _percentiles_ms(values) for name, values in latencies.items()}
    after = stack.counts()
    wanted = {
        "users": rows_before["users"] + len(data["users"]),
        "events": rows_before["events"] + len(data["events"]),
        "coupons": rows_before["coupons"] + API_CONCURRENT + API_SEQUENTIAL,
    }
    if after != wanted:
        raise RuntimeError(f"data API: rows {after} after the phase, expected {wanted}")
    stack.stop_api()
    return result


# --- 5. single-record endpoint -------------------------------------------------------------


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


# --- 3. raw references ---------------------------------------------------------------------


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
    phases = args.phases
    e2e_data = make_records(count, seed=number, id_base=1_000_000_000)
    seed_data = make_records(100, seed=1000 + number, id_base=2_000_000_000)
    load_data = {
        "users": make_records(warmup + single, seed=2000 + number, id_base=3_000_000_000)["users"]
    }
    api_data = make_records(
        100, seed=3000 + number, id_base=4_000_000_000, coupons=API_CONCURRENT + API_SEQUENTIAL
    )
    result = {}
    workdir = Path(tempfile.mkdtemp(prefix="betreco-bench-pipeline-"))
    try:
        with ExitStack() as exits:
            stack = start_stack(exits, workdir, run_id, args.production)
            if "e2e" in phases:
                stack.start_consumers()
                stack.start_producer(MAKE_RUN_CONFIG)
                stack.wait_assigned()
                result["e2e"] = end_to_end(stack, e2e_data, args.batch, args.senders)
                result["consumer"] = stack.stop_consumers()
                _say_e2e(number, result["e2e"], result["consumer"])
            if "seed" in phases:
                stack.start_consumers()
                if stack.producer is None:
                    stack.start_producer(MAKE_RUN_CONFIG)
                stack.wait_assigned()
                result["seed"] = seed_table(stack, seed_data, args.seed_workers)
                _say_seed(number, result["seed"])
                stack.stop_consumers()
            if "refs" in phases:
                result["kafka"] = kafka_reference(stack, run_id)
                result["sqlite"] = sqlite_reference(stack, e2e_data)
                _say_refs(number, result)
            if "data-api" in phases:
                result["api"] = data_api(stack, api_data, args.seed_workers)
                _say_api(number, result["api"])
            if "single" in phases:
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


def _say_e2e(n: int, r: dict, consumer: dict | None) -> None:
    stored = ", ".join(f"{k} {s:.2f} s" for k, s in r["stored_s"].items())
    refreshed = (
        "not within the deadline" if r["refreshed_s"] is None else f"{r['refreshed_s']:.2f} s"
    )
    st = r["staleness"]
    _say(
        f"run {n}: end to end {r['records']} records in {r['seconds']:.2f} s = "
        f"{r['rate']:,.0f} records/s; producer side {r['producer_s']:.2f} s = "
        f"{r['producer_rate']:,.0f} records/s; all stored at: {stored}; outbox empty at "
        f"{refreshed}"
    )
    _say(
        f"run {n}: staleness (oldest owed refresh) over {st['samples']} samples: "
        f"p50 {st['p50_s']:.3f} s, p99 {st['p99_s']:.3f} s, max {st['max_s']:.3f} s; "
        f"something owed in {st['owed_share']:.0%} of samples, at most {st['max_rows']} outbox rows"
    )
    if consumer is not None:
        _say(
            f"run {n}: consumers closed after {consumer['messages']} messages in "
            f"{consumer['seconds']:.1f} s, {consumer['draining_s']:.1f} s of it draining "
            f"outboxes = {consumer['share']:.1%}"
        )


def _say_api(n: int, r: dict) -> None:
    lat = r["latency_ms"]

    def ms(name):
        p50, p99, top = lat[name]
        return f"p50 {p50:.1f} / p99 {p99:.1f} / max {top:.1f} ms"

    _say(
        f"run {n}: data API on {r['rows_before']}: 100 users in {r['users_s']:.3f} s "
        f"({ms('users')}), 100 events in {r['events_s']:.3f} s ({ms('events')})"
    )
    _say(
        f"run {n}: data API: {API_CONCURRENT} concurrent POST /coupons all 201 in "
        f"{r['concurrent_s']:.3f} s ({ms('concurrent')}); {API_SEQUENTIAL} sequential in "
        f"{r['sequential_s']:.3f} s ({ms('sequential')}); reconnects {r['reconnects']}"
    )
    st, emptied = r["staleness"], r["emptied_after_s"]
    _say(
        f"run {n}: data API staleness over the coupons ({st['samples']} samples): "
        f"p50 {st['p50_s']:.3f} s, p99 {st['p99_s']:.3f} s, max {st['max_s']:.3f} s, "
        f"owed in {st['owed_share']:.0%} of samples, at most {st['max_rows']} rows; outbox "
        + ("not empty within the deadline" if emptied is None else f"empty {emptied:.2f} s")
        + f" after the last answer ({r['owed_after']} rows then)"
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
            if higher_is_better:
                factor = value / target
            else:
                factor = target / value if value else float("inf")
            ratio = f"{factor:.2f}x {'met' if factor >= 1 else 'MISSED'}"
        _say(f"{name:<44} {shown:>10} {unit:<9} {goal:<10} {ratio:<14} ({each})")

    def versus_seed(name, values, seed_low, seed_high):
        low, high = seed_low / med(values), seed_high / med(values)
        span = f"{seed_low:g}-{seed_high:g}" if seed_high != seed_low else f"{seed_low:g}"
        ratio = f"{low:.2f}-{high:.2f}x" if seed_high != seed_low else f"{low:.2f}x"
        _say(f"{name:<44} {ratio:>10} {'':<9} (seed {span} s / our median)")

    phases = args.phases
    settings = "DEBUG=0 (--production)" if args.production else "make run's settings (DEBUG on)"
    _say(
        f"\nMedians of {len(runs)} run(s), phases {','.join(phases)}, scale {args.scale:g}, "
        f"{os.cpu_count()} CPUs, {settings}; end to end, seed table and data API under "
        f"gunicorn {MAKE_RUN_CONFIG}, batches of {args.batch} from {args.senders} threads; "
        f"single-record client {args.clients} processes x {args.client_threads} threads"
    )
    _say(f"{'figure':<44} {'median':>10} {'unit':<9} {'target':<10} {'vs target':<14} (runs)")
    if "e2e" in phases:
        e2e = [r["e2e"]["rate"] for r in runs]
        row("end to end (HTTP batches -> SQLite)", e2e, "rec/s", TARGET_E2E)
        row(
            "  producer side only (202 for all batches)",
            [r["e2e"]["producer_rate"] for r in runs],
            "rec/s",
            None,
        )
        refreshed = [r["e2e"]["refreshed_s"] for r in runs]
        if None not in refreshed:
            row("  first send to outbox empty", refreshed, "s", None)
        staleness = [r["e2e"]["staleness"] for r in runs]
        row(
            "recommendation staleness (oldest owed) p50", [s["p50_s"] for s in staleness], "s", None
        )
        row(
            "recommendation staleness (oldest owed) p99",
            [s["p99_s"] for s in staleness],
            "s",
            TARGET_STALENESS_P99_S,
            False,
        )
        row(
            "recommendation staleness (oldest owed) max", [s["max_s"] for s in staleness], "s", None
        )
        consumers = [r["consumer"] for r in runs if r.get("consumer") is not None]
        if consumers:
            row(
                "refresh share of consumer time",
                [100 * c["share"] for c in consumers],
                "%",
                None,
            )
            row("  consumer draining outboxes", [c["draining_s"] for c in consumers], "s", None)
            row(
                "  consumer lifetime (start to SIGTERM)",
                [c["seconds"] for c in consumers],
                "s",
                None,
            )
    if "seed" in phases:
        seed_rows(runs, row)
    if "data-api" in phases:
        api = [r["api"] for r in runs]
        concurrent = [a["concurrent_s"] for a in api]
        sequential = [a["sequential_s"] for a in api]
        row(
            f"data API: {API_CONCURRENT} concurrent POST /coupons",
            concurrent,
            "s",
            TARGET_API_CONCURRENT_S,
            False,
        )
        versus_seed("  seed/ours", concurrent, *SEED_API_CONCURRENT_S)
        row("  p99 request latency", [a["latency_ms"]["concurrent"][1] for a in api], "ms", None)
        row(
            f"data API: {API_SEQUENTIAL:,} sequential POST /coupons",
            sequential,
            "s",
            TARGET_API_SEQUENTIAL_S,
            False,
        )
        versus_seed("  seed/ours", sequential, SEED_API_SEQUENTIAL_S, SEED_API_SEQUENTIAL_S)
        row("  p50 request latency", [a["latency_ms"]["sequential"][0] for a in api], "ms", None)
        row("  p99 request latency", [a["latency_ms"]["sequential"][1] for a in api], "ms", None)
        row(
            "data API staleness (oldest owed) p99",
            [a["staleness"]["p99_s"] for a in api],
            "s",
            None,
        )
    if "single" in phases:
        single_rows(runs, row, args)
    if "refs" in phases:
        refs_rows(runs, row, "e2e" in phases)


def seed_rows(runs: list[dict], row) -> None:
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


def single_rows(runs: list[dict], row, args) -> None:
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


def refs_rows(runs: list[dict], row, with_e2e: bool) -> None:
    med = statistics.median
    row("raw confluent-kafka produce", [r["kafka"]["produce_rate"] for r in runs], "msg/s", None)
    row("raw confluent-kafka consume", [r["kafka"]["consume_rate"] for r in runs], "msg/s", None)
    both = [r["kafka"]["both_rate"] for r in runs]
    row("raw confluent-kafka produce+consume", both, "msg/s", None)
    sqlite_rates = [r["sqlite"]["rate"] for r in runs]
    row("raw SQLite executemany (WAL)", sqlite_rates, "rec/s", None)
    if not with_e2e:
        return
    e2e = [r["e2e"]["rate"] for r in runs]
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
    parser.add_argument(
        "--phases",
        type=lambda text: [p.strip() for p in text.split(",") if p.strip()],
        default=list(PHASES),
        help=f"comma-separated phases to run, always in this order: {','.join(PHASES)} (all)",
    )
    args = parser.parse_args()
    unknown = [p for p in args.phases if p not in PHASES]
    if unknown or not args.phases:
        parser.error(f"--phases: unknown {unknown}; choose from {','.join(PHASES)}")
    if "refs" in args.phases and "e2e" not in args.phases:
        parser.error("--phases: refs compares with the messages and rows of e2e; add e2e")
    args.phases = [p for p in PHASES if p in args.phases]
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "betreco.settings")
    if args.production:
        HEADERS["Authorization"] = f"Bearer {BENCH_API_KEY}"
    runs = [one_run(number, args) for number in range(1, args.runs + 1)]
    report(runs, args)


if __name__ == "__main__":
    main()
