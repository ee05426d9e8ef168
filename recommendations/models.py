"""Each user's current recommendation: a favourite sport and ranked open events.

One row per user (the user is the primary key), replaced in bulk by the
outbox's drain and by full rebuilds. The ranked events live in `RecommendedEvent`
(a through table with the rank), so "which users list event E" is an
indexed lookup, which is what keeps targeted refreshes cheap.
"""

from django.db import models
from django.utils import timezone

from ingest.models import Event, User
from ingest.sports import SPORT_KEY_MAX_LENGTH, SPORT_MAX_LENGTH


class Recommendation(models.Model):
    user = models.OneToOneField(
        User, primary_key=True, on_delete=models.CASCADE, related_name="recommendation"
    )
    sport = models.CharField(
        max_length=SPORT_MAX_LENGTH,
        blank=True,
        help_text="The favourite sport as spelled on its events; "
        "empty for a user with no bets (cold start)",
    )
    sport_key = models.CharField(
        max_length=SPORT_KEY_MAX_LENGTH,
        blank=True,
        db_index=True,
        help_text="Case-folded sport (Event.sport_key); empty: cold start",
    )
    sport_selections = models.PositiveIntegerField(
        default=0, help_text="The user's selections of that sport"
    )
    total_selections = models.PositiveIntegerField(default=0, help_text="All the user's selections")
    events = models.ManyToManyField(Event, through="RecommendedEvent", related_name="+")
    # Denormalised from the ranked events, for the freshness query: a new
    # or more popular event can only enter a list that is short, or whose
    # last event ranks below it.
    event_count = models.PositiveSmallIntegerField(default=0)
    last_event = models.ForeignKey(
        Event, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=True
    )
    reason = models.CharField(max_length=300, help_text="Why these events, for the user")
    engine = models.CharField(max_length=100)
    # Indexed for the status page's "last refresh" (the latest of them).
    generated_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["user"]

    def __str__(self):
        return f"Recommendation for user {self.user_id}: {self.sport or 'most popular'}"


class RecommendedEvent(models.Model):
    """One event in a user's recommendation, at its rank (0 is the best)."""

    recommendation = models.ForeignKey(
        Recommendation, on_delete=models.CASCADE, related_name="ranked"
    )
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="recommended_in")
    rank = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ["recommendation", "rank"]
        constraints = [
            models.UniqueConstraint(
                fields=["recommendation", "rank"], name="unique_rank_per_recommendation"
            )
        ]

    def __str__(self):
        return f"#{self.rank + 1}: event {self.event_id}"


class RankingSnapshot(models.Model):
    """The ranking inputs of one open event as of the last refresh.

    Stored answers were computed from this ranking. A refresh compares it
    with the ranking now: where the two first differ, per sport, tells which
    users' lists can have changed (those whose list reaches that far). Kept
    equal to the open events after every refresh and full rebuild. No
    foreign key: a deleted event must stay here until a refresh notices it.
    """

    event_id = models.BigIntegerField(primary_key=True)
    sport_key = models.CharField(max_length=SPORT_KEY_MAX_LENGTH)
    begin_timestamp = models.DateTimeField()
    end_timestamp = models.DateTimeField()
    popularity = models.PositiveIntegerField()

    class Meta:
        indexes = [
            # In ranking order, for the shared cold-start answer served on read.
            models.Index(
                fields=["-popularity", "begin_timestamp", "event_id"], name="snapshot_rank_order"
            ),
            # Events that ended since the last refresh, which leave lists without a write.
            models.Index(fields=["end_timestamp"], name="snapshot_end"),
        ]

    def __str__(self):
        return f"event {self.event_id}: {self.popularity} selections"


class PendingRefresh(models.Model):
    """The outbox: one thing a committed change still owes the stored answers.

    Written in the same transaction as the change it comes from (by the
    receivers in `recommendations.signals`), and deleted in the same
    transaction as the answers that settle it (`outbox.refresh_pending`),
    so a process killed at any instant leaves the debt here for whoever
    drains next. Duplicates are fine: a drain coalesces everything pending.
    """

    class Scope(models.TextChoices):
        USER = "user", "a user's bets changed"
        EVENT = "event", "an event was written (its sport or times may have changed)"
        POPULARITY = "popularity", "an event's selections changed"

    id = models.BigAutoField(primary_key=True)
    scope = models.CharField(max_length=10, choices=Scope.choices)
    ref_id = models.BigIntegerField(help_text="The user's or event's id")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        verbose_name_plural = "pending refreshes"
        # "Is this user's answer owed a refresh?", asked on read.
        indexes = [models.Index(fields=["scope", "ref_id"], name="pending_refresh_lookup")]

    def __str__(self):
        return f"{self.scope} {self.ref_id}"


class RebuildRequest(models.Model):
    """A requested rebuild of every user's answer, pending until `finished_at` is set.

    Whoever drains the outbox next claims it with a lease (renewed after
    every chunk of users), so one process rebuilds at a time and a rebuild
    cut short by a crash is taken over once its lease runs out. The
    progress fields are what the command and the status page show.
    """

    requested_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True, db_index=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    owner = models.CharField(max_length=200, blank=True, help_text="host:pid rebuilding it")
    users_total = models.PositiveIntegerField(default=0)
    users_done = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-id"]

    def __str__(self):
        state = "finished" if self.finished_at else f"{self.users_done}/{self.users_total}"
        return f"rebuild #{self.pk} ({state})"


class SnapshotVersion(models.Model):
    """A counter bumped by every write of `RankingSnapshot` (one row).

    A drain computes its answers before it takes the write lock, so that
    writers of records are not held up by the computation; under the lock
    it writes them only if no other drain or rebuild wrote the snapshot
    meanwhile (the version is unchanged), and computes again otherwise.
    """

    version = models.BigIntegerField(default=0)

    def __str__(self):
        return f"snapshot version {self.version}"
