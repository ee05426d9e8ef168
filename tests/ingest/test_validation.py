"""Every rule of docs/records.md, through the one validation path (`validate_record`)."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from ingest.ids import FIRST_LEASED_ID, MAX_ASSIGNED_ID, MAX_ID
from ingest.validation import InvalidRecord, validate_record
from tests.records import coupon, event, user, without

# A record without an id gets one leased from the database's id counter.
pytestmark = pytest.mark.django_db


def refused(kind, data) -> dict:
    with pytest.raises(InvalidRecord) as caught:
        validate_record(kind, data)
    return caught.value.errors


# Ids and their aliases


@pytest.mark.parametrize(
    ("kind", "record", "alias"),
    [
        ("users", user(), "user_id"),
        ("events", event(), "event_id"),
        ("coupons", coupon(), "coupon_id"),
    ],
)
def test_seed_alias_is_the_id(kind, record, alias):
    assert validate_record(kind, {**record, alias: 4242})["id"] == 4242


def test_event_id_as_a_string_of_digits_is_accepted():
    assert validate_record("events", event(event_id="55862"))["id"] == 55862


def test_selection_event_id_as_a_string_of_digits_is_accepted():
    record = validate_record("coupons", coupon(selections=[{"event_id": "19181", "odds": 2}]))
    assert record["selections"][0]["event_id"] == 19181


def test_id_and_alias_agreeing_is_fine():
    assert validate_record("users", user(id=7, user_id="7"))["id"] == 7


def test_id_and_alias_disagreeing_is_refused():
    assert "user_id" in refused("users", user(id=7, user_id=8))


def test_missing_id_is_assigned_unique_and_readable_by_javascript():
    ids = {validate_record("users", user())["id"] for _ in range(2000)}
    assert len(ids) == 2000
    assert all(FIRST_LEASED_ID <= record_id <= MAX_ASSIGNED_ID for record_id in ids)


@pytest.mark.parametrize("value", [MAX_ID + 1, 2**64, -1, "12a", "", None])
def test_ids_outside_64_bits_or_not_numbers_are_refused(value):
    assert "id" in refused("users", {**user(), "id": value})  # user(id=None) would leave it out


def test_largest_64_bit_id_is_accepted():
    assert validate_record("users", user(id=MAX_ID))["id"] == MAX_ID


def test_id_zero_is_accepted_as_the_seed_uses_it():
    assert validate_record("users", user(user_id=0))["id"] == 0


@pytest.mark.parametrize("value", [True, False, 3.5])
def test_bool_and_fractional_ids_are_refused(value):
    assert "user_id" in refused("coupons", coupon(user_id=value))


# Users


def test_user_is_at_least_18_this_year():
    this_year = timezone.now().year
    assert validate_record("users", user(birth_year=this_year - 18))["birth_year"] == this_year - 18
    assert "birth_year" in refused("users", user(birth_year=this_year - 17))


def test_user_born_1900_or_later():
    assert validate_record("users", user(birth_year=1900))["birth_year"] == 1900
    assert "birth_year" in refused("users", user(birth_year=1899))


@pytest.mark.parametrize(
    ("given", "stored"), [("GR", "GR"), ("GRC", "GR"), ("gr", "GR"), ("grc", "GR"), ("UK", "GB")]
)
def test_country_is_stored_as_alpha_2(given, stored):
    assert validate_record("users", user(country=given))["country"] == stored


@pytest.mark.parametrize("country", ["XX", "Greece", "G", "", 30])
def test_invalid_country_is_refused(country):
    assert "country" in refused("users", user(country=country))


def test_currency_is_iso_4217():
    assert validate_record("users", user(currency="jpy"))["currency"] == "JPY"
    assert "currency" in refused("users", user(currency="EURO"))
    assert "currency" in refused("users", user(currency="ABC"))


@pytest.mark.parametrize("gender", ["M", "F", "X"])
def test_gender_m_f_or_x(gender):
    assert validate_record("users", user(gender=gender))["gender"] == gender


def test_other_gender_is_refused():
    assert "gender" in refused("users", user(gender="Q"))


def test_registration_date_defaults_to_now():
    before = timezone.now()
    assert before <= validate_record("users", user())["registration_date"] <= timezone.now()


def test_missing_user_fields_are_each_named():
    assert set(refused("users", {})) == {"birth_year", "country", "currency", "gender"}


# Events


def test_event_must_begin_before_it_ends():
    errors = refused("events", event(end_timestamp="2030-05-01T18:00:00Z"))
    assert "end_timestamp" in errors


def test_naive_timestamps_are_utc():
    record = validate_record("events", event(begin_timestamp="2030-05-01T18:00:00"))
    assert record["begin_timestamp"] == datetime(2030, 5, 1, 18, tzinfo=UTC)


def test_offset_timestamps_are_kept_as_the_same_instant():
    record = validate_record("events", event(begin_timestamp="2030-05-01T19:00:00+02:00"))
    assert record["begin_timestamp"] == datetime(2030, 5, 1, 17, tzinfo=UTC)


def test_seed_space_separated_timestamps_are_accepted():
    record = validate_record(
        "events",
        event(begin_timestamp="2023-10-10 20:48:20.437515", end_timestamp="2024-08-22 20:48:20"),
    )
    assert record["begin_timestamp"] == datetime(2023, 10, 10, 20, 48, 20, 437515, tzinfo=UTC)


@pytest.mark.parametrize("value", ["yesterday", 1714586400, None])
def test_unreadable_timestamps_are_refused(value):
    assert "begin_timestamp" in refused("events", event(begin_timestamp=value))


@pytest.mark.parametrize(
    "participants", [["Olympiacos"], ["A", "B", "C"], ["PAOK", "PAOK"], ["PAOK", "paok"], "A-B"]
)
def test_exactly_two_distinct_participants(participants):
    assert "participants" in refused("events", event(participants=participants))


def test_event_country_is_normalized():
    assert validate_record("events", event(country="DEU"))["country"] == "DE"


# Coupons


@pytest.mark.parametrize("stake", [0, -5, "0.00"])
def test_stake_must_be_positive(stake):
    assert "stake" in refused("coupons", coupon(stake=stake))


@pytest.mark.parametrize("odds", [1, 1.0, 0.5, -2])
def test_odds_must_be_above_one(odds):
    errors = refused("coupons", coupon(selections=[{"event_id": 5, "odds": odds}]))
    assert "odds" in errors["selections"][0]


def test_error_message_names_the_selection():
    with pytest.raises(InvalidRecord, match=r"selections\[1\]\.odds"):
        validate_record(
            "coupons",
            coupon(selections=[{"event_id": 5, "odds": 2}, {"event_id": 6, "odds": 1}]),
        )


def test_events_on_a_coupon_are_distinct():
    selections = [{"event_id": 5, "odds": 1.5}, {"event_id": "5", "odds": 2.5}]
    assert "selections" in refused("coupons", coupon(selections=selections))


def test_coupon_needs_at_least_one_selection():
    assert "selections" in refused("coupons", coupon(selections=[]))
    assert "selections" in refused("coupons", {"user_id": 1, "stake": 10})


def test_stake_and_odds_are_rounded():
    record = validate_record(
        "coupons",
        coupon(stake=536.6531056400804, selections=[{"event_id": 5, "odds": 2.198585851522301}]),
    )
    assert record["stake"] == Decimal("536.65")
    assert record["selections"][0]["odds"] == Decimal("2.1986")


def test_coupon_timestamp_defaults_to_now():
    before = timezone.now()
    assert (
        before
        <= validate_record("coupons", without(coupon(), "timestamp"))["timestamp"]
        <= timezone.now()
    )


def test_record_that_is_not_an_object_is_refused():
    assert "non_field_errors" in refused("coupons", [coupon()])
