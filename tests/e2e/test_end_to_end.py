"""HTTP producer -> Kafka -> `consume_topic` process -> the data API, as a user runs it."""

import pytest

from ingest.kafka.producer import reset_producer
from tests import records

pytestmark = pytest.mark.kafka


@pytest.fixture
def produced(pipeline):
    """The session's broker and this test's topics, with a producer made for them."""
    reset_producer()
    yield pipeline
    reset_producer()


def post(api_client, kind: str, body):
    response = api_client.post(f"/produce/{kind}", body, format="json")
    assert response.status_code == 202, response.content
    return response.json()


def test_a_user_event_and_coupon_posted_to_the_producer_can_be_read_from_the_api(
    api_client, produced
):
    user = post(api_client, "users", records.user(user_id="31"))
    event = post(api_client, "events", records.event(event_id="32", sport="Basketball"))
    coupon = post(api_client, "coupons", records.coupon(None, 31, [(32, 1.85)], coupon_id=33))

    produced.consume("users", "events", "coupons")

    assert api_client.get(f"/users/{user['id']}").json()["country"] == "GR"
    assert api_client.get(f"/events/{event['id']}").json()["sport"] == "Basketball"
    stored = api_client.get(f"/coupons/{coupon['id']}").json()
    assert stored["user_id"] == 31
    assert stored["selections"] == [{"event_id": 32, "odds": 1.85}]


def test_a_batch_with_assigned_ids_arrives_whole(api_client, produced):
    users = post(api_client, "users", [records.user() for _ in range(20)])
    events = post(api_client, "events", [records.event() for _ in range(10)])
    coupons = post(
        api_client,
        "coupons",
        [
            records.coupon(None, users[i]["id"], [events[i % 10]["id"]], stake=str(i + 1))
            for i in range(20)
        ],
    )

    produced.consume("users", "events", "coupons")

    for i, receipt in enumerate(coupons):
        stored = api_client.get(f"/coupons/{receipt['id']}")
        assert stored.status_code == 200
        assert stored.json()["user_id"] == users[i]["id"]
        assert stored.json()["stake"] == i + 1
    assert api_client.get("/users").json()["count"] == 20
