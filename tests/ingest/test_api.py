"""The data API (docs/http-api.md): seed paths with or without a slash, 201/200, 400, 404."""

from contextlib import contextmanager

import pytest
from django.db import connection

from ingest.models import Coupon, Selection
from tests.factories import CouponFactory, EventFactory, UserFactory

pytestmark = pytest.mark.django_db

USER = {"user_id": 79859, "birth_year": 1970, "country": "AL", "currency": "EUR", "gender": "M"}
EVENT = {
    "event_id": "55862",
    "begin_timestamp": "2030-10-10 20:48:20.437515",
    "end_timestamp": "2030-10-10 22:48:20.437524",
    "country": "DE",
    "league": "Bundesliga",
    "participants": ["Bayern Munich", "Borussia Dortmund"],
    "sport": "Football",
}


@pytest.fixture(params=["", "/"], ids=["no-slash", "slash"])
def slash(request):
    return request.param


def post(client, path, data):
    return client.post(path, data, format="json")


@contextmanager
def statements():
    """The SQL statements this test's connection executes meanwhile."""
    executed = []

    def record(execute, sql, params, many, context):
        executed.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        yield executed


# Create and read


def test_post_user_creates_then_upserts(api_client, slash):
    created = post(api_client, f"/users{slash}", USER)
    assert created.status_code == 201
    assert created.json()["id"] == 79859
    again = post(api_client, f"/users{slash}", {**USER, "currency": "usd"})
    assert again.status_code == 200
    assert again.json()["currency"] == "USD"


def test_post_user_without_id_gets_one(api_client):
    body = {key: value for key, value in USER.items() if key != "user_id"}
    response = post(api_client, "/users", body)
    assert response.status_code == 201
    assert api_client.get(f"/users/{response.json()['id']}").status_code == 200


def test_get_user(api_client, slash):
    user = UserFactory()
    response = api_client.get(f"/users/{user.pk}{slash}")
    assert response.status_code == 200
    assert response.json()["country"] == user.country


def test_post_and_get_event(api_client, slash):
    created = post(api_client, f"/events{slash}", EVENT)
    assert created.status_code == 201
    assert created.json()["participants"] == ["Bayern Munich", "Borussia Dortmund"]
    assert created.json()["begin_timestamp"].startswith("2030-10-10T20:48:20.437515")
    assert post(api_client, "/events", EVENT).status_code == 200
    assert api_client.get(f"/events/55862{slash}").json()["league"] == "Bundesliga"


def test_post_and_get_coupon(api_client, slash):
    user, first, second = UserFactory(), EventFactory(), EventFactory()
    body = {
        "coupon_id": 4587,
        "user_id": user.pk,
        "stake": 536.6531056400804,
        "timestamp": "2030-02-03 20:48:20.438447",
        "selections": [
            {"event_id": str(first.pk), "odds": 2.198585851522301},
            {"event_id": str(second.pk), "odds": 2.9882190464889105},
        ],
    }
    created = post(api_client, f"/coupons{slash}", body)
    assert created.status_code == 201
    assert created.json()["stake"] == 536.65
    assert created.json()["selections"] == [
        {"event_id": first.pk, "odds": 2.1986},
        {"event_id": second.pk, "odds": 2.9882},
    ]
    assert post(api_client, "/coupons", body).status_code == 200
    assert api_client.get(f"/coupons/4587{slash}").json()["user_id"] == user.pk


def test_a_coupon_write_answers_from_what_it_stored_in_few_statements(api_client):
    """Begin, claim, user, events, stored coupon, two writes, outbox, end (14 before)."""
    user, event = UserFactory(), EventFactory()
    body = {"coupon_id": 4588, "user_id": user.pk, "stake": 10, "timestamp": "2030-02-03 20:48"}
    body["selections"] = [{"event_id": event.pk, "odds": 1.5}]
    with statements() as new:
        created = post(api_client, "/coupons", body)
    with statements() as same:
        unchanged = post(api_client, "/coupons", body)
    assert (created.status_code, unchanged.status_code) == (201, 200)
    assert created.json() == unchanged.json() == api_client.get("/coupons/4588").json()
    assert (len(new), len(same)) == (9, 6), new


def test_coupons_of_a_user(api_client, slash):
    user = UserFactory()
    mine = CouponFactory.create_batch(2, user=user)
    CouponFactory()
    response = api_client.get(f"/coupons/user/{user.pk}{slash}")
    assert response.status_code == 200
    assert [c["id"] for c in response.json()["results"]] == [c.pk for c in mine]


