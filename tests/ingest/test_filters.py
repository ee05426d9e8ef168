"""List filters and ordering (ingest/filters.py): what they match, and a 400 naming a bad one."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework.exceptions import ValidationError

from ingest import selectors
from tests.factories import CouponFactory, EventFactory, UserFactory

pytestmark = pytest.mark.django_db


def ids(api_client, path, **query):
    response = api_client.get(path, query)
    assert response.status_code == 200, response.json()
    return [record["id"] for record in response.json()["results"]]


# Users


def test_users_filter_by_country_in_any_accepted_code(api_client):
    greek, british = UserFactory(country="GR"), UserFactory(country="GB")
    UserFactory(country="DE")
    assert ids(api_client, "/users", country="gr") == [greek.pk]
    assert ids(api_client, "/users/", country="GRC") == [greek.pk]
    assert ids(api_client, "/users", country="UK") == [british.pk]


def test_users_filter_by_currency_and_gender_case_insensitively(api_client):
    match = UserFactory(currency="EUR", gender="F")
    UserFactory(currency="EUR", gender="M")
    UserFactory(currency="USD", gender="F")
    assert ids(api_client, "/users", currency="eur", gender="f") == [match.pk]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"gender": "Z"}, "Z is not one of the available choices"),
        ({"country": "Atlantis"}, "not an ISO 3166-1 country code"),
        ({"currency": "XYZ"}, "not an ISO 4217 currency code"),
    ],
)
def test_a_bad_user_filter_is_a_400_naming_it(api_client, query, message):
    response = api_client.get("/users", query)
    assert response.status_code == 400
    (name,) = query
    assert list(response.json()) == [name]
    assert message in response.json()[name][0]


@pytest.mark.parametrize("name", ["country", "currency"])
def test_a_bad_code_holding_a_percent_sign_is_a_400_quoting_it(api_client, name):
    # Found by the fuzzer: the message quotes the value, and a '%' broke its formatting (500).
    response = api_client.get("/users", {name: "5%s"})
    assert response.status_code == 400
    assert "'5%s' is not an ISO" in response.json()[name][0]


def test_users_ordering(api_client):
    old = UserFactory(birth_year=1960, registration_date=timezone.now() - timedelta(days=1))
    young = UserFactory(birth_year=1999, registration_date=timezone.now() - timedelta(days=9))
    middle = UserFactory(birth_year=1980, registration_date=timezone.now() - timedelta(days=5))
    assert ids(api_client, "/users", ordering="birth_year") == [old.pk, middle.pk, young.pk]
    assert ids(api_client, "/users", ordering="-registration_date") == [
        old.pk,
        middle.pk,
        young.pk,
    ]
    assert ids(api_client, "/users", ordering="-id") == [middle.pk, young.pk, old.pk]


def test_ties_in_the_ordering_are_broken_by_id_so_pages_are_stable(api_client):
    users = UserFactory.create_batch(5, birth_year=1980)
    first = ids(api_client, "/users", ordering="birth_year", page_size=3)
    second = ids(api_client, "/users", ordering="birth_year", page_size=3, page=2)
    assert first + second == [user.pk for user in users]


# Events


def test_events_filter_by_sport_league_and_country(api_client):
    match = EventFactory(sport="Football", league="Bundesliga", country="DE")
    EventFactory(sport="football", league="Serie A", country="IT")
    EventFactory(sport="Tennis", league="Bundesliga", country="DE")
    assert ids(api_client, "/events", sport=" FOOTBALL ", league="BUNDESLIGA") == [match.pk]
    assert ids(api_client, "/events", sport="football", country="DEU") == [match.pk]


@pytest.mark.parametrize(
    "spellings", [["FÚTBOL", "Fútbol", "fútbol"], ["Straße", "STRASSE"]], ids=["accents", "sharp-s"]
)
def test_events_filter_by_sport_folds_beyond_ascii(api_client, spellings):
    wanted = sorted(EventFactory(sport=sport).pk for sport in spellings)
    EventFactory(sport="Tennis")
    for sport in spellings:
        assert sorted(ids(api_client, "/events", sport=sport)) == wanted


def test_a_bad_event_country_is_a_400_naming_it(api_client):
    response = api_client.get("/events", {"country": "Atlantis"})
    assert response.status_code == 400
    assert list(response.json()) == ["country"]


def test_events_ordering_by_begin_and_end(api_client):
    now = timezone.now()
    late = EventFactory(begin_timestamp=now + timedelta(days=3), end_timestamp=now + timedelta(4))
    early = EventFactory(begin_timestamp=now, end_timestamp=now + timedelta(days=9))
    assert ids(api_client, "/events", ordering="-begin_timestamp") == [late.pk, early.pk]
    assert ids(api_client, "/events", ordering="end_timestamp") == [late.pk, early.pk]


# Coupons


def test_coupons_filter_by_user_and_order_by_stake(api_client):
    user = UserFactory()
    big = CouponFactory(user=user, stake=Decimal("50.00"))
    small = CouponFactory(user=user, stake=Decimal("5.00"))
    CouponFactory(stake=Decimal("1.00"))
    assert ids(api_client, "/coupons", user_id=user.pk, ordering="stake") == [small.pk, big.pk]
    assert ids(api_client, "/coupons/", user_id=user.pk, ordering="-stake") == [big.pk, small.pk]


def test_coupons_order_by_timestamp(api_client):
    later = CouponFactory(timestamp=timezone.now())
    earlier = CouponFactory(timestamp=timezone.now() - timedelta(hours=1))
    assert ids(api_client, "/coupons", ordering="timestamp") == [earlier.pk, later.pk]


@pytest.mark.parametrize("value", ["x", "1.5", "9" * 20, "-1"])
def test_a_bad_user_id_is_a_400_naming_it(api_client, value):
    response = api_client.get("/coupons", {"user_id": value})
    assert response.status_code == 400
    assert list(response.json()) == ["user_id"]


def test_the_coupons_of_a_user_path_is_unchanged(api_client):
    coupon = CouponFactory()
    response = api_client.get(f"/coupons/user/{coupon.user_id}/")
    assert [c["id"] for c in response.json()["results"]] == [coupon.pk]


# Ordering and page size


@pytest.mark.parametrize("path", ["/users", "/events/", "/coupons"])
@pytest.mark.parametrize("ordering", ["nope", "stake_x", "-password"])
def test_a_bad_ordering_field_is_a_400_naming_ordering(api_client, path, ordering):
    response = api_client.get(path, {"ordering": ordering})
    assert response.status_code == 400
    assert list(response.json()) == ["ordering"]
    assert ordering in response.json()["ordering"][0]


@pytest.mark.parametrize("value", ["x", "0", "-3"])
def test_a_bad_page_size_is_a_400_naming_it(api_client, value):
    UserFactory()
    response = api_client.get("/users", {"page_size": value})
    assert response.status_code == 400
    assert list(response.json()) == ["page_size"]


def test_a_page_size_above_the_maximum_is_cut_to_it(api_client):
    UserFactory.create_batch(2)
    assert len(ids(api_client, "/users", page_size=10_000)) == 2


# The selectors take the same filters from code


def test_selectors_apply_the_filters_from_a_dict():
    greek = UserFactory(country="GR", birth_year=1970)
    UserFactory(country="DE")
    assert list(selectors.user_list(filters={"country": "grc"})) == [greek]
    with pytest.raises(ValidationError, match="available choices"):
        list(selectors.user_list(filters={"gender": "Z"}))
