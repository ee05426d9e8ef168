"""Django admin for the ingested records.

Records normally arrive through Kafka, but the admin is a full editor: an
operator can fix a user, move an event or add a selection by hand. Its
saves and deletes of users, events, coupons and selections go through
`ingest.services`, as the consumers' and the data API's writes do, so
each announces what it changed (`ingest.hooks`). Lists show the columns
people search by, link to related records, and fetch those relations in
the same query (`list_select_related`, annotations) so a page of 100 rows
stays a handful of queries.
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.templatetags.admin_urls import add_preserved_filters
from django.db.models import Count
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from ingest import hooks, services
from ingest.ids import new_id
from ingest.kafka import replay
from ingest.models import (
    Coupon,
    DeadLetter,
    Event,
    MissingReference,
    ParkedCoupon,
    ParticipantPair,
    Selection,
    User,
)
from ingest.services.users import USER_FIELDS


def _change_link(obj, label=None):
    """An HTML link to `obj`'s change page in the admin."""
    if obj is None:
        return "-"
    meta = obj._meta
    url = reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[obj.pk])
    return format_html('<a href="{}">{}</a>', url, label or obj)


def _changelist_link(model, label, **query):
    """An HTML link to `model`'s changelist, filtered by `query`."""
    meta = model._meta
    url = reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist")
    params = "&".join(f"{key}={value}" for key, value in query.items())
    return format_html('<a href="{}?{}">{}</a>', url, params, label)


class WritesThroughServices:
    """Saves and deletes through `ingest.services`: `store(obj)` and `delete(ids)` say which.

    The model form validates as usual; what it produced is then stored by
    the same function a consumer or the data API would call, never by
    `obj.save()` or `queryset.delete()`, and the drains are woken once the
    admin's transaction commits (`hooks.drain_after_commit`), as after a
    data API write.
    """

    def store(self, obj) -> None:
        raise NotImplementedError

    def delete(self, ids: list[int]) -> None:
        raise NotImplementedError

    def save_model(self, request, obj, form, change):
        self.store(obj)
        hooks.drain_after_commit()

    def delete_model(self, request, obj):
        self.delete([obj.pk])
        hooks.drain_after_commit()

    def delete_queryset(self, request, queryset):
        self.delete(list(queryset.values_list("pk", flat=True)))
        hooks.drain_after_commit()


class SourceIdAdmin(admin.ModelAdmin):
    """Ids belong to the source system: a fresh one is offered on add, and it is fixed after."""

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        """The add form comes with a fresh id, leased before the admin's transaction opens.

        Django runs this view in `transaction.atomic`, even for GET; a block
        leased in there would not be shared (`ingest.ids`), so the id is
        taken first and given to the form as the admin's own `?id=` initial
        value (`get_changeform_initial_data` reads the query string).
        """
        if object_id is None and request.method == "GET" and "id" not in request.GET:
            request.GET = request.GET.copy()
            request.GET["id"] = str(new_id())
        return super().changeform_view(request, object_id, form_url, extra_context)

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        return ["id", *fields] if obj is not None else fields


@admin.register(User)
class UserAdmin(WritesThroughServices, SourceIdAdmin):
    list_display = [
        "id",
        "birth_year",
        "country",
        "currency",
        "gender",
        "registration_date",
        "coupons_link",
    ]
    list_filter = ["country", "currency", "gender"]
    search_fields = ["=id", "country", "currency"]
    date_hierarchy = "registration_date"
    show_full_result_count = False

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(coupon_count=Count("coupons"))

    @admin.display(description="coupons", ordering="coupon_count")
    def coupons_link(self, user):
        return _changelist_link(Coupon, user.coupon_count, user__id__exact=user.pk)

    def store(self, user):
        record = {"id": user.pk, **{name: getattr(user, name) for name in USER_FIELDS}}
        services.users_upsert(records=[record])

    def delete(self, ids):
        services.users_delete(user_ids=ids)


