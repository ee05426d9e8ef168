"""One-topic consumers joining consumers over all three topics (docs/consumers.md: Assignment).

This is how an operator scales out on PostgreSQL: the processes over all
three topics are replaced by one process per topic, in the same group, so
for a while its members subscribe to different topics. With the
`cooperative-sticky` assignor, librdkafka 2.16's group leader crashed
(SIGSEGV in its sticky assignor) in every such switch tried while records
flowed; the consumer uses the eager `range` assignor, which assigns each
topic's partitions among that topic's subscribers alone.

The second test churns bare members built from the consumer's own client
configuration (`tests/e2e/group_member.py`) through the same switch: with
`cooperative-sticky` the oldest member died with SIGSEGV in every one of 8
such switches of a scratch script (gdb: `rd_kafka_sticky_assignor_assign_cb`
→ `performReassignments` → `processPartitionMovement`), with `range` in
none of 5; in these tests, `cooperative-sticky` more often left a new
member without an assignment for over a minute (docs/reliability.md).
"""

import contextlib
import signal
import sys
import threading
import time

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from betreco import processes
from ingest.models import User
from tests.kafka_pipeline import wait_until
from tests.records import user

pytestmark = [pytest.mark.kafka, pytest.mark.django_db(transaction=True)]

KINDS = ("users", "events", "coupons")
CHUNK = 50
PACE = 0.05  # seconds between chunks: about 1,000 users a second


def assigned(consumer) -> bool:
    return "assigned" in consumer.log


def join(consumers, everyone, what: str) -> None:
    """Waits until `consumers` have had an assignment, failing at once if a member died."""
    alive = [c for c in everyone if c not in consumers]

    def joined_or_died():
        return any(not c.alive() for c in alive) or all(map(assigned, consumers))

    try:
        wait_until(joined_or_died, timeout=60, what=what)
    except pytest.fail.Exception as failure:
        pytest.fail(f"{failure}\n{logs_of(everyone)}")
    assert all(c.alive() for c in everyone), logs_of(everyone)


def logs_of(consumers) -> str:
    """Each consumer's exit code (None: running; -11: SIGSEGV) and log, for a failure."""
    return "\n\n".join(
        f"== {c.log_path.name}: exit {c.exit_code()}\n{c.log[-3000:]}" for c in consumers
    )


def test_one_topic_consumers_replacing_three_topic_consumers_keep_every_member_alive(pipeline):
    every_topic = [pipeline.start_consumer(*KINDS, "--batch-size", "100") for _ in range(3)]
    join(every_topic, every_topic, "the first members")

    produced: list[int] = []
    flowing = threading.Event()
    flowing.set()

    def produce_while_switching():
        next_id = 1
        while flowing.is_set():
            chunk = range(next_id, next_id + CHUNK)
            pipeline.produce("users", [user(pk) for pk in chunk])
            produced.extend(chunk)
            next_id += CHUNK
            time.sleep(PACE)

    producer = threading.Thread(target=produce_while_switching)
    producer.start()
    try:
        one_topic = [pipeline.start_consumer(kind) for kind in KINDS]
        join(one_topic, every_topic + one_topic, "one-topic joins")
        for consumer in every_topic[:2]:  # two leave as the second three come
            consumer.signal(signal.SIGTERM)
        second = [pipeline.start_consumer(kind) for kind in KINDS]
        leaving = [consumer.wait() for consumer in every_topic[:2]]
        assert leaving == [0, 0], logs_of(every_topic + one_topic)
        join(second, [every_topic[2], *one_topic, *second], "the second joins")
    finally:
        flowing.clear()
        producer.join()

    wait_until(
        lambda: User.objects.count() == len(produced), timeout=60, what="every user produced"
    )
    members = [every_topic[2], *one_topic, *second]
    assert all(c.alive() for c in members), logs_of(members)
    for consumer in members:
        consumer.signal(signal.SIGTERM)
    assert [consumer.wait() for consumer in members] == [0] * len(members)


@contextlib.contextmanager
def records_flowing(bootstrap: str, topics: list[str]):
    """Produces to every topic (up to a few thousand records a second) until the block ends."""
    flowing = threading.Event()
    flowing.set()

    def produce():
        producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
        while flowing.is_set():
            for number in range(CHUNK):
                for topic in topics:
                    producer.produce(topic, key=str(number), value=b"{}")
            producer.flush(30)  # the broker's pace, never a full local queue
            time.sleep(PACE)

    producer = threading.Thread(target=produce)
    producer.start()
    try:
        yield
    finally:
        flowing.clear()
        producer.join()


def bare_member(pipeline, group: str, *topics: str) -> processes.Process:
    name = f"member-{len(pipeline.processes)}"
    member = processes.start(
        name,
        [sys.executable, "-m", "tests.e2e.group_member", *topics],
        # 6 s, not the suite's 3 s: nine members on a loaded 2-core machine, and a member
        # that misses its heartbeats starts yet another eager rebalance of all of them.
        pipeline.env(KAFKA_CONSUMER_GROUP=group, KAFKA_SESSION_TIMEOUT_MS=6000),
        pipeline.log_dir / f"{name}.log",
    )
    pipeline.processes.append(member)
    return member


def test_the_group_leader_survives_the_switch_to_one_topic_members(pipeline):
    topics = [f"{pipeline.prefix}switch.{kind}" for kind in KINDS]
    admin = AdminClient({"bootstrap.servers": pipeline.bootstrap})
    created = admin.create_topics(
        [NewTopic(topic, num_partitions=4, replication_factor=1) for topic in topics]
    )
    for future in created.values():
        future.result(30)
    group = f"{pipeline.prefix}switch"
    with records_flowing(pipeline.bootstrap, topics):
        every_topic = [bare_member(pipeline, group, *topics) for _ in range(3)]
        join(every_topic, every_topic, "the first members")
        one_topic = [bare_member(pipeline, group, topic) for topic in topics]
        join(one_topic, every_topic + one_topic, "one-topic joins")
        for member in every_topic[:2]:
            member.signal(signal.SIGTERM)
        second = [bare_member(pipeline, group, topic) for topic in topics]
        join(second, [every_topic[2], *one_topic, *second], "the second joins")
    everyone = [*every_topic, *one_topic, *second]
    for member in everyone:
        member.signal(signal.SIGTERM)
    codes = [member.wait() for member in everyone]
    assert codes == [0] * len(codes), logs_of(everyone)
