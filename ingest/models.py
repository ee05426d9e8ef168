"""The ingested betting domain: users, events, participant pairs, coupons.

Ids are owned by the source system (64-bit integers), so primary keys are
plain BigIntegerFields, never sequences: storing the same record twice is an
upsert on the same row.
"""

from django.db import models
from django.utils import timezone

from ingest.sports import SPORT_KEY_MAX_LENGTH, SPORT_MAX_LENGTH, sport_key


class Gender(models.TextChoices):
    MALE = "M", "Male"
    FEMALE = "F", "Female"
    OTHER = "X", "Other / unspecified"


class User(models.Model):
    id = models.BigIntegerField(primary_key=True)
    birth_year = models.PositiveSmallIntegerField()
    country = models.CharField(max_length=2, help_text="ISO 3166-1 alpha-2")
    currency = models.CharField(max_length=3, help_text="ISO 4217")
    gender = models.CharField(max_length=1, choices=Gender.choices)
    registration_date = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["country"]), models.Index(fields=["currency"])]

    def __str__(self):
        return f"User {self.id}"


class ParticipantPair(models.Model):
    """The two sides of an event, stored once and shared by every event between them."""

    home = models.CharField(max_length=200)
    away = models.CharField(max_length=200)

    class Meta:
        ordering = ["home", "away"]
        constraints = [
            models.UniqueConstraint(fields=["home", "away"], name="unique_participant_pair")
        ]

    def __str__(self):
        return f"{self.home} vs {self.away}"

    @property
    def names(self) -> list[str]:
        return [self.home, self.away]


class EventQuerySet(models.QuerySet):
    """Keeps `sport_key` the folded `sport` on the bulk writes, which skip `Event.save()`."""

    def bulk_create(self, objs, *args, update_fields=None, **kwargs):
        objs = list(objs)
        for event in objs:
            event.sport_key = sport_key(event.sport)
        if update_fields and "sport" in update_fields and "sport_key" not in update_fields:
            update_fields = [*update_fields, "sport_key"]
        return super().bulk_create(objs, *args, update_fields=update_fields, **kwargs)

    def bulk_update(self, objs, fields, *args, **kwargs):
        if "sport" in fields:
            objs = list(objs)
            for event in objs:
                event.sport_key = sport_key(event.sport)
            if "sport_key" not in fields:
                fields = [*fields, "sport_key"]
        return super().bulk_update(objs, fields, *args, **kwargs)

    def update(self, **kwargs):
        # With both given, the caller folded them (bulk_update() ends here, with a Case()).
        if "sport" in kwargs and "sport_key" not in kwargs:
            if not isinstance(kwargs["sport"], str):
                raise TypeError(
                    "Event.objects.update(sport=...) takes a string: its key is folded in "
                    "Python (ingest.sports.sport_key), not by the database. Save the events "
                    "or bulk_update() them instead."
                )
            kwargs["sport_key"] = sport_key(kwargs["sport"])
        return super().update(**kwargs)


class Event(models.Model):
    id = models.BigIntegerField(primary_key=True)
    begin_timestamp = models.DateTimeField()
    end_timestamp = models.DateTimeField()
    country = models.CharField(max_length=2, help_text="ISO 3166-1 alpha-2")
    league = models.CharField(max_length=200)
    sport = models.CharField(max_length=SPORT_MAX_LENGTH)
    # Sports compare case-insensitively: "FÚTBOL" and "fútbol" are one.
    # Folded in Python (the databases' lower() differ), by save() and EventQuerySet.
    sport_key = models.CharField(
        max_length=SPORT_KEY_MAX_LENGTH,
        editable=False,
        help_text="The sport case-folded (ingest.sports.sport_key): what sports compare by",
    )
    participants = models.ForeignKey(
        ParticipantPair, on_delete=models.PROTECT, related_name="events"
    )

    objects = EventQuerySet.as_manager()

    class Meta:
        ordering = ["begin_timestamp", "id"]
        indexes = [
            models.Index(fields=["sport_key", "end_timestamp"]),
            models.Index(fields=["end_timestamp"]),
            models.Index(fields=["league"]),
            models.Index(fields=["country"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(begin_timestamp__lt=models.F("end_timestamp")),
                name="event_begins_before_it_ends",
            )
        ]

    def __str__(self):
        return f"Event {self.id}: {self.sport} {self.league}"

    def save(self, *args, update_fields=None, **kwargs):
        # A derived column, so kept here rather than by every caller (the
        # admin, factories, update_or_create); bulk writes: EventQuerySet.
        self.sport_key = sport_key(self.sport)
        if update_fields is not None and "sport" in update_fields:
            update_fields = {*update_fields, "sport_key"}
        super().save(*args, update_fields=update_fields, **kwargs)


class Coupon(models.Model):
    id = models.BigIntegerField(primary_key=True)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="coupons")
    stake = models.DecimalField(max_digits=14, decimal_places=2)
    timestamp = models.DateTimeField(default=timezone.now)
    events = models.ManyToManyField(Event, through="Selection", related_name="coupons")

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["user", "timestamp"])]
        constraints = [
            models.CheckConstraint(condition=models.Q(stake__gt=0), name="stake_positive")
        ]

    def __str__(self):
        return f"Coupon {self.id}"


