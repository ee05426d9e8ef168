"""Query parameters of the list endpoints, as django-filter FilterSets.

A FilterSet both validates the parameters (a bad value is a 400 naming
the parameter: `?gender=Z`, `?country=Atlantis`, `?ordering=stake_x`) and
documents them: drf-spectacular builds the OpenAPI parameters from it.
Codes are checked by the one validation path (`ingest.validation`), so a
filter accepts exactly what a record may carry (`GRC` and `UK` too).
The selectors apply these FilterSets; views only name them for the schema.
"""

import django_filters
from django import forms
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ingest.ids import MAX_ID
from ingest.models import Coupon, Event, Gender, User
from ingest.sports import sport_key
from ingest.validation import normalize_country, normalize_currency

ORDERING = "Sort by these fields, comma-separated; `-` before one sorts it descending."


def _form_error(normalize):
    """A form field cleaner from one of the validation module's normalizers."""

    def clean(value: str) -> str:
        try:
            return normalize(value)
        except serializers.ValidationError as error:
            # The message quotes the value, which may hold a '%': pass it as a parameter.
            raise forms.ValidationError(
                [forms.ValidationError("%(reason)s", params={"reason": m}) for m in error.detail]
            ) from None

    return clean


class CountryField(forms.CharField):
    def to_python(self, value):
        value = super().to_python(value)
        return _form_error(normalize_country)(value) if value else value


class CurrencyField(forms.CharField):
    def to_python(self, value):
        value = super().to_python(value)
        return _form_error(normalize_currency)(value) if value else value


class SportKeyField(forms.CharField):
    """A sport name as its key (`ingest.sports.sport_key`), the way events store it."""

    def to_python(self, value):
        return sport_key(super().to_python(value))


class UppercaseChoiceField(django_filters.fields.ChoiceField):
    def to_python(self, value):
        return super().to_python(value).upper()


@extend_schema_field(
    {"type": "string", "description": "ISO 3166-1: alpha-2, alpha-3 or `UK` (e.g. `GR`, `GRC`)."}
)
class CountryFilter(django_filters.CharFilter):
    field_class = CountryField


@extend_schema_field({"type": "string", "description": "ISO 4217 (e.g. `EUR`)."})
class CurrencyFilter(django_filters.CharFilter):
    field_class = CurrencyField


class SportFilter(django_filters.CharFilter):
    """A sport compared as docs/records.md says: `?sport=FÚTBOL` finds "fútbol" events too."""

    field_class = SportKeyField


class UppercaseChoiceFilter(django_filters.ChoiceFilter):
    """A choice compared case-insensitively: `?gender=f` is `F`."""

    field_class = UppercaseChoiceField


@extend_schema_field(
    {"type": "integer", "format": "int64", "minimum": 0, "maximum": MAX_ID, "description": "An id."}
)
class RecordIdFilter(django_filters.NumberFilter):
    """A source-owned 64-bit id: anything else is a 400, never a database overflow."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 0)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(*args, **kwargs)


class StableOrderingFilter(django_filters.OrderingFilter):
    """`?ordering=field` or `-field` (descending), comma-separated; ties broken by id,
    so pages never repeat or skip a record."""

    def filter(self, qs, value):
        qs = super().filter(qs, value)
        if value and not {"id", "-id"} & set(value):
            qs = qs.order_by(*qs.query.order_by, "id")
        return qs


class UserFilter(django_filters.FilterSet):
    country = CountryFilter()
    currency = CurrencyFilter()
    gender = UppercaseChoiceFilter(choices=Gender.choices, help_text="Case-insensitive.")
    ordering = StableOrderingFilter(
        fields=("id", "birth_year", "registration_date"), label=ORDERING
    )

    class Meta:
        model = User
        fields = []


class EventFilter(django_filters.FilterSet):
    sport = SportFilter(field_name="sport_key", help_text="Case-insensitive.")
    league = django_filters.CharFilter(lookup_expr="iexact", help_text="Case-insensitive.")
    country = CountryFilter()
    ordering = StableOrderingFilter(
        fields=("id", "begin_timestamp", "end_timestamp"), label=ORDERING
    )

    class Meta:
        model = Event
        fields = []


class CouponFilter(django_filters.FilterSet):
    user_id = RecordIdFilter(field_name="user_id", help_text="The bettor's id.")
    ordering = StableOrderingFilter(fields=("id", "timestamp", "stake"), label=ORDERING)

    class Meta:
        model = Coupon
        fields = []


class FilterSetSchema(DjangoFilterBackend):
    """Names a view's `filterset_class` in the OpenAPI schema and the browsable API.

    It filters nothing: the view's selector applies the FilterSet, so a
    consumer, a command and a test that call the selector filter the same way.
    """

    def filter_queryset(self, request, queryset, view):
        return queryset