@admin.register(ParticipantPair)
class ParticipantPairAdmin(admin.ModelAdmin):
    list_display = ["id", "home", "away", "events_link"]
    search_fields = ["home", "away"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(event_count=Count("events"))

    @admin.display(description="events", ordering="event_count")
    def events_link(self, pair):
        return _changelist_link(Event, pair.event_count, participants__id__exact=pair.pk)


class OpenFilter(admin.SimpleListFilter):
    """Open (not yet ended) or ended events: what recommendations care about."""

    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [("open", "Open"), ("ended", "Ended")]

    def queryset(self, request, queryset):
        if self.value() == "open":
            return queryset.filter(end_timestamp__gt=timezone.now())
        if self.value() == "ended":
            return queryset.filter(end_timestamp__lte=timezone.now())
        return queryset


@admin.register(Event)
class EventAdmin(WritesThroughServices, SourceIdAdmin):
    list_display = [
        "id",
        "sport",
        "league",
        "country",
        "participants_link",
        "begin_timestamp",
        "end_timestamp",
        "selections_count",
    ]
    list_filter = [OpenFilter, "sport_key", "league", "country"]
    search_fields = ["=id", "sport", "league", "participants__home", "participants__away"]
    list_select_related = ["participants"]
    autocomplete_fields = ["participants"]
    readonly_fields = ["sport_key"]
    date_hierarchy = "begin_timestamp"
    show_full_result_count = False

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(selection_count=Count("selections"))

    @admin.display(description="participants", ordering="participants__home")
    def participants_link(self, event):
        return _change_link(event.participants)

    @admin.display(description="selections", ordering="selection_count")
    def selections_count(self, event):
        return _changelist_link(Selection, event.selection_count, event__id__exact=event.pk)

    def store(self, event):
        fields = ["id", "begin_timestamp", "end_timestamp", "country", "league", "sport"]
        record = {name: getattr(event, name) for name in fields}
        services.events_upsert(records=[record | {"participants": event.participants.names}])

    def delete(self, ids):
        services.events_delete(event_ids=ids)


class SelectionInline(admin.TabularInline):
    model = Selection
    extra = 1
    autocomplete_fields = ["event"]
    fields = ["event", "odds", "event_summary"]
    readonly_fields = ["event_summary"]

    @admin.display(description="event")
    def event_summary(self, selection):
        return _change_link(selection.event) if selection.event_id else "-"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("event")


@admin.register(Coupon)
class CouponAdmin(WritesThroughServices, SourceIdAdmin):
    """A coupon and its selections (inline) are stored together, as one record (`save_related`)."""

    list_display = ["id", "user_link", "stake", "timestamp", "selections_count"]
    list_filter = ["user__currency", "user__country", "selections__event__sport_key"]
    search_fields = ["=id", "=user__id"]
    list_select_related = ["user"]
    raw_id_fields = ["user"]
    inlines = [SelectionInline]
    date_hierarchy = "timestamp"
    show_full_result_count = False

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(selection_count=Count("selections", distinct=True))
        )

    @admin.display(description="user", ordering="user")
    def user_link(self, coupon):
        return _change_link(coupon.user)

    @admin.display(description="selections", ordering="selection_count")
    def selections_count(self, coupon):
        return coupon.selection_count

    def save_model(self, request, obj, form, change):
        """Nothing yet: `save_related` stores the coupon with its selections."""

    def save_related(self, request, form, formsets, change):
        """Store the coupon as the form and its selection rows now read, in one service call."""
        (selection_rows,) = (formset for formset in formsets if formset.model is Selection)
        selection_rows.save(commit=False)  # what changed, for the admin's history; no write
        deleted = {selection.pk for selection in selection_rows.deleted_objects}
        kept = [row.instance for row in selection_rows.initial_forms]
        selections = [s for s in kept if s.pk not in deleted] + selection_rows.new_objects
        coupon = form.instance
        record = {
            "id": coupon.pk,
            "user_id": coupon.user_id,
            "stake": coupon.stake,
            "timestamp": coupon.timestamp,
            "selections": [{"event_id": s.event_id, "odds": s.odds} for s in selections],
        }
        services.coupon_put(record=record)
        hooks.drain_after_commit()

    def delete(self, ids):
        services.coupons_delete(coupon_ids=ids)


@admin.register(Selection)
class SelectionAdmin(WritesThroughServices, admin.ModelAdmin):
    list_display = ["id", "coupon_link", "event_link", "sport", "odds"]
    list_filter = ["event__sport_key", "event__league", "event__country"]
    search_fields = ["=coupon__id", "=event__id", "event__league"]
    list_select_related = ["coupon", "event"]
    raw_id_fields = ["coupon"]
    autocomplete_fields = ["event"]

    @admin.display(description="coupon", ordering="coupon")
    def coupon_link(self, selection):
        return _change_link(selection.coupon)

    @admin.display(description="event", ordering="event")
    def event_link(self, selection):
        return _change_link(selection.event)

    @admin.display(description="sport", ordering="event__sport_key")
    def sport(self, selection):
        return selection.event.sport

    def response_change(self, request, obj):
        """Save and continue opens the selection's page: a new row if it moved to another event."""
        response = super().response_change(request, obj)
        if "_continue" in request.POST:
            context = {"preserved_filters": self.get_preserved_filters(request), "opts": self.opts}
            page = reverse("admin:ingest_selection_change", args=[obj.pk])
            response["Location"] = add_preserved_filters(context, page)
        return response

    def store(self, selection):
        selection.pk = services.selection_put(
            selection_id=selection.pk,
            coupon_id=selection.coupon_id,
            event_id=selection.event_id,
            odds=selection.odds,
        )

    def delete(self, ids):
        services.selections_delete(selection_ids=ids)


class MissingReferenceInline(admin.TabularInline):
    model = MissingReference
    extra = 0
    fields = ["kind", "ref_id"]


