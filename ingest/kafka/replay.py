"""Dead-letter replay (docs/operations.md): dead letters back to their source topic, once each.

A dead letter whose cause is gone (a coupon dead-lettered after its parking
time whose user has arrived since, a record refused by a bug since fixed)
is published again to the topic it came from (`DeadLetter.topic`), from its
`DeadLetter` row: the same key and value, the original headers without the
ones the dead letter added, `betreco-replayed` counting the replays and
`betreco-replay-of` naming the row. A consumer then takes it like any other
message: stored if it can be now, dead-lettered again if not, as a new row
that points back at the one replayed (`replay_of`; the admin shows the chain).

Each row is marked `replayed_at` once the broker acknowledged its message
(idempotent producer, `acks=all`), so a second run publishes nothing. A
crash between the acknowledgement and the mark publishes it again on the
next run: at least once, which the consumers' upserts make harmless.
Rows not yet published to their dead-letter topic (`published_at` empty:
the consumer is still at it) are left for a later run, and so are the dead
letters of replays that failed again, unless asked (`again`): a poison
record would otherwise go round for ever, one new dead letter a run.

`manage.py replay_dead_letters` and the admin's "Replay selected" actions
are shells over `replay`.
"""

import logging
from collections.abc import Callable, Iterable

from confluent_kafka import Producer
from django.db.models import QuerySet
from django.utils import timezone

from ingest.kafka.client_config import client_config
from ingest.kafka.logs import with_logging
from ingest.kafka.topics import DEAD_LETTER_HEADERS, Header
from ingest.models import DeadLetter

logger = logging.getLogger(__name__)

REPLAY_HEADERS = frozenset({Header.REPLAYED, Header.REPLAY_OF})
REPLAY_TIMEOUT = 30.0  # seconds the broker has to acknowledge a chunk
CHUNK = 1000  # rows read, published and marked at a time
CHAIN_LIMIT = 20  # links of a replay chain shown each way


class ReplayFailed(Exception):
    """The broker did not acknowledge every message; the acknowledged ones are marked."""

    def __init__(self, message: str, *, replayed: int):
        super().__init__(message)
        self.replayed = replayed


def pending(letters: QuerySet | None = None, *, again: bool = False) -> QuerySet:
    """Of `letters` (default: all), those not replayed yet and already dead-lettered, by age.

    A dead letter of a message that was itself replayed (and failed again)
    is left out unless `again`: replaying it would only make another one,
    a poison record looping for ever.
    """
    letters = DeadLetter.objects.all() if letters is None else letters
    letters = letters.filter(replayed_at__isnull=True, published_at__isnull=False)
    if not again:
        letters = letters.filter(replay_count=0)
    return letters.order_by("id")


def select(
    *, topics: Iterable[str] | None = None, reason: str | None = None, again: bool = False
) -> QuerySet:
    """Dead letters to replay: of these source topics (full names), whose reason holds `reason`."""
    letters = pending(again=again)
    if topics:
        letters = letters.filter(topic__in=list(topics))
    if reason:
        letters = letters.filter(reason__icontains=reason)
    return letters


def replay_headers(letter: DeadLetter) -> list[tuple[str, bytes]]:
    """The original headers, without the dead letter's, the replay count and the letter's id."""
    kept = [
        (name, str(value).encode())
        for name, value in letter.headers
        if name not in DEAD_LETTER_HEADERS and name not in REPLAY_HEADERS
    ]
    return [
        *kept,
        (Header.REPLAYED.value, str(letter.replay_count + 1).encode()),
        (Header.REPLAY_OF.value, str(letter.pk).encode()),
    ]


def chain(letter: DeadLetter, *, longest: int = CHAIN_LIMIT) -> list[DeadLetter]:
    """The dead letters of one message, first to last: each later one a replay that failed.

    Follows `replay_of` back and `replays` forward (at most `longest` each way).
    """
    earlier = []
    link = letter
    while link.replay_of_id and len(earlier) < longest:
        link = DeadLetter.objects.filter(pk=link.replay_of_id).first()
        if link is None:
            break
        earlier.insert(0, link)
    later = []
    link = letter
    while len(later) < longest and (link := link.replays.order_by("id").first()):
        later.append(link)
    return [*earlier, letter, *later]


def describe(letter: DeadLetter) -> str:
    """One line naming the letter, where it came from and why it was dead-lettered."""
    where = f"{letter.topic}[{letter.partition}]@{letter.offset}"
    if letter.partition is None:
        where = letter.topic
    before = letter.replay_count
    again = f" (replayed {before} time{'s' if before != 1 else ''} before)" if before else ""
    return f"#{letter.pk} {where} key {letter.key or '-'}: {letter.reason}{again}"


def counted(count: int) -> str:
    """'1 dead letter', '3 dead letters'."""
    return f"{count} dead letter{'' if count == 1 else 's'}"


def replay_producer(timeout: float = REPLAY_TIMEOUT) -> Producer:
    """The service's producer configuration: idempotent, acks=all; gives up after `timeout`."""
    return Producer(
        with_logging(
            client_config(
                {
                    "enable.idempotence": True,
                    "acks": "all",
                    "message.timeout.ms": max(int(timeout * 1000), 1000),
                }
            )
        )
    )


def replay(
    letters: QuerySet,
    *,
    dry_run: bool = False,
    again: bool = False,
    timeout: float = REPLAY_TIMEOUT,
    report: Callable[[DeadLetter], None] = lambda letter: None,
) -> int:
    """Publish the `pending` ones of `letters` to their source topics; return how many.

    Each is marked replayed once the broker acknowledged it, and `report`ed.
    With `dry_run`, each would-be replay is reported and nothing is
    published or marked. Raises ReplayFailed when the broker did not
    acknowledge all of a chunk within `timeout` (the rest stay pending).
    """
    letters = pending(letters, again=again)
    producer = None if dry_run else replay_producer(timeout)
    count, last_id = 0, 0
    while rows := list(letters.filter(id__gt=last_id)[:CHUNK]):
        last_id = rows[-1].pk
        if dry_run:
            for row in rows:
                report(row)
            count += len(rows)
            continue
        acknowledged, errors = _publish(producer, rows, timeout)
        DeadLetter.objects.filter(pk__in=[row.pk for row in acknowledged]).update(
            replayed_at=timezone.now()
        )
        for row in acknowledged:
            report(row)
        count += len(acknowledged)
        if errors:
            raise ReplayFailed(
                f"the broker did not acknowledge {len(rows) - len(acknowledged)} of "
                f"{len(rows)} dead letters within {timeout:g} s ({errors[0]}); "
                "they stay pending for the next run",
                replayed=count,
            )
    return count


def _publish(producer: Producer, rows: list[DeadLetter], timeout: float):
    """Produce one message per row, wait for the reports; the rows acknowledged, and errors."""
    acknowledged, errors = [], []

    def report(row):
        def on_delivery(error, _message):
            if error is None:
                acknowledged.append(row)
            else:
                errors.append(error.str())

        return on_delivery

    for row in rows:
        producer.produce(
            row.topic,
            key=row.key.encode() or None,
            value=row.value.encode(),
            headers=replay_headers(row),
            on_delivery=report(row),
        )
        logger.debug("replaying %s", describe(row))
    left = producer.flush(timeout)
    if left:
        producer.purge()
        producer.flush(0)
        errors.append(f"{left} not acknowledged")
    acknowledged.sort(key=lambda row: row.pk)
    return acknowledged, errors
