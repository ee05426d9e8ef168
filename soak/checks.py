"""What the soak proves once the pipeline has settled, each as a row: check, expected, found, ok.

Runs in the harness's own process through the ORM, on the soak's database
(and the broker, for the dead-letter topics and, for a record that went
missing, what the broker holds at the offset it acknowledged).
"""

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from confluent_kafka import Consumer, TopicPartition

from ingest.ids import MAX_ASSIGNED_ID
from ingest.kafka.topics import Header, dead_letter_topic, topic_name
from ingest.models import Coupon, DeadLetter, Event, ParkedCoupon, User
from soak.driver import Ledger
from soak.processes import KINDS
from soak.reconcile import Reconciliation, reconcile

SHOWN = 5  # failures spelled out per check


@dataclass
class Check:
    name: str
    expected: str
    found: str
    ok: bool
    notes: list[str] = field(default_factory=list)


def _user(record: dict) -> tuple:
    return (record["birth_year"], record["country"], record["currency"], record["gender"])


def _event(record: dict) -> tuple:
    return (
        datetime.fromisoformat(record["begin_timestamp"]),
        datetime.fromisoformat(record["end_timestamp"]),
        record["country"],
        record["league"],
        record["sport"],
        tuple(record["participants"]),
    )


def _coupon(record: dict) -> tuple:
    selections = sorted((int(s["event_id"]), Decimal(s["odds"])) for s in record["selections"])
    return (
        int(record["user_id"]),
        Decimal(record["stake"]),
        datetime.fromisoformat(record["timestamp"]),
        tuple(selections),
    )


def stored_records(kind: str, ids: list[int]) -> dict[int, tuple]:
    """The stored fields of `ids`, in the shape `_user`/`_event`/`_coupon` give a record."""
    if kind == "users":
        rows = User.objects.filter(id__in=ids).values_list(
            "id", "birth_year", "country", "currency", "gender"
        )
        return {row[0]: tuple(row[1:]) for row in rows}
    if kind == "events":
        rows = Event.objects.filter(id__in=ids).values_list(
            "id",
            "begin_timestamp",
            "end_timestamp",
            "country",
            "league",
            "sport",
            "participants__home",
            "participants__away",
        )
        return {r[0]: (*r[1:6], (r[6], r[7])) for r in rows}
    found = {}
    for coupon in Coupon.objects.filter(id__in=ids).prefetch_related("selections"):
        selections = sorted((s.event_id, s.odds) for s in coupon.selections.all())
        found[coupon.id] = (coupon.user_id, coupon.stake, coupon.timestamp, tuple(selections))
    return found


SHAPES = {"users": _user, "events": _event, "coupons": _coupon}


def _chunks(ids: list[int], size: int = 500):
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def acknowledged_expectations(ledger: Ledger) -> dict[tuple[str, int], tuple[list, int]]:
    """Per acknowledged record: the versions it may be stored as (the last acknowledged one
    first, then any later attempt that was not answered 202 but may have been produced),
    and the index of the last acknowledged attempt in its history."""
    found = {}
    for key, history in ledger.attempts.items():
        acked = [i for i, attempt in enumerate(history) if attempt.status == 202]
        if acked:
            last = acked[-1]
            found[key] = ([a.record for a in history[last:]], last)
    return found


def missing_acknowledged(ledger: Ledger) -> int:
    """How many acknowledged records are not stored yet (for the convergence wait)."""
    missing = 0
    wanted = acknowledged_expectations(ledger)
    for kind in KINDS:
        ids = [record_id for (k, record_id) in wanted if k == kind]
        model = MODELS[kind]
        present = 0
        for chunk in _chunks(ids):
            present += model.objects.filter(id__in=chunk).count()
        missing += len(ids) - present
    return missing


MODELS = {"users": User, "events": Event, "coupons": Coupon}


def stored_ids(kind: str, ids: list[int]) -> set[int]:
    """Which of `ids` the database holds (for soak/reconcile.py)."""
    return set(MODELS[kind].objects.filter(id__in=ids).values_list("id", flat=True))


