"""Acknowledged records reconciled against the database by where their 202 put them.

The producer's 202 names each record's topic, partition and offset. A record
whose id the database does not hold is missing; its offsets, merged into
ranges per partition, are read back from the broker, which tells a consumer
that skipped them (the broker still holds them, keys matching) from a broker
that lost them. With the consumer group named, each range also says whether
the group has committed past it: then the records will never be stored, and
waiting longer for them is pointless.

Shared by the soak (soak/checks.py) and the pipeline bench (bench/pipeline/rows.py).
It needs no Django: the caller says which ids its database holds.
"""

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from confluent_kafka import Consumer, TopicPartition

SHOWN_RANGES = 20  # ranges spelled out in a report; the rest are counted
READ_RANGES = 200  # ranges read back from the broker at most
READ_SPAN = 20_000  # offsets read back from one range at most
READ_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Receipt:
    """One acknowledged record: its id and where the producer's 202 said it went."""

    kind: str
    record_id: int
    topic: str
    partition: int
    offset: int


def receipts_of(kind: str, answer) -> list[Receipt]:
    """The receipts of a 202 answer to `POST /<kind>`: one object, or a list of them."""
    items = answer if isinstance(answer, list) else [answer]
    return [
        Receipt(kind, int(r["id"]), r["topic"], int(r["partition"]), int(r["offset"]))
        for r in items
    ]


@dataclass
class Range:
    """Consecutive acknowledged offsets of one partition whose records are not stored."""

    topic: str
    partition: int
    first: int
    last: int
    keys: dict[int, str]  # offset -> the key (record id) acknowledged there
    held: int | None = None  # how many the broker still holds with that key; None: not read
    broker: str = "not read"  # what reading them back found
    committed: int | None = None  # the group's committed offset of the partition, if asked

    @property
    def passed(self) -> bool:
        """The group has committed past the range: its records will never be stored."""
        return self.committed is not None and self.committed > self.last

    def describe(self) -> str:
        span = (
            f"offset {self.first}"
            if self.first == self.last
            else f"offsets {self.first}-{self.last}"
        )
        where = f"{self.topic}[{self.partition}] {span} ({len(self.keys)} acknowledged records)"
        group = ""
        if self.committed is not None:
            group = f"; the group committed {self.committed}: " + (
                "passed them, they will never be stored" if self.passed else "not there yet"
            )
        return f"{where}: {self.broker}{group}"


@dataclass
class Reconciliation:
    records: int  # distinct acknowledged records
    receipts: int  # 202 receipts (a record posted again has more than one)
    missing: list[Receipt] = field(default_factory=list)  # receipts of records not stored
    ranges: list[Range] = field(default_factory=list)

    @property
    def missing_records(self) -> int:
        return len({(r.kind, r.record_id) for r in self.missing})

    @property
    def ok(self) -> bool:
        return not self.missing

    @property
    def passed(self) -> int:
        """Missing records the group has committed past (lost for good)."""
        return len({(r.topic, r.partition, o) for r in self.ranges if r.passed for o in r.keys})

    def summary(self) -> str:
        if self.ok:
            return f"all {self.records} acknowledged records stored"
        held = sum(r.held or 0 for r in self.ranges)
        read = sum(len(r.keys) for r in self.ranges if r.held is not None)
        return (
            f"{self.missing_records} of {self.records} acknowledged records NOT STORED, at "
            f"{len(self.missing)} offsets in {len(self.ranges)} ranges; the broker still holds "
            f"{held} of the {read} read back"
        )

    def lines(self, shown: int = SHOWN_RANGES) -> list[str]:
        """The summary, then one line per missing range (the first `shown` of them)."""
        if self.ok:
            return [self.summary()]
        found = [self.summary()]
        found += [r.describe() for r in self.ranges[:shown]]
        if len(self.ranges) > shown:
            found.append(f"... and {len(self.ranges) - shown} more ranges")
        return found


