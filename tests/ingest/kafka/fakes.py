"""Stand-ins for confluent-kafka's objects, for unit tests where a broker adds nothing.

They answer only what the module under test asks (a message's place,
value and headers; a consumer's committed offsets and log start; a
producer's deliveries), so a test states its broker's behaviour in a line
instead of arranging it on a real one. End-to-end behaviour is tested with
the real broker in tests/e2e/.
"""

import json

from confluent_kafka import OFFSET_INVALID, TIMESTAMP_CREATE_TIME, KafkaException, TopicPartition

from ingest.kafka.topics import SCHEMA_VERSION, Header


class FakeMessage:
    """A consumed message: its place, and optionally its key, value, headers and timestamp."""

    def __init__(
        self,
        topic: str,
        partition: int,
        offset: int,
        *,
        value: bytes | None = None,
        key: bytes | None = None,
        headers: list[tuple[str, bytes]] | None = None,
        timestamp: tuple[int, int] = (TIMESTAMP_CREATE_TIME, 1_900_000_000_000),
    ):
        self._place = (topic, partition, offset)
        self._value, self._key, self._headers = value, key, headers
        self._timestamp = timestamp

    def topic(self):
        return self._place[0]

    def partition(self):
        return self._place[1]

    def offset(self):
        return self._place[2]

    def value(self):
        return self._value

    def key(self):
        return self._key

    def headers(self):
        return self._headers

    def timestamp(self):
        return self._timestamp

    def error(self):
        return None


def record_message(topic: str, partition: int, offset: int, record, **options) -> FakeMessage:
    """A message in our format: `record` (a dict, or raw bytes as they are) on `topic`.

    The kind is the topic's (`users`, `events`, `coupons`), named in the
    schema headers as our producer sends them.
    """
    kind = topic.rsplit(".", 1)[-1]
    value = record if isinstance(record, bytes) else json.dumps(record).encode()
    headers = [
        (Header.SCHEMA.value, kind.encode()),
        (Header.SCHEMA_VERSION.value, SCHEMA_VERSION.encode()),
    ]
    key = str(record["id"]).encode() if isinstance(record, dict) and "id" in record else None
    return FakeMessage(topic, partition, offset, value=value, key=key, headers=headers, **options)


def messages(topic, partition, offsets):
    """Messages (places only) at `offsets` of one partition."""
    return [FakeMessage(topic, partition, offset) for offset in offsets]


def offsets_of(admitted):
    return [(m.topic(), m.partition(), m.offset()) for m in admitted]


class Assigned:
    """A fake consumer's assignment: (topic, partition) pairs, changed as librdkafka's are."""

    def __init__(self, assigned=()):
        self.assigned = [TopicPartition(topic, partition) for topic, partition in assigned]

    def assignment(self):
        return list(self.assigned)

    def assign(self, partitions):
        self.assigned = list(partitions)

    def incremental_assign(self, partitions):
        self.assigned += [tp for tp in partitions if tp not in self.assigned]


class FakeConsumer(Assigned):
    """Committed offsets and a log start per partition; records every seek and commit.

    `assigned`: its partitions; `refuse_commits`: a commit raises, as when the
    group is rebalancing or the broker is away.
    """

    def __init__(self, committed=None, log_start=0, broken=False, assigned=()):
        self.committed_offsets = committed or {}
        self.log_start = log_start
        self.broken = broken
        super().__init__(assigned)
        self.refuse_commits = False
        self.seeks: list[tuple[str, int, int]] = []
        self.commits: list[dict[tuple[str, int], int]] = []

    def commit(self, offsets, asynchronous):
        if self.refuse_commits:
            raise KafkaException("the group is rebalancing")
        self.commits.append({(tp.topic, tp.partition): tp.offset for tp in offsets})
        for tp in offsets:
            self.committed_offsets[(tp.topic, tp.partition)] = tp.offset
        return offsets

    def subscribe(self, topics, on_assign, on_revoke, on_lost):
        self.subscribed = (topics, on_assign, on_revoke, on_lost)

    def pause(self, partitions):
        pass

    def resume(self, partitions):
        pass

    def poll(self, timeout):
        return None

    def close(self):
        self.closed = True

    def committed(self, partitions, timeout):
        if self.broken:
            raise KafkaException("broker unavailable")
        return [
            TopicPartition(
                tp.topic,
                tp.partition,
                self.committed_offsets.get((tp.topic, tp.partition), OFFSET_INVALID),
            )
            for tp in partitions
        ]

    def get_watermark_offsets(self, tp, timeout, cached):
        return self.log_start, 1_000_000

    def seek(self, tp):
        self.seeks.append((tp.topic, tp.partition, tp.offset))


class ScriptedConsumer(FakeConsumer):
    """Hands out one scripted fetch per consume() call, running `before[n]()` before call n."""

    def __init__(self, fetches, before=None, **kwargs):
        super().__init__(**kwargs)
        self.fetches = list(fetches)
        self.before = before or {}
        self.calls = 0

    def consume(self, limit, timeout):
        self.calls += 1
        if self.calls in self.before:
            self.before[self.calls]()
        return self.fetches.pop(0) if self.fetches else []


class PollingConsumer(Assigned):
    """Counts pauses, resumes and polls of its partitions; runs `on_poll` at the first poll
    (a rebalance served while the loop waits)."""

    def __init__(self, assigned=(("users", 0),)):
        super().__init__(assigned)
        self.paused = self.resumed = self.polls = 0
        self.on_poll = None

    def pause(self, partitions):
        self.paused += 1

    def resume(self, partitions):
        self.resumed += 1

    def poll(self, timeout):
        self.polls += 1
        if self.polls == 1 and self.on_poll:
            self.on_poll()
        return None


class FakeProducer:
    """Acknowledges what it is given at `flush` (or refuses all of it when `down`); keeps it."""

    def __init__(self, down: bool = False):
        self.down = down
        self.published: list[dict] = []
        self._queued: list[tuple[dict, object]] = []

    def produce(self, topic, key=None, value=None, headers=None, on_delivery=None):
        message = {"topic": topic, "key": key, "value": value, "headers": list(headers or [])}
        self._queued.append((message, on_delivery))

    def flush(self, timeout=None):
        if self.down:
            return len(self._queued)
        for message, on_delivery in self._queued:
            self.published.append(message)
            if on_delivery:
                on_delivery(None, message)
        self._queued = []
        return 0

    def purge(self, *args, **kwargs):
        self._queued = []

    def poll(self, timeout):
        return 0


class Clock:
    """A monotonic clock a test moves by hand (`clock.now += 5`)."""

    def __init__(self, now: float = 100.0):
        self.now = now

    def __call__(self):
        return self.now
