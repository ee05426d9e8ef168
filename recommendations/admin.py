"""Admin: each user's recommendation with its ranked events and reason.

The user page (registered by `ingest.admin`) is extended here, not there,
so that the ingest app does not depend on this one: the same `UserAdmin`,
plus read-only fields showing the favourite sport and current
recommendation.
"""

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from ingest import admin as ingest_admin
from ingest.models import User
from recommendations import selectors
from recommendations.models import (
    PendingRefresh,
    RebuildRequest,
    Recommendation,
    RecommendedEvent,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows the service writes and derives itself: read only."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class OwedWorkAdmin(ReadOnlyAdmin):
    """Rows that say what work is still owed: deleting one would lose that work for good.

    A deleted outbox row leaves the answers it owes stale until something
    else happens to reach those users; a deleted rebuild request is never
    run. Both settle themselves (the next drain, a lease that runs out), so
    there is nothing to clear by hand. Stored answers stay deletable: a user
    without one gets an answer computed on read, and deleting a user in the
    admin must be able to take its answer along.
    """

    def has_delete_permission(self, request, obj=None):
        return False


class RecommendedEventInline(admin.TabularInline):
    model = RecommendedEvent
    extra = 0
    fields = ["rank", "event", "sport", "begin", "end"]
    readonly_fields = fields
    can_delete = False
    ordering = ["rank"]

    def has_add_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("event")

    @admin.display(description="sport")
    def sport(self, entry):
        return entry.event.sport

    @admin.display(description="begins")
    def begin(self, entry):
        return entry.event.begin_timestamp

    @admin.display(description="ends")
    def end(self, entry):
        return entry.event.end_timestamp


@admin.register(Recommendation)
class RecommendationAdmin(ReadOnlyAdmin):
    """Stored answers are derived data: read them here, rebuild them with the command."""

    list_display = ["user", "sport", "reason", "event_count", "engine", "generated_at"]
    list_filter = ["sport_key", "engine"]
    search_fields = ["=user__id", "sport"]
    date_hierarchy = "generated_at"
    show_full_result_count = False
    inlines = [RecommendedEventInline]
    readonly_fields = [
        "user",
        "sport",
        "sport_key",
        "reason",
        "sport_selections",
        "total_selections",
        "event_count",
        "last_event",
        "engine",
        "generated_at",
    ]


@admin.register(PendingRefresh)
class PendingRefreshAdmin(OwedWorkAdmin):
    """The outbox: what committed changes still owe the stored answers (empty when all is fresh)."""

    list_display = ["id", "scope", "ref_id", "created_at"]
    list_filter = ["scope"]
    show_full_result_count = False


@admin.register(RebuildRequest)
class RebuildRequestAdmin(OwedWorkAdmin):
    """Full rebuilds, requested and run, with their progress."""

    list_display = [
        "id",
        "requested_at",
        "started_at",
        "users_done",
        "users_total",
        "finished_at",
        "owner",
    ]


def _current(user):
    """The user's recommendation as the API serves it (cold start computed on read)."""
    if not (user and user.pk):
        return None
    return selectors.recommendation_current(user_id=user.pk)


class UserAdmin(ingest_admin.UserAdmin):
    """The ingest user page, plus the user's favourite sport and current recommendation."""

    readonly_fields = [
        *getattr(ingest_admin.UserAdmin, "readonly_fields", []),
        "favourite_sport",
        "current_recommendation",
    ]

    @admin.display(description="favourite sport")
    def favourite_sport(self, user):
        current = _current(user)
        if current is None:
            return "-"
        recommendation = current.recommendation
        return recommendation.reason if recommendation.sport_key else "none yet (no bets)"

    @admin.display(description="recommended events")
    def current_recommendation(self, user):
        current = _current(user)
        if current is None:
            return "-"
        events = format_html_join(
            ", ",
            '<a href="{}">{}</a>',
            ((reverse("admin:ingest_event_change", args=[e.pk]), str(e)) for e in current.events),
        )
        if not current.recommendation.sport_key:
            return format_html("{} (the shared cold-start answer)", events or "none")
        url = reverse("admin:recommendations_recommendation_change", args=[user.pk])
        return format_html('{} (<a href="{}">details</a>)', events or "none", url)


if admin.site.is_registered(User):
    admin.site.unregister(User)
admin.site.register(User, UserAdmin)