class Selection(models.Model):
    """One event on a coupon, at the odds the user took."""

    coupon = models.ForeignKey(Coupon, on_delete=models.CASCADE, related_name="selections")
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="selections")
    odds = models.DecimalField(max_digits=10, decimal_places=4)

    class Meta:
        ordering = ["coupon", "id"]
        constraints = [
            models.UniqueConstraint(fields=["coupon", "event"], name="unique_event_per_coupon"),
            models.CheckConstraint(condition=models.Q(odds__gt=1), name="odds_above_one"),
        ]

    def __str__(self):
        return f"{self.event_id} @ {self.odds}"


class ParkedCoupon(models.Model):
    """A valid coupon whose user or events have not been stored yet.

    Consumers of different topics run independently, so a coupon can arrive
    before what it references. It waits here (durably, in the same
    transaction as the batch that read it) and is stored as soon as the
    missing rows arrive, or dead-lettered once older than
    PARKED_TIMEOUT_SECONDS.
    """

    coupon_id = models.BigIntegerField(primary_key=True)
    payload = models.JSONField(help_text="The validated record, as received")
    parked_at = models.DateTimeField(default=timezone.now, db_index=True)
    source = models.CharField(max_length=300, blank=True, help_text="topic/partition/offset")

    class Meta:
        ordering = ["parked_at"]

    def __str__(self):
        return f"Parked coupon {self.coupon_id}"


class MissingReference(models.Model):
    """One row a parked coupon waits for, so arrivals find their waiters by index."""

    class Kind(models.TextChoices):
        USER = "user"
        EVENT = "event"

    parked = models.ForeignKey(ParkedCoupon, on_delete=models.CASCADE, related_name="missing")
    kind = models.CharField(max_length=5, choices=Kind.choices)
    ref_id = models.BigIntegerField()

    class Meta:
        indexes = [models.Index(fields=["kind", "ref_id"])]
        constraints = [
            models.UniqueConstraint(
                fields=["parked", "kind", "ref_id"], name="unique_missing_reference"
            )
        ]

    def __str__(self):
        return f"{self.kind} {self.ref_id}"


class DeadLetter(models.Model):
    """A record of each message sent to a dead-letter topic, for `kafka_status`.

    It keeps the dead-letter message itself (value and headers), so one
    written before it could be published (a parked coupon that expired) is
    published from here after the commit: `published_at` stays empty until
    the broker acknowledged it. `manage.py replay_dead_letters` publishes it
    back to its source topic and sets `replayed_at`, so it is replayed once;
    a replay that fails again comes back as a new row pointing at this one
    (`replay_of`), which the next run leaves alone unless told `--again`.
    """

    topic = models.CharField(max_length=200)
    partition = models.IntegerField(null=True)
    offset = models.BigIntegerField(null=True)
    key = models.CharField(max_length=100, blank=True)
    reason = models.TextField()
    value = models.TextField(blank=True, help_text="The original message's value")
    headers = models.JSONField(default=list, blank=True, help_text="The dead letter's headers")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    published_at = models.DateTimeField(null=True, blank=True, db_index=True)
    replayed_at = models.DateTimeField(
        null=True,
        blank=True,
        db_index=True,
        help_text="When it was published back to its source topic (replay_dead_letters)",
    )
    replay_count = models.PositiveIntegerField(
        default=0,
        help_text="How many times its message had been replayed before it failed (not "
        "replayed again without --again)",
    )
    # No database constraint: the id comes from a message header, which must never
    # fail the consumer's batch; a dangling one reads as "unknown".
    replay_of = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        db_constraint=False,
        related_name="replays",
        help_text="The dead letter whose replay failed again as this one",
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["topic", "partition", "offset"], name="unique_dead_letter_source"
            )
        ]

    def __str__(self):
        return f"{self.topic}[{self.partition}]@{self.offset}: {self.reason[:60]}"


