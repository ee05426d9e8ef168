"""The one validation path for records (docs/records.md).

The data API, the producer endpoints and the Kafka consumers all run a
record through these serializers. They check shape: types, required
fields, ranges, ISO codes. Whether a coupon's user and events exist is a
question only the database can answer, so services check references.

Each serializer accepts the seed's alias for the record's id (`user_id`,
`event_id` as a string of digits, `coupon_id`) and assigns a fresh id to a
record that has none.
"""

import decimal
from datetime import UTC, datetime

import pycountry
from django.utils import timezone
from rest_framework import serializers

from ingest.ids import MAX_ID, new_id
from ingest.models import Gender
from ingest.sports import SPORT_MAX_LENGTH

MIN_BIRTH_YEAR = 1900
ADULT_AGE = 18
# Common non-ISO country codes that sources send anyway.
COUNTRY_ALIASES = {"UK": "GB", "EL": "GR"}


def normalize_country(value: str) -> str:
    """ISO 3166-1 alpha-2 for an alpha-2, alpha-3 or common alias code."""
    code = value.strip().upper()
    code = COUNTRY_ALIASES.get(code, code)
    country = None
    if len(code) == 2:
        country = pycountry.countries.get(alpha_2=code)
    elif len(code) == 3:
        country = pycountry.countries.get(alpha_3=code)
    if country is None:
        raise serializers.ValidationError(
            f"'{value}' is not an ISO 3166-1 country code (e.g. 'GR', 'GRC' or 'UK')."
        )
    return country.alpha_2


def normalize_currency(value: str) -> str:
    code = value.strip().upper()
    if len(code) != 3 or pycountry.currencies.get(alpha_3=code) is None:
        raise serializers.ValidationError(
            f"'{value}' is not an ISO 4217 currency code (e.g. 'EUR')."
        )
    return code


class RecordIdField(serializers.IntegerField):
    """A source-owned id, 0 to 2**63-1; digits in a string are accepted, as the seed sends them."""

    def __init__(self, **kwargs):
        kwargs.setdefault("min_value", 0)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if isinstance(data, bool) or isinstance(data, float) and not data.is_integer():
            self.fail("invalid")
        return super().to_internal_value(data)


class RoundedDecimalField(serializers.DecimalField):
    """A decimal rounded (half-even) to its places, so 2.198585851522301 odds are 2.1986."""

    def __init__(self, **kwargs):
        kwargs.setdefault("coerce_to_string", False)
        super().__init__(rounding="ROUND_HALF_EVEN", **kwargs)

    def validate_precision(self, value):
        try:
            value = self.quantize(value)
        except decimal.InvalidOperation:
            self.fail("max_digits", max_digits=self.max_digits)
        return super().validate_precision(value)


class CountryField(serializers.CharField):
    def to_internal_value(self, data):
        return normalize_country(super().to_internal_value(data))


class CurrencyField(serializers.CharField):
    def to_internal_value(self, data):
        return normalize_currency(super().to_internal_value(data))


class UtcDateTimeField(serializers.DateTimeField):
    """ISO 8601 (a space instead of 'T' too, as the seed writes); naive means UTC."""

    def __init__(self, **kwargs):
        kwargs.setdefault("default_timezone", UTC)
        super().__init__(**kwargs)

    def to_internal_value(self, value):
        if isinstance(value, datetime):
            return super().to_internal_value(value)
        if not isinstance(value, str):
            self.fail("invalid", format="ISO 8601, e.g. 2024-05-01T18:30:00Z")
        return super().to_internal_value(value)


class RecordSerializer(serializers.Serializer):
    """Maps the seed's id alias onto `id` and gives a record without an id a new one."""

    id_alias: str | None = None

    id = RecordIdField(required=False)

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise serializers.ValidationError(
                {"non_field_errors": [f"Expected a JSON object, got {type(data).__name__}."]}
            )
        if self.id_alias and self.id_alias in data:
            data = dict(data)
            alias_value = data.pop(self.id_alias)
            if "id" in data and str(data["id"]) != str(alias_value):
                raise serializers.ValidationError(
                    {self.id_alias: [f"Disagrees with id ({data['id']}); send one of them."]}
                )
            data["id"] = alias_value
        return super().to_internal_value(data)

    def validate(self, attrs):
        if attrs.get("id") is None:
            attrs["id"] = new_id()
        return attrs


class UserInput(RecordSerializer):
    id_alias = "user_id"

    birth_year = serializers.IntegerField()
    country = CountryField()
    currency = CurrencyField()
    gender = serializers.ChoiceField(choices=Gender.choices)
    registration_date = UtcDateTimeField(required=False)

    def validate_birth_year(self, value):
        latest = timezone.now().year - ADULT_AGE
        if not MIN_BIRTH_YEAR <= value <= latest:
            raise serializers.ValidationError(
                f"Must be between {MIN_BIRTH_YEAR} and {latest}: "
                f"users are at least {ADULT_AGE} this year."
            )
        return value

    def validate(self, attrs):
        attrs.setdefault("registration_date", timezone.now())
        return super().validate(attrs)


