"""One soak run: start the stack, drive load under the fault schedule, settle, prove.

`run(config)` needs Django set up on the run's database (the `DATABASE_URL`
the processes get): `python -m soak` sets it up on a fresh one, the suite's
test on its test database.
"""

import random
import sys
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from confluent_kafka import Consumer
from confluent_kafka.admin import AdminClient
from django.conf import settings
from django.db import OperationalError, connection
from django.db.utils import InterfaceError

from betreco.embedded_broker import EmbeddedBroker
from betreco.processes import child_pids, ensure_topics, migrate
from ingest.kafka.lag import lag_by_topic, topic_partitions
from ingest.kafka.topics import topic_name
from ingest.models import ParkedCoupon
from recommendations.models import PendingRefresh
from soak import checks
from soak.driver import Driver, Ledger
from soak.faults import FaultRunner, Poison, full_speed_schedule, schedule
from soak.fullspeed import PHASE, WINDOW_S, FullSpeed
from soak.processes import KINDS, Consumers, base_env, new_prefix, start_producer
from soak.reconcile import reconcile

# The full-speed phase needs two or more consumers on every topic, so two or more partitions.
MIN_PARTITIONS = 3
# For the wait after the load: the slowest rate the consumers are expected to catch up at.
CATCH_UP_FLOOR = 500  # records/s


@dataclass
class SoakConfig:
    seconds: float  # of load and faults
    database_url: str  # the run's own database (made by the caller)
    run_dir: Path
    seed: int = 1
    clients: int = 4
    rate: float = 40.0  # requests/s over all clients
    consumers: int = 2
    producer_workers: int = 8  # each its own Kafka producer: the full-speed phase's connections
    session_timeout_ms: int = 6000
    max_poll_interval_ms: int = 10000
    outage_s: float = 15.0
    converge_s: float = 300.0
    bootstrap: str | None = None  # a running broker; else an embedded one for the run
    prefix: str = field(default_factory=lambda: new_prefix())
    prepare: bool = True  # migrate the database and create the topics
    fast_seconds: float = 0.0  # the full-speed phase after the paced load (0: none)
    fast_senders: int = 16  # HTTP connections posting arrays in it
    fast_min_rate: float = 2000.0  # acknowledged records/s it must sustain
    fast_limit: float = 0.0  # records/s it may send at most (0: as fast as answered)
    # The consumers' shape as `make run` starts it (`betreco.stack.consumer_processes`):
    # on SQLite `consumers` processes over all three topics, on PostgreSQL one process per
    # topic from the start. Never both in one group: librdkafka's cooperative-sticky
    # assignor crashed on that mix (docs/reliability.md, Findings). None: by the database.
    per_topic: bool | None = None

    def consumers_per_topic(self) -> bool:
        if self.per_topic is None:
            return not self.database_url.startswith("sqlite")
        return self.per_topic


@dataclass
class Report:
    checks: list
    figures: dict
    run_dir: Path

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)


def say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def run(config: SoakConfig) -> Report:
    if config.prefix != settings.KAFKA_TOPIC_PREFIX:
        raise ValueError(
            f"KAFKA_TOPIC_PREFIX is {settings.KAFKA_TOPIC_PREFIX!r} here, the run's is "
            f"{config.prefix!r}: the checks read the topics this process's settings name"
        )
    config.run_dir.mkdir(parents=True, exist_ok=True)
    with ExitStack() as exits:
        bootstrap = config.bootstrap
        if bootstrap is None:
            broker = EmbeddedBroker(output=(config.run_dir / "broker.log").open("wb")).start()
            exits.callback(broker.stop)
            bootstrap = broker.bootstrap_servers
        env = base_env(
            DATABASE_URL=config.database_url,
            KAFKA_BOOTSTRAP_SERVERS=bootstrap,
            KAFKA_TOPIC_PREFIX=config.prefix,
            KAFKA_CONSUMER_GROUP=f"{config.prefix}group",
            KAFKA_SESSION_TIMEOUT_MS=str(config.session_timeout_ms),
            KAFKA_MAX_POLL_INTERVAL_MS=str(config.max_poll_interval_ms),
            KAFKA_TOPIC_PARTITIONS=str(max(MIN_PARTITIONS, settings.KAFKA_TOPIC_PARTITIONS)),
            LOG_LEVEL="INFO",
        )
        if config.prepare:
            migrate(env)
            ensure_topics(env)
        if config.fast_seconds:
            _enough_partitions(bootstrap)
        consumers = Consumers(env, config.run_dir, per_topic=config.consumers_per_topic())
        exits.callback(consumers.stop_all)
        consumers.start_first(config.consumers)
        producer, port = start_producer(
            env, config.run_dir, workers=config.producer_workers, threads=4
        )
        exits.callback(producer.stop, 30.0)
        return _soak(config, env, bootstrap, consumers, producer, port)