def check_acknowledged(ledger: Ledger, bootstrap: str, group: str | None = None) -> Check:
    wanted = acknowledged_expectations(ledger)
    counts = {"last": 0, "later": 0, "missing": 0, "older": 0, "other": 0}
    notes = []
    for kind in KINDS:
        shape = SHAPES[kind]
        ids = [record_id for (k, record_id) in wanted if k == kind]
        stored = {}
        for chunk in _chunks(ids):
            stored |= stored_records(kind, chunk)
        for record_id in ids:
            allowed, last = wanted[(kind, record_id)]
            history = ledger.attempts[(kind, record_id)]
            row = stored.get(record_id)
            if row is None:
                counts["missing"] += 1
            elif row == shape(allowed[0]):
                counts["last"] += 1
            elif any(row == shape(r) for r in allowed[1:]):
                counts["later"] += 1
            elif any(row == shape(a.record) for a in history[:last]):
                counts["older"] += 1
                if counts["older"] <= SHOWN:
                    notes.append(
                        f"{kind} {record_id}: stored {row} is an OLDER version than the last "
                        f"acknowledged {shape(allowed[0])} (acked at {history[last].receipt})"
                    )
            else:
                counts["other"] += 1
                if counts["other"] <= SHOWN:
                    notes.append(f"{kind} {record_id}: stored {row}, expected {shape(allowed[0])}")
    total = len(wanted)
    good = counts["last"] + counts["later"]
    found = (
        f"{good} ({counts['later']} as a later unacknowledged attempt); missing "
        f"{counts['missing']}, older version {counts['older']}, other {counts['other']}"
    )
    if counts["missing"]:  # where their 202s put them, and what the broker holds there
        notes += reconcile(ledger.receipts(), stored_ids, bootstrap, group=group).lines()
    if counts["later"]:
        notes.append(
            f"{counts['later']} stored as an attempt sent after the last 202 that got no 202 "
            "(it may still have been produced): accepted"
        )
    return Check(
        "1. acknowledged records stored once, last version", f"{total}", found, good == total, notes
    )


def _reader(bootstrap: str) -> Consumer:
    return Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"soak-reader-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )


def check_assigned_ids(ledger: Ledger) -> Check:
    ids = [record_id for _, record_id in ledger.assigned]
    distinct = len(set(ids))
    bad = [i for i in ids if not 0 < i <= MAX_ASSIGNED_ID]
    stored = 0
    for kind in KINDS:
        mine = [i for k, i in ledger.assigned if k == kind]
        model = MODELS[kind]
        for chunk in _chunks(mine):
            stored += model.objects.filter(id__in=chunk).count()
    notes = [f"largest assigned id {max(ids)} (2^53-1 = {MAX_ASSIGNED_ID})"] if ids else []
    if bad:
        notes.append(f"{len(bad)} ids out of 1..2^53-1, e.g. {bad[:3]}")
    ok = bool(ids) and distinct == len(ids) and not bad and stored == len(ids)
    found = f"{len(ids)} ids, {distinct} distinct, {len(ids) - len(bad)} in range, {stored} stored"
    return Check("2. assigned ids unique, 1..2^53-1, stored", f"{len(ids)} each", found, ok, notes)


def check_dead_letters(poison: list[dict], bootstrap: str) -> Check:
    expected = {(p["topic"], p["key"]) for p in poison}
    rows = set(DeadLetter.objects.values_list("topic", "key"))
    reasons = dict(DeadLetter.objects.values_list("key", "reason"))
    on_topics = _dead_letter_topics(bootstrap)
    parked = ParkedCoupon.objects.count()
    notes = []
    for topic, key in sorted(rows - expected)[:SHOWN]:
        notes.append(f"UNEXPECTED dead letter {topic} key {key}: {reasons.get(key, '')[:200]}")
    for topic, key in sorted(expected - rows)[:SHOWN]:
        notes.append(f"poison {topic} key {key} has no DeadLetter row")
    for topic, key in sorted(expected - on_topics)[:SHOWN]:
        notes.append(f"poison {topic} key {key} is not on {dead_letter_topic(topic)}")
    for topic, key in sorted(on_topics - expected)[:SHOWN]:
        notes.append(f"UNEXPECTED message on {dead_letter_topic(topic)}: key {key}")
    if parked:
        notes.append(f"{parked} coupons still parked")
    ok = rows == expected and on_topics == expected and not parked
    found = (
        f"{len(rows & expected)} rows + {len(on_topics & expected)} on .dlq; extra "
        f"{len(rows - expected)} rows, {len(on_topics - expected)} on .dlq; parked {parked}"
    )
    return Check(
        "3. poison dead-lettered, nothing else",
        f"{len(expected)}; 0 extra; 0 parked",
        found,
        ok,
        notes,
    )


def _dead_letter_topics(bootstrap: str) -> set[tuple[str, str]]:
    """(original topic, key) of every message on the three dead-letter topics."""
    reader = _reader(bootstrap)
    found = set()
    try:
        for kind in KINDS:
            topic = dead_letter_topic(topic_name(kind))
            metadata = reader.list_topics(topic, timeout=10).topics[topic]
            for partition in metadata.partitions:
                low, high = reader.get_watermark_offsets(TopicPartition(topic, partition), 10)
                if high <= low:
                    continue
                reader.assign([TopicPartition(topic, partition, low)])
                while True:
                    message = reader.poll(5)
                    if message is None:
                        break
                    if message.error():
                        continue
                    headers = {k: v.decode() for k, v in message.headers() or []}
                    original = headers.get(Header.ORIGINAL_TOPIC.value, topic_name(kind))
                    found.add((original, (message.key() or b"").decode()))
                    if message.offset() + 1 >= high:
                        break
    finally:
        reader.close()
    return found