def reconcile(
    receipts: Iterable[Receipt],
    stored_ids: Callable[[str, list[int]], set[int]],
    bootstrap: str | None = None,
    *,
    group: str | None = None,
) -> Reconciliation:
    """Which acknowledged records the database lacks, by topic, partition and offset.

    `stored_ids(kind, ids)` answers which of `ids` the database holds. With
    `bootstrap`, the missing offsets are read back from the broker; with
    `group` too, each range gets that group's committed offset.
    """
    by_record: dict[tuple[str, int], list[Receipt]] = {}
    count = 0
    for receipt in receipts:
        count += 1
        by_record.setdefault((receipt.kind, receipt.record_id), []).append(receipt)
    result = Reconciliation(records=len(by_record), receipts=count)
    for kind in sorted({kind for kind, _ in by_record}):
        ids = [record_id for k, record_id in by_record if k == kind]
        present: set[int] = set()
        for start in range(0, len(ids), 500):
            present |= stored_ids(kind, ids[start : start + 500])
        for record_id in ids:
            if record_id not in present:
                result.missing += by_record[(kind, record_id)]
    result.ranges = offset_ranges(result.missing)
    if bootstrap and result.ranges:
        _read_back(bootstrap, result.ranges, group)
    return result


def offset_ranges(receipts: Iterable[Receipt]) -> list[Range]:
    """Receipts merged into runs of consecutive offsets, per topic and partition, in order."""
    ordered = sorted(receipts, key=lambda r: (r.topic, r.partition, r.offset))
    ranges: list[Range] = []
    for r in ordered:
        last = ranges[-1] if ranges else None
        if (
            last
            and (last.topic, last.partition) == (r.topic, r.partition)
            and r.offset <= last.last + 1
        ):
            last.last = max(last.last, r.offset)
            last.keys[r.offset] = str(r.record_id)
        else:
            ranges.append(
                Range(r.topic, r.partition, r.offset, r.offset, {r.offset: str(r.record_id)})
            )
    return ranges


def _read_back(bootstrap: str, ranges: list[Range], group: str | None) -> None:
    """Fill in what the broker holds at each range (and the group's committed offsets)."""
    reader = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"reconcile-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    try:
        for index, where in enumerate(ranges):
            if index >= READ_RANGES:
                where.broker = f"not read back (only the first {READ_RANGES} ranges are)"
                continue
            _read_range(reader, where)
    finally:
        reader.close()
    if group:
        _committed(bootstrap, group, ranges)


def _read_range(reader: Consumer, where: Range) -> None:
    partition = TopicPartition(where.topic, where.partition)
    try:
        low, high = reader.get_watermark_offsets(partition, timeout=READ_TIMEOUT_S)
    except Exception as error:  # the answer is for a person reading the report
        where.broker = f"watermarks not read: {error!r}"
        return
    last = min(where.last, where.first + READ_SPAN - 1)
    found: dict[int, str] = {}
    reader.assign([TopicPartition(where.topic, where.partition, where.first)])
    while True:
        message = reader.poll(READ_TIMEOUT_S)
        if message is None:
            break
        if message.error():
            continue
        found[message.offset()] = (message.key() or b"").decode(errors="replace")
        if message.offset() >= last:
            break
    reader.unassign()
    read = {o: k for o, k in where.keys.items() if o <= last}
    where.held = sum(1 for o, key in read.items() if found.get(o) == key)
    other = sum(1 for o in read if o in found and found[o] != read[o])
    absent = len(read) - where.held - other
    parts = [f"the broker still holds {where.held} of {len(read)} (keys match)"]
    if other:
        parts.append(f"{other} hold another key")
    if absent:
        parts.append(f"{absent} absent")
    if len(read) < len(where.keys):
        parts.append(f"{len(where.keys) - len(read)} not read")
    where.broker = ", ".join(parts) + f" (log {low}..{high})"


def _committed(bootstrap: str, group: str, ranges: list[Range]) -> None:
    reader = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False}
    )
    try:
        partitions = sorted({(r.topic, r.partition) for r in ranges})
        answer = reader.committed([TopicPartition(t, p) for t, p in partitions], timeout=10)
        offsets = {(tp.topic, tp.partition): tp.offset for tp in answer}
    finally:
        reader.close()
    for where in ranges:
        committed = offsets.get((where.topic, where.partition), -1)
        where.committed = committed if committed >= 0 else None
