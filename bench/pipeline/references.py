"""Phase 3, raw references on the same broker and the same kind of file: the pipeline's
messages produced and consumed with confluent-kafka alone, and its rows inserted with one
SQLite executemany per table (the same schema, WAL)."""

import shutil
import sqlite3
import statistics
import time
import uuid
from decimal import Decimal

from bench.pipeline.records import KINDS
from bench.pipeline.stack import Stack
from ingest.sports import sport_key


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
