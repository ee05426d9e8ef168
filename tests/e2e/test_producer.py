"""Producer endpoints on a real broker: 202 only for acknowledged records, else 400 or 503."""

import time

import pytest
from django.core.management import call_command

from ingest.kafka.producer import reset_producer
from ingest.kafka.topics import SCHEMA_VERSION, Header
from tests import records
from tests.e2e.producer_helpers import (
    create_topics,
    decoded,
    end_offsets,
    read_messages,
    unique_prefix,
)
from tests.prometheus import value

# Records posted without an id lease one from the database (ingest.ids), so every test may use it.
pytestmark = [pytest.mark.kafka, pytest.mark.django_db]


@pytest.fixture
def topics(kafka_bootstrap, settings):
    """Topics of this test's own, and a producer pointed at the test broker."""
    prefix = unique_prefix("producer")
    create_topics(kafka_bootstrap, prefix)
    settings.KAFKA_BOOTSTRAP_SERVERS = kafka_bootstrap
    settings.KAFKA_TOPIC_PREFIX = prefix
    yield prefix
    reset_producer()


@pytest.fixture
def broker_down(settings):
    """A closed port as the broker, and a short produce timeout."""
    from betreco.embedded_broker import free_port

    settings.KAFKA_BOOTSTRAP_SERVERS = f"127.0.0.1:{free_port()}"
    settings.KAFKA_PRODUCE_TIMEOUT = 1.5
    reset_producer()
    yield
    reset_producer()


def test_one_user_is_acknowledged_with_its_place_on_the_topic(api_client, topics, kafka_bootstrap):
    response = api_client.post("/produce/users", records.user(user_id="1001"), format="json")

    assert response.status_code == 202
    receipt = response.json()
    assert receipt["id"] == 1001
    assert receipt["topic"] == f"{topics}users"
    [message] = read_messages(kafka_bootstrap, [receipt])
    assert message.key() == b"1001"
    assert decoded(message)["id"] == 1001
    assert decoded(message)["country"] == "GR"
    assert dict(message.headers()) == {
        Header.SCHEMA.value: b"users",
        Header.SCHEMA_VERSION.value: SCHEMA_VERSION.encode(),
    }


def test_an_array_gets_a_receipt_per_record_and_every_record_is_on_the_topic(
    api_client, topics, kafka_bootstrap
):
    events = [records.event(id=2001, sport="Tennis"), records.event(event_id="2002")]

    response = api_client.post("/produce/events/", events, format="json")

    assert response.status_code == 202
    receipts = response.json()
    assert [r["id"] for r in receipts] == [2001, 2002]
    messages = read_messages(kafka_bootstrap, receipts)
    assert [decoded(m)["id"] for m in messages] == [2001, 2002]
    assert decoded(messages[0])["sport"] == "Tennis"
    assert decoded(messages[1])["participants"] == ["Olympiacos", "PAOK"]


def test_a_coupon_is_published_in_the_shape_the_api_takes(api_client, topics, kafka_bootstrap):
    response = api_client.post(
        "/produce/coupons",
        records.without(records.coupon(3001, 7, [(8, 1.85)], stake="12.50"), "timestamp"),
        format="json",
    )

    assert response.status_code == 202
    [message] = read_messages(kafka_bootstrap, [response.json()])
    value = decoded(message)
    assert value["user_id"] == 7
    assert value["selections"] == [{"event_id": 8, "odds": "1.8500"}]
    assert value["stake"] == "12.50"
    assert value["timestamp"].endswith("Z")


def test_a_record_without_id_gets_one_and_it_is_the_key(api_client, topics, kafka_bootstrap):
    response = api_client.post("/produce/users", [records.user(), records.user()], format="json")

    assert response.status_code == 202
    first, second = response.json()
    assert first["id"] > 0
    assert second["id"] != first["id"]
    messages = read_messages(kafka_bootstrap, [first, second])
    assert [m.key() for m in messages] == [str(first["id"]).encode(), str(second["id"]).encode()]