def test_health_and_readiness(api_client, slash):
    assert api_client.get(f"/healthz{slash}").json() == {"status": "ok"}
    ready = api_client.get(f"/readyz{slash}")
    assert ready.status_code in (200, 503)  # 503 while no broker is reachable
    assert ready.json()["checks"]["database"] == "ok"


@pytest.mark.parametrize("path", ["/openapi.json", "/docs", "/redoc", "/docs/", "/redoc/"])
def test_schema_and_docs_respond(api_client, path):
    assert api_client.get(path).status_code == 200


# Bad requests name the fields


def test_malformed_json_is_a_400(api_client):
    response = api_client.post("/users", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert "JSON" in response.json()["detail"]


def test_wrong_types_and_ranges_are_named(api_client):
    response = post(
        api_client, "/users", {**USER, "user_id": 2**63, "birth_year": "old", "gender": "Q"}
    )
    assert response.status_code == 400
    assert set(response.json()) == {"id", "birth_year", "gender"}


def test_event_ending_before_it_begins_names_end_timestamp(api_client):
    response = post(api_client, "/events", {**EVENT, "end_timestamp": "2030-10-10 20:00:00"})
    assert response.status_code == 400
    assert "end_timestamp" in response.json()


def test_coupon_with_unknown_user_and_event_names_them(api_client):
    event = EventFactory()
    body = {
        "user_id": 123,
        "stake": 5,
        "selections": [{"event_id": event.pk, "odds": 1.5}, {"event_id": 999, "odds": 2}],
    }
    response = post(api_client, "/coupons", body)
    assert response.status_code == 400
    assert response.json() == {
        "user_id": ["User 123 does not exist."],
        "selections[1].event_id": ["Event 999 does not exist."],
    }
    assert not Coupon.objects.exists()
    assert not Selection.objects.exists()


def test_coupon_with_bad_odds_names_the_selection(api_client):
    user, event = UserFactory(), EventFactory()
    body = {"user_id": user.pk, "stake": 5, "selections": [{"event_id": event.pk, "odds": 1}]}
    response = post(api_client, "/coupons", body)
    assert response.status_code == 400
    assert "odds" in str(response.json()["selections"])


# Unknown ids


@pytest.mark.parametrize(
    "path",
    [
        "/users/404",
        "/events/404/",
        "/coupons/404",
        "/coupons/user/404",
        "/users/9223372036854775808",  # one past the 64-bit range
        "/events/123456789012345678901234",
    ],
)
def test_unknown_ids_are_404_with_a_message(api_client, path):
    response = api_client.get(path)
    assert response.status_code == 404
    assert response.content


def test_404_for_a_stored_id_range_names_the_record(api_client):
    assert "User" in api_client.get("/users/404").json()["detail"]


# Lists: pagination and filters


def test_lists_are_paginated(api_client):
    UserFactory.create_batch(5)
    first = api_client.get("/users", {"page_size": 2}).json()
    assert first["count"] == 5
    assert len(first["results"]) == 2
    last = api_client.get("/users/", {"page_size": 2, "page": 3}).json()
    assert len(last["results"]) == 1
    assert last["next"] is None


def test_page_past_the_end_is_a_404(api_client):
    UserFactory()
    assert api_client.get("/users", {"page": 9}).status_code == 404


def test_events_filter_by_sport_case_insensitively_league_and_country(api_client):
    match = EventFactory(sport="Football", league="Bundesliga", country="DE")
    EventFactory(sport="football", league="Serie A", country="IT")
    EventFactory(sport="Tennis", league="ATP", country="DE")

    def ids(**query):
        return {e["id"] for e in api_client.get("/events", query).json()["results"]}

    assert len(ids(sport="FOOTBALL")) == 2
    assert ids(sport="football", league="bundesliga") == {match.pk}
    assert len(ids(country="de")) == 2


def test_coupons_filter_by_user(api_client):
    coupon = CouponFactory()
    CouponFactory()
    results = api_client.get("/coupons", {"user_id": coupon.user_id}).json()["results"]
    assert [c["id"] for c in results] == [coupon.pk]
    assert api_client.get("/coupons", {"user_id": "abc"}).status_code == 400


def test_users_filter_by_country(api_client):
    UserFactory(country="GR")
    UserFactory(country="DE")
    results = api_client.get("/users/", {"country": "gr"}).json()["results"]
    assert [u["country"] for u in results] == ["GR"]