def _soak(config, env, bootstrap, consumers, producer, port) -> Report:
    rng = random.Random(config.seed)
    group = f"{config.prefix}group"
    ledger = Ledger(config.run_dir / "acks.jsonl")
    driver = Driver(
        port=port, seed=config.seed, clients=config.clients, rate=config.rate, ledger=ledger
    )
    poison = Poison(bootstrap, {kind: topic_name(kind) for kind in KINDS})
    runner = dict(
        consumers=consumers,
        producer=producer,
        database_url=config.database_url,
        outage_s=config.outage_s,
        poison=poison,
        pool=driver.pool,
        run_dir=config.run_dir,
        rng=rng,
    )
    faults = FaultRunner(faults=schedule(config.seconds, rng), **runner)
    say(
        f"soak: run dir {config.run_dir}; {config.seconds:.0f} s of load on "
        f"{connection.vendor}, {len(faults.faults)} faults scheduled"
        + (f", then {config.fast_seconds:.0f} s at full speed" if config.fast_seconds else "")
    )
    started = time.monotonic()
    driver.start()
    fault_thread = threading.Thread(target=faults.run, args=(started,), daemon=True)
    fault_thread.start()
    _progress(
        "soak",
        started,
        config.seconds,
        lambda elapsed: (
            f"acked {ledger.records_acked} ({ledger.records_acked / elapsed:.0f}/s), "
            f"faults {sum(faults.done.values())}"
        ),
    )
    faults.stop()
    fault_thread.join(30)
    driver.stop()
    load_s = time.monotonic() - started
    fast, fast_faults = None, None
    if config.fast_seconds:
        fast_faults = FaultRunner(faults=full_speed_schedule(config.fast_seconds, rng), **runner)
        fast = _full_speed(config, ledger, driver, fast_faults, consumers, producer, port)
    faults_stopped = time.monotonic()
    converge_limit = config.converge_s + ledger.acked_by_phase[PHASE] / CATCH_UP_FLOOR
    converged, last_seen = _converge(config, converge_limit, bootstrap, ledger, consumers)
    converge_s = time.monotonic() - faults_stopped
    say(
        f"soak: {'settled' if converged else 'NOT settled'} {converge_s:.1f} s after the "
        "load stopped; checking"
    )
    checking = time.monotonic()
    errors = driver.errors + faults.errors
    if fast:
        errors += fast["errors"] + fast_faults.errors
    results = [
        checks.Check(
            "0. harness ran cleanly", "no errors", f"{len(errors)} errors", not errors, errors[:5]
        ),
        checks.Check(
            "7. settled: lag 0, outbox empty, all acked stored",
            f"within {converge_limit:.0f} s",
            f"{converge_s:.1f} s" if converged else f"no: {last_seen}",
            converged,
        ),
        checks.check_acknowledged(ledger, bootstrap, group),
        checks.check_assigned_ids(ledger),
        checks.check_dead_letters(poison.produced, bootstrap),
        checks.check_recommendations(),
        checks.check_sports_casefold(),
    ]
    if fast:
        found = reconcile(ledger.receipts(PHASE), checks.stored_ids, bootstrap, group=group)
        fast["missing"] = found.missing_records
        results.append(checks.check_full_speed(fast, found, min_rate=config.fast_min_rate))
    final_codes = consumers.stop_all()
    leave_codes = faults.leave_codes + (fast_faults.leave_codes if fast_faults else [])
    results.append(checks.check_consumers(leave_codes, final_codes, consumers.unexpected))
    results.append(
        checks.check_membership(config.run_dir, config.outage_s, config.max_poll_interval_ms)
    )
    results.sort(key=lambda c: c.name)
    ledger.close()
    chaos_acked = ledger.acked_by_phase["chaos"]
    figures = {
        "database": connection.vendor,
        "load seconds": round(load_s, 1),
        "requests sent": ledger.requests,
        "records sent": ledger.records_sent,
        "records acknowledged": ledger.records_acked,
        "answers": dict(ledger.statuses),
        "acked records/s": round(chaos_acked / load_s, 1),
        "faults": dict(faults.done),
        "consumer starts": consumers.starts,
        "converge seconds": round(converge_s, 1),
        "checks seconds": round(time.monotonic() - checking, 1),
        "poison records": len(poison.produced),
        "offset gaps (sought back; accepted)": checks.offset_gaps(config.run_dir),
    }
    if fast:
        figures["full speed"] = (
            f"{fast['rate']:.0f} acked records/s over {fast['seconds']:.0f} s (slowest "
            f"{WINDOW_S} s: {fast['slowest window']:.0f}/s); {fast['acked']} acked in "
            f"{fast['requests']} arrays; {fast['producer workers']} producer workers, "
            f"{fast['senders']} connections; {fast['consumers a topic']} consumers a topic; "
            f"{fast['kills']} consumer kills; "
            f"missing {fast['missing']}"
        )
    return Report(results, figures, config.run_dir)


