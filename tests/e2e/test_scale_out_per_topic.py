"""One consumer process per topic, scaled out and killed while records flow
(docs/consumers.md#assignment).

This is how `make run` starts consumers on PostgreSQL, and the group shape
that is safe with the default `cooperative-sticky` assignor: every process
over one topic from the start. (A group where processes over all three
topics meet one-topic processes crashed librdkafka 2.16's sticky assignor in
its leader; docs/reliability.md, Findings.) Scaling each topic to two
processes and killing one of them must keep every other member alive, and
every acknowledged record must be stored.
"""

import contextlib
import signal
import threading
import time

import pytest

from ingest.models import Event, User
from tests.kafka_pipeline import wait_until
from tests.records import event, user

pytestmark = [pytest.mark.kafka, pytest.mark.django_db(transaction=True)]

KINDS = ("users", "events", "coupons")
CHUNK = 50
PACE = 0.05  # seconds between chunks: about 1,000 users and 1,000 events a second


def assigned(consumer) -> bool:
    return "assigned" in consumer.log


def logs_of(consumers) -> str:
    """Each consumer's exit code (None: running; -11: SIGSEGV) and log, for a failure."""
    return "\n\n".join(
        f"== {c.log_path.name}: exit {c.exit_code()}\n{c.log[-3000:]}" for c in consumers
    )


def join(consumers, everyone, what: str) -> None:
    """Waits until `consumers` have had an assignment, failing at once if a member died."""
    others = [c for c in everyone if c not in consumers]

    def joined_or_died():
        return any(not c.alive() for c in others) or all(map(assigned, consumers))

    try:
        wait_until(joined_or_died, timeout=60, what=what)
    except pytest.fail.Exception as failure:
        pytest.fail(f"{failure}\n{logs_of(everyone)}")
    assert all(c.alive() for c in everyone), logs_of(everyone)


@contextlib.contextmanager
def users_and_events_flowing(pipeline):
    """Produces users and events until the block ends; yields the ids produced."""
    produced: list[int] = []
    flowing = threading.Event()
    flowing.set()

    def produce():
        next_id = 1
        while flowing.is_set():
            chunk = range(next_id, next_id + CHUNK)
            pipeline.produce("users", [user(pk) for pk in chunk])
            pipeline.produce("events", [event(pk) for pk in chunk])
            produced.extend(chunk)
            next_id += CHUNK
            time.sleep(PACE)

    producer = threading.Thread(target=produce)
    producer.start()
    try:
        yield produced
    finally:
        flowing.clear()
        producer.join()


def test_one_process_per_topic_scaled_out_and_killed_keeps_the_group_and_every_record(pipeline):
    first = [pipeline.start_consumer(kind) for kind in KINDS]
    join(first, first, "one process per topic")
    with users_and_events_flowing(pipeline) as produced:
        second = [pipeline.start_consumer(kind) for kind in KINDS]
        join(second, first + second, "a second process per topic")
        first[0].signal(signal.SIGKILL)  # the oldest member, likely the group's leader
        first[0].wait()
        replacement = pipeline.start_consumer(KINDS[0])
        members = [*first[1:], *second, replacement]
        join([replacement], members, "the killed one's replacement")

    wait_until(
        lambda: User.objects.count() == Event.objects.count() == len(produced),
        timeout=60,
        what="every user and event produced",
    )
    assert all(c.alive() for c in members), logs_of(members)
    for consumer in members:
        consumer.signal(signal.SIGTERM)
    codes = [consumer.wait() for consumer in members]
    assert codes == [0] * len(members), logs_of(members)
