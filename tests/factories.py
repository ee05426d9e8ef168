"""factory-boy factories for the ingested records.

They write rows straight through the ORM (what a test needs as given), while
tests of behaviour go through `ingest.services` or the API.
"""

from datetime import timedelta
from decimal import Decimal

import factory
from django.utils import timezone

from ingest.models import Coupon, Event, ParticipantPair, Selection, User


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User

    id = factory.Sequence(lambda n: 10_000 + n)
    birth_year = factory.Faker("random_int", min=1950, max=2000)
    country = factory.Iterator(["GR", "DE", "IT", "FR", "GB"])
    currency = factory.Iterator(["EUR", "GBP", "USD"])
    gender = factory.Iterator(["M", "F", "X"])
    registration_date = factory.LazyFunction(lambda: timezone.now() - timedelta(days=30))


class ParticipantPairFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ParticipantPair
        django_get_or_create = ("home", "away")

    home = factory.Sequence(lambda n: f"Home {n}")
    away = factory.Sequence(lambda n: f"Away {n}")


class EventFactory(factory.django.DjangoModelFactory):
    """An open event (it began an hour ago and ends in a day) unless told otherwise."""

    class Meta:
        model = Event

    id = factory.Sequence(lambda n: 50_000 + n)
    begin_timestamp = factory.LazyFunction(lambda: timezone.now() - timedelta(hours=1))
    end_timestamp = factory.LazyAttribute(lambda o: o.begin_timestamp + timedelta(days=1))
    country = "GR"
    league = "Superleague"
    sport = "Football"
    participants = factory.SubFactory(ParticipantPairFactory)


class CouponFactory(factory.django.DjangoModelFactory):
    """A coupon; `selections=[(event, odds), ...]` or `selections=N` new events."""

    class Meta:
        model = Coupon
        skip_postgeneration_save = True

    id = factory.Sequence(lambda n: 90_000 + n)
    user = factory.SubFactory(UserFactory)
    stake = Decimal("10.00")
    timestamp = factory.LazyFunction(timezone.now)

    @factory.post_generation
    def selections(self, create, extracted, **kwargs):
        if not create:
            return
        if extracted is None:
            extracted = 1
        if isinstance(extracted, int):
            extracted = [(EventFactory(), Decimal("1.50")) for _ in range(extracted)]
        Selection.objects.bulk_create(
            [Selection(coupon=self, event=event, odds=Decimal(odds)) for event, odds in extracted]
        )


class SelectionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Selection

    coupon = factory.SubFactory(CouponFactory, selections=0)
    event = factory.SubFactory(EventFactory)
    odds = Decimal("2.0000")
