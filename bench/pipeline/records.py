"""The bench's records: users, events and coupons in the seed's format, each data set of
a run with ids of its own."""

KINDS = ("users", "events", "coupons")


def make_records(
    count: int, *, seed: int, id_base: int, coupons: int | None = None
) -> dict[str, list[dict]]:
    """`count` users, events and coupons (or `coupons` of them) in the seed's format
    (generate_dummy), ids from id_base.

    The base keeps the data sets of one run apart, so every record is new to the database.
    """
    from ingest.management.commands.generate_dummy import generate

    data = generate(
        users=count, events=count, coupons=count if coupons is None else coupons, seed=seed
    )
    for user in data["users"]:
        user["user_id"] += id_base
    for event in data["events"]:
        event["event_id"] = str(int(event["event_id"]) + id_base)
    for coupon in data["coupons"]:
        coupon["coupon_id"] += id_base
        coupon["user_id"] += id_base
        for selection in coupon["selections"]:
            selection["event_id"] = str(int(selection["event_id"]) + id_base)
    return data
