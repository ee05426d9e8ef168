"""The admin shows each user's recommendation, the user page shows it too; owed work stays."""

import pytest

from ingest import services as ingest_services
from recommendations.models import PendingRefresh, RebuildRequest, Recommendation
from recommendations.rebuild import rebuild_all, rebuild_request
from tests.records import recent_coupon

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, django_user_model):
    admin_user = django_user_model.objects.create_superuser("admin", "a@example.com", "pw")
    client.force_login(admin_user)
    return client


def test_a_users_admin_page_shows_favourite_sport_and_recommended_events(
    staff_client, user, make_event, bet
):
    bet(user, make_event("Tennis"))
    upcoming = make_event("Tennis")
    rebuild_all()
    page = staff_client.get(f"/admin/ingest/user/{user.pk}/change/").content.decode()
    assert "1 of your 1 selections are Tennis." in page
    assert f"/admin/ingest/event/{upcoming.pk}/change/" in page


def test_the_recommendation_admin_lists_and_shows_answers(staff_client, user, make_event, bet):
    bet(user, make_event("Tennis"))
    upcoming = make_event("Tennis")
    rebuild_all()
    listing = staff_client.get("/admin/recommendations/recommendation/").content.decode()
    assert "1 of your 1 selections are Tennis." in listing
    page = staff_client.get(f"/admin/recommendations/recommendation/{user.pk}/change/")
    assert page.status_code == 200
    assert str(upcoming) in page.content.decode()


@pytest.mark.parametrize("model", ["pendingrefresh", "rebuildrequest"])
def test_owed_refreshes_and_rebuild_requests_cannot_be_deleted_in_the_admin(
    staff_client, user, make_event, model
):
    # A bet stored as every write is: it owes a refresh of the user's answer.
    ingest_services.coupon_put(record=recent_coupon(user.pk, [make_event("Tennis").pk]))
    rebuild_request()
    rows = {"pendingrefresh": PendingRefresh, "rebuildrequest": RebuildRequest}[model].objects
    before = list(rows.values_list("pk", flat=True))
    assert before
    listing = staff_client.get(f"/admin/recommendations/{model}/")
    assert listing.status_code == 200
    assert "delete_selected" not in listing.content.decode()  # no bulk delete action
    url = f"/admin/recommendations/{model}/{before[0]}/delete/"
    assert staff_client.get(url).status_code == 403
    assert staff_client.post(url, {"post": "yes"}).status_code == 403
    staff_client.post(  # the bulk action, posted all the same
        f"/admin/recommendations/{model}/",
        {"action": "delete_selected", "_selected_action": before, "post": "yes"},
    )
    assert staff_client.get(f"/admin/recommendations/{model}/add/").status_code == 403
    assert list(rows.values_list("pk", flat=True)) == before


def test_a_user_with_a_stored_answer_can_still_be_deleted_in_the_admin(
    staff_client, user, make_event, bet
):
    bet(user, make_event("Tennis"))
    rebuild_all()
    assert Recommendation.objects.filter(pk=user.pk).exists()
    response = staff_client.post(f"/admin/ingest/user/{user.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Recommendation.objects.filter(pk=user.pk).exists()
