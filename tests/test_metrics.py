"""`GET /metrics` on the API: Prometheus text with the betreco_ metrics, counting requests."""

import pytest

from tests.factories import UserFactory
from tests.prometheus import label_sets, value

pytestmark = pytest.mark.django_db

DOCUMENTED = [
    "betreco_records_stored_total",
    "betreco_dead_letters_total",
    "betreco_consumer_lag",
    "betreco_parked_coupons",
    "betreco_batch_duration_seconds",
    "betreco_outbox_drain_seconds",
    "betreco_recommendation_refresh_seconds",
    "betreco_produced_records_total",
    "betreco_produce_failures_total",
    "betreco_produce_duration_seconds",
    "betreco_http_requests_total",
    "betreco_http_request_duration_seconds",
]


def metrics(client) -> str:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    return response.content.decode()


def test_metrics_lists_every_documented_metric_with_help_and_type(client):
    text = metrics(client)

    for name in DOCUMENTED:
        family = name.removesuffix("_total")
        assert f"# HELP {family}" in text, name
        assert f"# TYPE {family}" in text, name


def test_requests_are_counted_by_route_method_and_status(client):
    user = UserFactory()
    before = metrics(client)

    client.get(f"/users/{user.pk}")
    client.get(f"/users/{user.pk}/")  # the same route with its trailing slash
    client.get("/users/99999")
    client.get("/no/such/path")
    after = metrics(client)

    def delta(**labels):
        name = "betreco_http_requests_total"
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta(view="users/<id:user_id>", method="GET", status="200") == 2
    assert delta(view="users/<id:user_id>", method="GET", status="404") == 1
    assert delta(view="unmatched", method="GET", status="404") == 1
    latency = "betreco_http_request_duration_seconds_count"
    assert (
        value(after, latency, view="users/<id:user_id>")
        - value(before, latency, view="users/<id:user_id>")
        == 3
    )


def test_the_view_label_never_holds_an_id(client):
    for pk in range(5):
        client.get(f"/users/{pk}")

    views = {
        labels["view"] for labels in label_sets(metrics(client), "betreco_http_requests_total")
    }

    assert not any(char.isdigit() for view in views for char in view)
