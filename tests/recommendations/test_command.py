"""`manage.py rebuild_recommendations`."""

import io

import pytest
from django.core.management import call_command

from recommendations.models import Recommendation
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_the_command_rebuilds_everyone_and_reports_it(make_event, bet):
    users = UserFactory.create_batch(3)
    golf = make_event("Golf")
    make_event("Golf")
    for user in users[:2]:
        bet(user, golf)
    out, err = io.StringIO(), io.StringIO()
    call_command("rebuild_recommendations", stdout=out, stderr=err)
    assert Recommendation.objects.count() == 2  # the third has no bets: cold start, shared
    assert "Rebuilt 3 users' recommendations" in out.getvalue()
    assert "3/3" in err.getvalue()  # the progress bar reached the end
