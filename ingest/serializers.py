"""Output shapes of stored records, shared by the data API and recommendations."""

from rest_framework import serializers

from ingest.models import Coupon, Event, Selection, User


class UserOutput(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "birth_year", "country", "currency", "gender", "registration_date"]


class EventOutput(serializers.ModelSerializer):
    participants = serializers.ListField(
        source="participants.names", child=serializers.CharField(), read_only=True
    )

    class Meta:
        model = Event
        fields = [
            "id",
            "begin_timestamp",
            "end_timestamp",
            "country",
            "league",
            "sport",
            "participants",
        ]


class SelectionOutput(serializers.ModelSerializer):
    event_id = serializers.IntegerField()
    odds = serializers.DecimalField(max_digits=10, decimal_places=4, coerce_to_string=False)

    class Meta:
        model = Selection
        fields = ["event_id", "odds"]


class CouponOutput(serializers.ModelSerializer):
    user_id = serializers.IntegerField()
    stake = serializers.DecimalField(max_digits=14, decimal_places=2, coerce_to_string=False)
    selections = SelectionOutput(many=True, read_only=True)

    class Meta:
        model = Coupon
        fields = ["id", "user_id", "stake", "timestamp", "selections"]
