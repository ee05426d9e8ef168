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
from ingest.kafka.lag import lag_by_topic, topic_partitions
from ingest.kafka.topics import topic_name
from ingest.models import ParkedCoupon
from recommendations.models import PendingRefresh
from soak import checks
from soak.driver import Driver, Ledger
from soak.faults import FaultRunner, Poison, schedule
from soak.processes import (
    KINDS,
    Consumers,
    base_env,
    ensure_topics,
    manage,
    new_prefix,
    start_gunicorn,
)


@dataclass
class SoakConfig:
    seconds: float  # of load and faults
    database_url: str  # the run's own database (made by the caller)
    run_dir: Path
    seed: int = 1
    clients: int = 4
    rate: float = 40.0  # requests/s over all clients
    consumers: int = 2
    producer_workers: int = 3
    session_timeout_ms: int = 6000
    max_poll_interval_ms: int = 10000
    outage_s: float = 15.0
    converge_s: float = 300.0
    bootstrap: str | None = None  # a running broker; else an embedded one for the run
    prefix: str = field(default_factory=lambda: new_prefix())
    prepare: bool = True  # migrate the database and create the topics


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
            LOG_LEVEL="INFO",
        )
        if config.prepare:
            manage(env, "migrate", "--no-input", "-v", "0")
            ensure_topics(env)
        consumers = Consumers(env, config.run_dir)
        exits.callback(consumers.stop_all)
        for _ in range(config.consumers):
            consumers.start()
        producer, port = start_gunicorn(
            "producer", env, config.run_dir, workers=config.producer_workers, threads=4
        )
        exits.callback(producer.stop)
        return _soak(config, env, bootstrap, consumers, producer, port)


def _soak(config, env, bootstrap, consumers, producer, port) -> Report:
    rng = random.Random(config.seed)
    ledger = Ledger(config.run_dir / "acks.jsonl")
    driver = Driver(
        port=port, seed=config.seed, clients=config.clients, rate=config.rate, ledger=ledger
    )
    poison = Poison(bootstrap, {kind: topic_name(kind) for kind in KINDS})
    faults = FaultRunner(
        faults=schedule(config.seconds, rng),
        consumers=consumers,
        producer=producer,
        database_url=config.database_url,
        outage_s=config.outage_s,
        poison=poison,
        pool=driver.pool,
        run_dir=config.run_dir,
        rng=rng,
    )
    say(
        f"soak: run dir {config.run_dir}; {config.seconds:.0f} s of load on "
        f"{connection.vendor}, {len(faults.faults)} faults scheduled"
    )
    started = time.monotonic()
    driver.start()
    fault_thread = threading.Thread(target=faults.run, args=(started,), daemon=True)
    fault_thread.start()
    _progress(started, config.seconds, ledger, faults)
    faults.stop()
    fault_thread.join(30)
    driver.stop()
    load_s = time.monotonic() - started
    faults_stopped = time.monotonic()
    converged, last_seen = _converge(config, bootstrap, ledger, consumers)
    converge_s = time.monotonic() - faults_stopped
    say(
        f"soak: {'settled' if converged else 'NOT settled'} {converge_s:.1f} s after the "
        "faults stopped; checking"
    )
    results = [
        checks.Check(
            "0. harness ran cleanly",
            "no errors",
            f"{len(driver.errors) + len(faults.errors)} errors",
            not driver.errors and not faults.errors,
            driver.errors[:5] + faults.errors,
        ),
        checks.Check(
            "7. settled: lag 0, outbox empty, all acked stored",
            f"within {config.converge_s:.0f} s",
            f"{converge_s:.1f} s" if converged else f"no: {last_seen}",
            converged,
        ),
        checks.check_acknowledged(ledger, bootstrap),
        checks.check_assigned_ids(ledger),
        checks.check_dead_letters(poison.produced, bootstrap),
        checks.check_recommendations(),
        checks.check_sports_casefold(),
    ]
    final_codes = consumers.stop_all()
    results.append(checks.check_consumers(faults.leave_codes, final_codes, consumers.unexpected))
    results.append(
        checks.check_membership(config.run_dir, config.outage_s, config.max_poll_interval_ms)
    )
    results.sort(key=lambda c: c.name)
    ledger.close()
    figures = {
        "database": connection.vendor,
        "load seconds": round(load_s, 1),
        "requests sent": ledger.requests,
        "records sent": ledger.records_sent,
        "records acknowledged": ledger.records_acked,
        "answers": dict(ledger.statuses),
        "acked records/s": round(ledger.records_acked / load_s, 1),
        "faults": dict(faults.done),
        "consumer starts": consumers.starts,
        "converge seconds": round(converge_s, 1),
        "poison records": len(poison.produced),
    }
    return Report(results, figures, config.run_dir)


def _progress(started: float, seconds: float, ledger: Ledger, faults: FaultRunner) -> None:
    from tqdm import tqdm

    with tqdm(total=int(seconds), unit="s", desc="soak", file=sys.stdout, mininterval=5) as bar:
        while (elapsed := time.monotonic() - started) < seconds:
            time.sleep(1)
            bar.set_postfix_str(
                f"acked {ledger.records_acked} ({ledger.records_acked / max(elapsed, 1):.0f}/s), "
                f"faults {sum(faults.done.values())}",
                refresh=False,
            )
            bar.update(min(int(elapsed), int(seconds)) - bar.n)


def _converge(config, bootstrap, ledger, consumers) -> tuple[bool, str]:
    """Until lag is 0, the outbox and the parked coupons are empty, every acked record stored;
    whether it happened, and what was last seen."""
    deadline = time.monotonic() + config.converge_s
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
                    "acked not stored": checks.missing_acknowledged(ledger),
                }
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