def check_recommendations() -> Check:
    from tests.recommendations.conftest import from_scratch, stored_answers

    served, fresh = stored_answers(), from_scratch()
    differ = sorted(
        uid for uid in fresh.keys() | served.keys() if served.get(uid) != fresh.get(uid)
    )
    notes = [
        f"user {uid}: served {served.get(uid)} != from scratch {fresh.get(uid)}"
        for uid in differ[:SHOWN]
    ]
    return Check(
        "4. served recommendations == from scratch",
        f"{len(fresh)} users equal",
        f"{len(fresh) - len(differ)} equal, {len(differ)} differ",
        not differ,
        notes,
    )


def check_sports_casefold() -> Check:
    keys: dict[str, set[str]] = {}
    for sport, key in Event.objects.values_list("sport", "sport_key").distinct():
        keys.setdefault(sport.casefold(), set()).add(key)
    split = {sport: sorted(k) for sport, k in keys.items() if len(k) > 1}
    notes = [f"'{sport}' is {len(k)} sports: {k}" for sport, k in split.items()]
    return Check(
        "5. sports that casefold alike are one sport",
        f"{len(keys)} sports",
        f"{len(keys) - len(split)} one key, {len(split)} split",
        not split,
        notes,
    )


def check_consumers(leave_codes, final_codes, unexpected) -> Check:
    left = [code for _, code in leave_codes]
    finals = list(final_codes.values())
    notes = [f"{name} exited by itself with {code}; log {path}" for name, code, path in unexpected]
    notes += [f"{name} left with {code}" for name, code in leave_codes if code != 0]
    notes += [f"{name} stopped with {code}" for name, code in final_codes.items() if code != 0]
    ok = bool(left) and not unexpected and all(c == 0 for c in left + finals)
    found = f"leave {left}, final {finals}, exited by themselves {len(unexpected)}"
    return Check("6. SIGTERM exits 0; no consumer dies by itself", "all 0; none", found, ok, notes)


# What librdkafka logs when the application stopped polling and it left the group.
LEFT_ON_MAX_POLL = "maximum poll interval"


def left_on_max_poll(run_dir) -> list[str]:
    """Consumer log lines saying a consumer left its group on the poll interval."""
    return [
        f"{log.name}: {line.strip()}"
        for log in sorted(run_dir.glob("consumer-*.log"))
        for line in log.read_text(errors="replace").splitlines()
        if LEFT_ON_MAX_POLL in line
    ]


def offset_gaps(run_dir) -> str:
    """Gaps the consumers sought back over (betreco_offset_gaps_total, from their logs) and
    gaps they accepted as empty after the wait (an ERROR each; none expected here)."""
    logs = [p.read_text(errors="replace") for p in sorted(run_dir.glob("consumer-*.log"))]
    sought = sum(log.count("not received yet: seeking back") for log in logs)
    accepted = sum(log.count("accepting the gap") for log in logs)
    return f"{sought}; {accepted}"


def check_membership(run_dir, outage_s: float, max_poll_interval_ms: int) -> Check:
    """The outage outlasted max.poll.interval.ms, and no consumer left its group on the poll
    interval in the whole run (the full-speed phase's slow batches included)."""
    lines = left_on_max_poll(run_dir)
    longer = outage_s * 1000 > max_poll_interval_ms
    return Check(
        "8. membership kept through the outage",
        f"outage > {max_poll_interval_ms} ms; 0 left",
        f"outage {outage_s * 1000:.0f} ms; {len(lines)} left on max poll",
        longer and not lines,
        lines[:SHOWN],
    )


def check_full_speed(figures: dict, found: Reconciliation, *, min_rate: float) -> Check:
    """The full-speed phase: its rate, its producer workers and consumers per topic, its
    kills, and every record it had acknowledged stored (reconciled by topic, partition and
    offset; a shortfall lists the missing ranges and what the broker still holds there).
    """
    rate, kills, consumers = figures["rate"], figures["kills"], figures["consumers a topic"]
    ok = (
        rate >= min_rate
        and figures["producer workers"] >= 8
        and consumers >= 2
        and kills >= 1
        and found.ok
    )
    notes = found.lines() if not found.ok else []
    if rate < min_rate:
        notes.append(f"{rate:.0f} acknowledged records/s is below {min_rate:.0f}")
    return Check(
        "9. full speed: every 202 stored",
        f">= {min_rate:.0f}/s; 8 workers; 2 a topic; missing 0",
        f"{rate:.0f}/s ({figures['acked']} acked in {figures['seconds']:.0f} s, slowest "
        f"{figures['window']} s {figures['slowest window']:.0f}/s); {figures['producer workers']} "
        f"workers, {consumers} consumers a topic, {kills} kills; missing {found.missing_records}",
        ok,
        notes,
    )


def print_table(checks: list[Check], write) -> None:
    widths = [max(len(c.name) for c in checks), 30, 60]
    write(f"{'check':<{widths[0]}} | {'expected':<{widths[1]}} | {'found':<{widths[2]}} | ok")
    write("-" * (sum(widths) + 14))
    for c in checks:
        write(
            f"{c.name:<{widths[0]}} | {c.expected:<{widths[1]}} | {c.found:<{widths[2]}} | "
            f"{'ok' if c.ok else 'FAIL'}"
        )
        for note in c.notes:
            write(f"{'':<{widths[0]}}   - {note}")
