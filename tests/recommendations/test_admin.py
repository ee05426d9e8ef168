"""The admin shows each user's recommendation, and the user page shows it too."""

import pytest

from recommendations.rebuild import rebuild_all

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