def _full_speed(config, ledger, driver, faults, consumers, producer, port) -> dict:
    """The full-speed phase: its load and its fault schedule together; its figures."""
    workers = len(child_pids(producer.pid))
    load = FullSpeed(
        port=port,
        seed=config.seed,
        senders=config.fast_senders,
        ledger=ledger,
        pool=driver.pool,
        limit=config.fast_limit,
    )
    requests_before = ledger.requests
    say(
        f"soak: full speed for {config.fast_seconds:.0f} s: {config.fast_senders} connections "
        f"to {workers} producer workers posting arrays"
        + (f" (at most {config.fast_limit:.0f} records/s); " if config.fast_limit else "; ")
        + ", ".join(f"{f.kind} at {f.at:.0f} s" for f in faults.faults)
    )
    started = time.monotonic()
    fault_thread = threading.Thread(target=faults.run, args=(started,), daemon=True)
    fault_thread.start()
    result = {}
    load_thread = threading.Thread(
        target=lambda: result.update(load.run(config.fast_seconds)), daemon=True
    )
    load_thread.start()
    widest = 0  # the most consumers every topic had at once

    def postfix(elapsed: float) -> str:
        nonlocal widest
        counts = consumers.per_topic_counts()
        widest = max(widest, min(counts.values()))
        acked = ledger.acked_by_phase[PHASE]
        return f"acked {acked} ({acked / elapsed:.0f}/s), consumers {counts}"

    _progress("full speed", started, config.fast_seconds, postfix)
    load_thread.join()
    faults.stop()
    fault_thread.join(30)
    return {
        **result,
        "errors": load.errors,
        "requests": ledger.requests - requests_before,
        "senders": config.fast_senders,
        "producer workers": workers,
        "consumers a topic": widest,
        "kills": faults.done["consumer-kill"],
        "window": WINDOW_S,
    }


def _progress(desc: str, started: float, seconds: float, postfix) -> None:
    from tqdm import tqdm

    with tqdm(total=int(seconds), unit="s", desc=desc, file=sys.stdout, mininterval=5) as bar:
        while (elapsed := time.monotonic() - started) < seconds:
            time.sleep(1)
            bar.set_postfix_str(postfix(max(elapsed, 1)), refresh=False)
            bar.update(min(int(elapsed), int(seconds)) - bar.n)


def _enough_partitions(bootstrap: str) -> None:
    """Two or more consumers per topic need two or more partitions per topic."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    metadata = admin.list_topics(timeout=10).topics
    for kind in KINDS:
        topic = topic_name(kind)
        count = len(metadata[topic].partitions) if topic in metadata else 0
        if count < 2:
            raise RuntimeError(
                f"{topic} has {count} partitions: the full-speed phase runs two consumers a "
                "topic, which needs two or more (KAFKA_TOPIC_PARTITIONS)"
            )


def _converge(config, limit, bootstrap, ledger, consumers) -> tuple[bool, str]:
    """Until lag is 0, the outbox and the parked coupons are empty, every acked record stored
    (for `limit` seconds at most); whether it happened, and what was last seen."""
    deadline = time.monotonic() + limit
    group = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"{config.prefix}group",
            "enable.auto.commit": False,
        }
    )
    try:
        partitions = topic_partitions(group, [topic_name(k) for k in KINDS], 10)
        while time.monotonic() < deadline:
            consumers.watch()
            try:
                seen = {
                    "lag": sum(t.lag for t in lag_by_topic(group, partitions, 10).values()),
                    "outbox": PendingRefresh.objects.count(),
                    "parked": ParkedCoupon.objects.count(),
                }
                # Only once the rest is settled: over a full-speed phase's hundreds of
                # thousands of records it takes CPU the catching-up consumers need.
                if not any(seen.values()):
                    seen["acked not stored"] = checks.missing_acknowledged(ledger)
            except (OperationalError, InterfaceError) as error:
                connection.close()  # a connection the outage ended
                seen = {"database": repr(error)}
            if not any(seen.values()):
                return True, ""
            time.sleep(2)
        seen["group"] = describe_group(bootstrap, f"{config.prefix}group")
        return False, ", ".join(f"{k} {v}" for k, v in seen.items())
    finally:
        group.close()


def describe_group(bootstrap: str, group: str) -> str:
    """The group as the broker describes it: state, and each member's assigned partitions."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    try:
        (future,) = admin.describe_consumer_groups([group], request_timeout=10).values()
        described = future.result()
    except Exception as error:  # the answer is for a person reading the report
        return f"not described: {error!r}"
    members = [
        f"{m.client_id}: {len(m.assignment.topic_partitions) if m.assignment else 0} partitions"
        for m in described.members
    ]
    return f"{described.state} with {len(members)} members ({'; '.join(members)})"


def print_report(report: Report) -> None:
    say("")
    checks.print_table(report.checks, say)
    say("")
    for name, value in report.figures.items():
        say(f"{name:<22} {value}")
    say(f"run dir                {report.run_dir}")
    say("soak: " + ("all checks passed" if report.ok else "FAILED"))