class ConsumerStat(models.Model):
    """Records a consumer handled in one time bucket of one topic, for the status page.

    Consumers add to these rows (`ingest.kafka.reporting`) so that whatever
    process serves `/status` reads the same figures; several consumers of
    one topic add to the same row. Pruned after about a day.
    """

    topic = models.CharField(max_length=200)
    bucket = models.BigIntegerField(
        help_text="Unix time (seconds) of the bucket's start, a multiple of its length"
    )
    stored = models.PositiveIntegerField(default=0, help_text="Records stored or parked")
    dead_lettered = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["bucket", "topic"]
        indexes = [models.Index(fields=["bucket"], name="consumer_stat_bucket")]
        constraints = [
            models.UniqueConstraint(fields=["topic", "bucket"], name="unique_consumer_stat")
        ]

    def __str__(self):
        return f"{self.topic} @ {self.bucket}: {self.stored} stored"


class PartitionLag(models.Model):
    """The latest lag a consumer saw on one partition it owns, for the status page."""

    topic = models.CharField(max_length=200)
    partition = models.IntegerField()
    end_offset = models.BigIntegerField(help_text="The partition's high watermark")
    committed = models.BigIntegerField(help_text="The group's committed offset")
    lag = models.BigIntegerField()
    consumer = models.CharField(max_length=300, help_text="host:pid of the consumer that saw it")
    reported_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["topic", "partition"]
        constraints = [
            models.UniqueConstraint(fields=["topic", "partition"], name="unique_partition_lag")
        ]

    def __str__(self):
        return f"{self.topic}[{self.partition}]: lag {self.lag}"


class IdCounter(models.Model):
    """The next id to lease to a process that assigns ids (`ingest.ids`): one row, only rising.

    Unmanaged: migration 0006 creates its table and its one row, and
    `flush` (which Django's TransactionTestCase runs after every test)
    leaves it alone. Emptied and refilled at 2**40, it would lease again
    ids that running processes still hand out from their blocks.
    """

    id = models.PositiveSmallIntegerField(primary_key=True)
    next_id = models.BigIntegerField(help_text="The first id of the next block to lease")

    class Meta:
        managed = False
        db_table = "ingest_id_counter"

    def __str__(self):
        return f"next id {self.next_id}"


class DerivedIdRange(models.Model):
    """The number of one range of derived ids (`ingest.ids.range_numbers`); never changed.

    A record that arrives on a topic without an id gets 2**52 + (number <<
    32 | offset's low 32 bits), where the number belongs to its message's
    topic, the topic's incarnation (the broker's topic id: a topic deleted
    and created again, or any topic of an embedded broker that restarted,
    has a new one), partition and offset >> 32. Numbers never repeat, so two
    places never share an id, and a row once written is never changed, so a
    replay of the message finds the same number (docs/records.md, "Derived ids").
    """

    topic = models.CharField(max_length=249)  # Kafka's longest topic name
    topic_id = models.CharField(
        max_length=64, blank=True, help_text="The broker's topic id; empty if it reports none"
    )
    partition = models.IntegerField()
    chunk = models.BigIntegerField(help_text="Offset >> 32: the range covers 2**32 offsets")
    number = models.IntegerField(primary_key=True, help_text="0 to 2**20 - 1")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "ingest_derived_id_range"
        ordering = ["number"]
        constraints = [
            models.UniqueConstraint(
                fields=["topic", "topic_id", "partition", "chunk"], name="unique_derived_id_range"
            ),
            models.CheckConstraint(
                condition=models.Q(number__gte=0, number__lt=2**20),
                name="derived_id_range_number_fits",
            ),
        ]

    def __str__(self):
        return f"{self.topic}[{self.partition}] chunk {self.chunk} ({self.topic_id}): {self.number}"