def test_one_bad_record_refuses_the_request_by_index_and_field_and_publishes_nothing(
    api_client, topics, kafka_bootstrap
):
    before = end_offsets(kafka_bootstrap, f"{topics}coupons")
    coupons = [
        records.coupon(None, 1, [2]),
        records.coupon(None, 1, [3]),
        records.coupon(None, 1, [4]),
    ]
    coupons[2]["selections"][0]["odds"] = 0.5

    response = api_client.post("/produce/coupons", coupons, format="json")

    assert response.status_code == 400
    body = response.json()
    assert list(body["records"]) == ["2"]
    assert body["records"]["2"]["selections"] == {"0": {"odds": ["Must be greater than 1.0."]}}
    assert "record 2" in body["detail"]
    assert "selections[0].odds" in body["detail"]
    assert end_offsets(kafka_bootstrap, f"{topics}coupons") == before


def test_a_single_bad_record_is_reported_as_index_0(api_client, topics):
    response = api_client.post("/produce/users", records.user(gender="Q"), format="json")

    assert response.status_code == 400
    assert "gender" in response.json()["records"]["0"]


def test_an_empty_array_is_refused(api_client, topics):
    response = api_client.post("/produce/events", [], format="json")

    assert response.status_code == 400
    assert "non-empty array" in response.json()["detail"]


def test_a_broker_that_is_down_gets_503_within_a_few_seconds(api_client, broker_down):
    started = time.monotonic()

    response = api_client.post("/produce/users", records.user(id=4001), format="json")

    assert response.status_code == 503
    assert time.monotonic() - started < 5
    assert response["Retry-After"] == "5"
    assert "Kafka did not acknowledge 1 of 1 record" in response.json()["detail"]


@pytest.mark.django_db
def test_readyz_reports_the_broker(api_client, topics):
    response = api_client.get("/readyz")

    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "broker": "ok"}


@pytest.mark.django_db
def test_readyz_is_unavailable_while_the_broker_is_down(api_client, broker_down):
    response = api_client.get("/readyz/")

    assert response.status_code == 503
    assert response.json()["checks"]["broker"].startswith("unavailable")


@pytest.fixture
def producer_role(settings):
    settings.ROOT_URLCONF = "betreco.producer_urls"


@pytest.mark.parametrize("path", ["/users", "/users/"])
def test_producer_role_takes_the_seed_paths(api_client, topics, producer_role, path):
    response = api_client.post(path, records.user(user_id="5001"), format="json")

    assert response.status_code == 202
    assert response.json()["id"] == 5001


def test_producer_role_takes_seed_events_and_coupons(
    api_client, topics, producer_role, kafka_bootstrap
):
    event = api_client.post("/events", records.event(event_id="6001"), format="json")
    coupon = api_client.post(
        "/coupons/", records.coupon(None, 5001, [6001], coupon_id=6002), format="json"
    )

    assert (event.status_code, coupon.status_code) == (202, 202)
    messages = read_messages(kafka_bootstrap, [event.json(), coupon.json()])
    assert decoded(messages[0])["id"] == 6001
    assert decoded(messages[1])["selections"][0]["event_id"] == 6001


def test_producer_role_serves_its_schema_and_health(api_client, producer_role):
    schema = api_client.get("/openapi.json")
    health = api_client.get("/healthz")

    assert schema.status_code == 200
    assert set(schema.json()["paths"]) >= {"/users", "/events", "/coupons", "/readyz"}
    assert health.status_code == 200


def test_producer_role_schema_validates_without_warnings(producer_role, tmp_path):
    call_command(
        "spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "openapi.yaml")
    )

    assert "/coupons:" in (tmp_path / "openapi.yaml").read_text()


def test_the_producer_roles_metrics_count_acknowledged_records_and_time_them(
    api_client, topics, settings
):
    settings.ROOT_URLCONF = "betreco.producer_urls"  # BETRECO_ROLE=producer
    topic = f"{topics}users"

    def scraped():
        response = api_client.get("/metrics")
        assert response.status_code == 200
        return response.content.decode()

    before = scraped()
    response = api_client.post("/users", [records.user(), records.user()], format="json")
    assert response.status_code == 202
    after = scraped()

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("betreco_produced_records_total", topic=topic) == 2
    assert delta("betreco_produce_duration_seconds_count", topic=topic) == 1
    assert delta("betreco_http_requests_total", view="users", method="POST", status="202") == 1