class EventInput(RecordSerializer):
    id_alias = "event_id"

    begin_timestamp = UtcDateTimeField()
    end_timestamp = UtcDateTimeField()
    country = CountryField()
    league = serializers.CharField(max_length=200)
    sport = serializers.CharField(max_length=SPORT_MAX_LENGTH)
    participants = serializers.ListField(
        child=serializers.CharField(max_length=200), min_length=2, max_length=2
    )

    def validate_participants(self, value):
        if value[0].casefold() == value[1].casefold():
            raise serializers.ValidationError("Must name two different participants.")
        return value

    def validate(self, attrs):
        if attrs["begin_timestamp"] >= attrs["end_timestamp"]:
            raise serializers.ValidationError(
                {"end_timestamp": ["Must be later than begin_timestamp."]}
            )
        return super().validate(attrs)


class SelectionInput(serializers.Serializer):
    event_id = RecordIdField()
    odds = RoundedDecimalField(max_digits=10, decimal_places=4)

    def validate_odds(self, value):
        if value <= 1:
            raise serializers.ValidationError("Must be greater than 1.0.")
        return value


class CouponInput(RecordSerializer):
    id_alias = "coupon_id"

    user_id = RecordIdField()
    stake = RoundedDecimalField(max_digits=14, decimal_places=2)
    timestamp = UtcDateTimeField(required=False)
    selections = SelectionInput(many=True, allow_empty=False)

    def validate_stake(self, value):
        if value <= 0:
            raise serializers.ValidationError("Must be greater than 0.")
        return value

    def validate_selections(self, value):
        event_ids = [selection["event_id"] for selection in value]
        if len(set(event_ids)) != len(event_ids):
            raise serializers.ValidationError("Each event may appear only once on a coupon.")
        return value

    def validate(self, attrs):
        attrs.setdefault("timestamp", timezone.now())
        return super().validate(attrs)


INPUT_SERIALIZERS = {"users": UserInput, "events": EventInput, "coupons": CouponInput}


class InvalidRecord(Exception):
    """A record that fails validation; `errors` maps each field to its messages."""

    def __init__(self, errors):
        self.errors = errors
        super().__init__(describe_errors(errors))


def describe_errors(errors, prefix="") -> str:
    """One line naming every offending field, e.g. 'selections[0].odds: Must be ...'."""
    if isinstance(errors, dict):
        parts = []
        for field, detail in errors.items():
            if isinstance(field, int):  # DRF keys a list's item errors by index
                name = f"{prefix}[{field}]"
            else:
                name = f"{prefix}.{field}" if prefix else str(field)
            parts.append(describe_errors(detail, name))
        return "; ".join(parts)
    if isinstance(errors, list) and errors and not all(isinstance(e, str) for e in errors):
        return "; ".join(
            describe_errors(item, f"{prefix}[{index}]") for index, item in enumerate(errors) if item
        )
    messages = " ".join(str(e) for e in errors) if isinstance(errors, list) else str(errors)
    return f"{prefix}: {messages}" if prefix else messages


def validate_record(kind: str, data) -> dict:
    """Validate one record of `kind` ('users', 'events', 'coupons'); raise InvalidRecord.

    A record in the plain form takes the shortcut (ingest/validation_shortcut.py).
    """
    from ingest.validation_shortcut import shortcut  # built on this module's serializers

    record = shortcut(kind, data)
    if record is None:
        serializer = INPUT_SERIALIZERS[kind](data=data)
        if not serializer.is_valid():
            raise InvalidRecord(serializer.errors)
        record = dict(serializer.validated_data)
    return record


def validate_records(kind: str, items: list) -> list[dict | InvalidRecord]:
    """Validate many records of one kind: each becomes its validated dict or an InvalidRecord.

    A record in the plain form takes the shortcut (ingest/validation_shortcut.py);
    the others run through one list serializer, which copies the fields once
    rather than once per record (five times faster for users than
    `validate_record` in a loop); only a list with bad records takes a
    second pass over its good ones.
    """
    from ingest.validation_shortcut import shortcut  # built on this module's serializers

    results: list[dict | InvalidRecord | None] = [shortcut(kind, item) for item in items]
    rest = [index for index, result in enumerate(results) if result is None]
    if rest:
        for index, result in zip(rest, _validate_each(kind, [items[i] for i in rest]), strict=True):
            results[index] = result
    return results


def _validate_each(kind: str, items: list) -> list[dict | InvalidRecord]:
    serializer_class = INPUT_SERIALIZERS[kind]
    serializer = serializer_class(data=items, many=True)
    if serializer.is_valid():
        return [dict(record) for record in serializer.validated_data]
    errors = serializer.errors
    if not isinstance(errors, dict):  # older DRF lists every item's errors, {} when valid
        errors = dict(enumerate(errors))
    results: list[dict | InvalidRecord | None] = [
        InvalidRecord(errors[index]) if errors.get(index) else None for index in range(len(items))
    ]
    good = [index for index, result in enumerate(results) if result is None]
    if good:
        again = serializer_class(data=[items[index] for index in good], many=True)
        again.is_valid(raise_exception=True)
        for index, record in zip(good, again.validated_data, strict=True):
            results[index] = dict(record)
    return results