class ParkedCouponForm(forms.ModelForm):
    """Refuses a change made to a version that is no longer the parked one."""

    seen = forms.CharField(widget=forms.HiddenInput, required=False)

    class Meta:
        model = ParkedCoupon
        fields = ["coupon_id", "payload", "parked_at", "source"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.instance._state.adding:
            self.fields["seen"].initial = self._version()

    def _version(self) -> str:
        return self.instance.parked_at.isoformat()  # a version parked over it resets parked_at

    def clean(self):
        cleaned = super().clean()
        if not self.instance._state.adding and cleaned.get("seen") != self._version():
            raise forms.ValidationError(
                "A newer version of this coupon was parked since this page was opened: "
                "reload it and make the change again."
            )
        return cleaned


@admin.register(ParkedCoupon)
class ParkedCouponAdmin(admin.ModelAdmin):
    """Coupons waiting for their user or events; kept editable so an operator can fix one.

    A save or delete claims the row first (see ingest/parking.py), so it
    neither brings back a coupon a consumer stored or dead-lettered
    meanwhile nor overwrites a newer version parked since the page opened.
    """

    form = ParkedCouponForm
    list_display = ["coupon_id", "parked_at", "waiting_for", "source"]
    search_fields = ["=coupon_id", "source"]
    list_filter = ["missing__kind"]
    inlines = [MissingReferenceInline]
    date_hierarchy = "parked_at"

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("missing")

    def get_object(self, request, object_id, from_field=None):
        """On a save or delete, the claimed row (locked until the admin's transaction ends);
        None, and the admin's "does not exist" message, when it is gone."""
        parked = super().get_object(request, object_id, from_field)
        if parked is None or request.method != "POST":
            return parked
        return self.get_queryset(request).select_for_update().filter(pk=parked.pk).first()

    @admin.display(description="waiting for")
    def waiting_for(self, parked):
        return ", ".join(str(missing) for missing in parked.missing.all())


@admin.register(DeadLetter)
class DeadLetterAdmin(admin.ModelAdmin):
    """A log of what went to dead-letter topics: read it, do not rewrite history."""

    list_display = [
        "created_at",
        "topic",
        "partition",
        "offset",
        "key",
        "short_reason",
        "replay_count",
        "replayed_at",
    ]
    list_filter = ["topic", ("replayed_at", admin.EmptyFieldListFilter), "replay_count"]
    search_fields = ["key", "reason", "topic"]
    date_hierarchy = "created_at"
    actions = ["replay_selected", "replay_selected_again"]

    def has_add_permission(self, request):
        """Consumers write dead letters; one written by hand could be replayed to any topic."""
        return False

    def get_readonly_fields(self, request, obj=None):
        """Dead letters are history."""
        return [
            "topic",
            "partition",
            "offset",
            "key",
            "reason",
            "created_at",
            "published_at",
            "replayed_at",
            "replay_count",
            "replay_chain",
        ]

    def get_exclude(self, request, obj=None):
        return ["replay_of"]  # shown, linked, in replay_chain

    @admin.action(
        description="Replay selected (publish back to their source topic)",
        permissions=["change"],
    )
    def replay_selected(self, request, queryset):
        """What `manage.py replay_dead_letters` does, for the selected dead letters."""
        self._replay(request, queryset, again=False)

    @admin.action(
        description="Replay selected, failed replays too (replay_dead_letters --again)",
        permissions=["change"],
    )
    def replay_selected_again(self, request, queryset):
        self._replay(request, queryset, again=True)

    def _replay(self, request, queryset, *, again: bool):
        skipped = queryset.count() - replay.pending(queryset, again=again).count()
        try:
            count = replay.replay(queryset, again=again)
        except replay.ReplayFailed as error:
            self.message_user(
                request, f"Replayed {replay.counted(error.replayed)}; {error}.", messages.ERROR
            )
            return
        why = "already replayed or not yet published"
        if not again:
            why += ", or a replay that failed again (use the 'failed replays too' action)"
        note = f" {skipped} skipped: {why}." if skipped else ""
        self.message_user(request, f"Replayed {replay.counted(count)}.{note}", messages.SUCCESS)

    @admin.display(description="reason")
    def short_reason(self, letter):
        return letter.reason[:120]

    @admin.display(description="replay chain")
    def replay_chain(self, letter):
        """The dead letters of this message, first to last: each later one a failed replay."""
        chain = replay.chain(letter)
        if len(chain) == 1:
            return "-"
        return format_html_join(
            " → ",
            "{}",
            ((self._link(link, current=link.pk == letter.pk),) for link in chain),
        )

    def _link(self, letter, *, current: bool):
        text = f"#{letter.pk} {letter.created_at:%Y-%m-%d %H:%M:%S}"
        if current:
            return format_html("<strong>{}</strong>", text)
        url = reverse("admin:ingest_deadletter_change", args=[letter.pk])
        return format_html('<a href="{}">{}</a>', url, text)
