"""`manage.py generate_dummy`: a JSON file of made-up users, events and coupons.

The file has the seed's dummy format (`{"users": [...], "events": [...],
"coupons": [...]}` with `user_id`, `event_id` as a string of digits,
`coupon_id` and space-separated timestamps), so it can be loaded with
`load_dummy`, posted to the API, or produced to Kafka. Events are spread
around the moment of generation: some have ended, some are running, most
are still to come, so recommendations have open events to offer. Coupons
follow each user's lasting taste and are spread over the last 30 days
(`ingest/dummy_bets.py`), so a time split of them means something.
"""

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from ingest.dummy_bets import generate_coupons
from ingest.kafka.topics import RECORD_KINDS

SEED_TIMESTAMP = "%Y-%m-%d %H:%M:%S.%f"
DEFAULT_TASTE = 1.0

# sport -> (typical duration in hours, [(league, country, [participants])]).
# A country of None means the event's country varies (tours, cups).
# fmt: off
CATALOG = {
    "Football": (
        2,
        [
            ("Premier League", "GB", ["Arsenal", "Chelsea", "Liverpool", "Manchester City",
                                      "Manchester United", "Tottenham", "Newcastle",
                                      "Aston Villa"]),
            ("La Liga", "ES", ["Real Madrid", "Barcelona", "Atletico Madrid", "Sevilla",
                               "Valencia", "Real Sociedad", "Villarreal", "Real Betis"]),
            ("Bundesliga", "DE", ["Bayern Munich", "Borussia Dortmund", "RB Leipzig",
                                  "Bayer Leverkusen", "Eintracht Frankfurt", "VfB Stuttgart"]),
            ("Serie A", "IT", ["Juventus", "Inter", "AC Milan", "Napoli", "Roma", "Lazio",
                               "Atalanta", "Fiorentina"]),
            ("Ligue 1", "FR", ["Paris Saint-Germain", "Marseille", "Lyon", "Monaco", "Lille",
                               "Nice", "Rennes"]),
            ("Super League", "GR", ["Olympiacos", "Panathinaikos", "AEK Athens", "PAOK",
                                    "Aris", "Asteras Tripolis"]),
        ],
    ),
    "Basketball": (
        2,
        [
            ("NBA", "US", ["Boston Celtics", "Los Angeles Lakers", "Golden State Warriors",
                           "Miami Heat", "Denver Nuggets", "Milwaukee Bucks", "Chicago Bulls"]),
            ("Euroleague", None, ["Real Madrid", "Olympiacos", "Panathinaikos", "Fenerbahce",
                                  "Anadolu Efes", "Maccabi Tel Aviv", "Barcelona", "Monaco"]),
            ("ACB", "ES", ["Real Madrid", "Barcelona", "Unicaja", "Valencia Basket",
                           "Baskonia", "Gran Canaria"]),
        ],
    ),
    "Tennis": (
        3,
        [
            ("ATP", None, ["Jannik Sinner", "Carlos Alcaraz", "Novak Djokovic",
                           "Alexander Zverev", "Daniil Medvedev", "Stefanos Tsitsipas",
                           "Casper Ruud", "Taylor Fritz"]),
            ("WTA", None, ["Aryna Sabalenka", "Iga Swiatek", "Coco Gauff", "Elena Rybakina",
                           "Jessica Pegula", "Maria Sakkari", "Jasmine Paolini", "Qinwen Zheng"]),
        ],
    ),
    "Ice Hockey": (
        3,
        [
            ("NHL", "US", ["Boston Bruins", "New York Rangers", "Toronto Maple Leafs",
                           "Edmonton Oilers", "Colorado Avalanche", "Florida Panthers"]),
            ("SHL", "SE", ["Frolunda", "Skelleftea", "Farjestad", "Lulea", "Vaxjo Lakers"]),
        ],
    ),
    "Rugby": (
        2,
        [
            ("Six Nations", None, ["England", "France", "Ireland", "Italy", "Scotland",
                                   "Wales"]),
            ("Super Rugby", "NZ", ["Crusaders", "Blues", "Chiefs", "Hurricanes",
                                   "Highlanders", "Brumbies"]),
        ],
    ),
    "Volleyball": (
        2,
        [
            ("SuperLega", "IT", ["Perugia", "Trentino", "Civitanova", "Modena", "Piacenza",
                                 "Milano"]),
            ("PlusLiga", "PL", ["Zaksa", "Jastrzebski", "Resovia", "Projekt Warszawa",
                                "Aluron Zawiercie"]),
        ],
    ),
    "Golf": (
        96,
        [
            ("PGA Tour", "US", ["Scottie Scheffler", "Rory McIlroy", "Xander Schauffele",
                                "Collin Morikawa", "Viktor Hovland", "Jon Rahm"]),
            ("DP World Tour", None, ["Tommy Fleetwood", "Shane Lowry", "Matt Fitzpatrick",
                                     "Tyrrell Hatton", "Ludvig Aberg", "Robert MacIntyre"]),
        ],
    ),
}
# fmt: on

EVENT_COUNTRIES = ["GB", "ES", "DE", "IT", "FR", "GR", "US", "AU", "TR", "MC", "AE"]
# User country -> currency the user most likely plays in.
USER_COUNTRIES = {
    "GR": "EUR", "CY": "EUR", "DE": "EUR", "IT": "EUR", "FR": "EUR", "ES": "EUR", "AL": "ALL",
    "GB": "GBP", "US": "USD", "CA": "CAD", "JP": "JPY", "SE": "SEK", "PL": "PLN",
    "BR": "BRL", "AU": "AUD",
}  # fmt: skip


def _stamp(moment: datetime) -> str:
    """The seed's timestamp format: naive (UTC), a space, microseconds."""
    return moment.astimezone(UTC).replace(tzinfo=None).strftime(SEED_TIMESTAMP)


def _unique_ids(rng: random.Random, count: int, low: int) -> list[int]:
    """`count` distinct ids of at least five digits, like the seed's."""
    return rng.sample(range(low, low + max(90_000, count * 10)), count)


def generate_users(rng: random.Random, count: int, now: datetime) -> list[dict]:
    adult_year = now.year - 18
    users = []
    for user_id in _unique_ids(rng, count, 10_000):
        country = rng.choice(list(USER_COUNTRIES))
        currency = USER_COUNTRIES[country] if rng.random() < 0.85 else rng.choice(["EUR", "USD"])
        users.append(
            {
                "birth_year": rng.randint(1945, adult_year),
                "country": country,
                "currency": currency,
                "gender": rng.choices(["M", "F", "X"], weights=[60, 37, 3])[0],
                "registration_date": _stamp(
                    now - timedelta(seconds=rng.randint(0, 3 * 365 * 86400))
                ),
                "user_id": user_id,
            }
        )
    return users


def generate_events(rng: random.Random, count: int, now: datetime) -> list[dict]:
    """Events from 30 days ago to 30 days ahead: about a third have ended."""
    events = []
    for event_id in _unique_ids(rng, count, 10_000):
        sport = rng.choice(list(CATALOG))
        hours, leagues = CATALOG[sport]
        league, country, names = rng.choice(leagues)
        begin = now + timedelta(minutes=rng.randint(-30 * 24 * 60, 30 * 24 * 60))
        end = begin + timedelta(hours=hours, minutes=rng.randint(0, 60))
        events.append(
            {
                "begin_timestamp": _stamp(begin),
                "end_timestamp": _stamp(end),
                "country": country or rng.choice(EVENT_COUNTRIES),
                "event_id": str(event_id),
                "league": league,
                "participants": rng.sample(names, 2),
                "sport": sport,
            }
        )
    return events


def generate(
    *, users: int, events: int, coupons: int, seed: int | None, taste: float = DEFAULT_TASTE
) -> dict:
    """The whole dummy data set; the same seed gives the same records (times relative to now)."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    if coupons and not (users and events):
        raise CommandError("Coupons need users and events: pass --users and --events above 0.")
    user_records = generate_users(rng, users, now)
    event_records = generate_events(rng, events, now)
    return {
        "users": user_records,
        "events": event_records,
        "coupons": generate_coupons(
            rng,
            _unique_ids(rng, coupons, 1_000),
            user_records,
            event_records,
            now,
            taste=taste,
            stamp=_stamp,
        ),
    }


class Command(BaseCommand):
    help = (
        "Write made-up users, events and coupons as JSON in the seed's dummy format "
        "(load it with `manage.py load_dummy FILE`)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--users", type=int, default=100, help="How many users (100).")
        parser.add_argument("--events", type=int, default=100, help="How many events (100).")
        parser.add_argument("--coupons", type=int, default=100, help="How many coupons (100).")
        parser.add_argument(
            "-o", "--output", required=True, help="File to write; '-' writes to stdout."
        )
        parser.add_argument("--seed", type=int, default=None, help="Random seed, to repeat a run.")
        parser.add_argument(
            "--taste",
            type=float,
            default=DEFAULT_TASTE,
            help=(
                "How strongly each user sticks to their own sports and leagues (a Dirichlet "
                f"draw per user, of concentration 1/TASTE; {DEFAULT_TASTE:g}); 0: uniform picks."
            ),
        )

    def handle(self, *args, **options):
        for kind in RECORD_KINDS:
            if options[kind] < 0:
                raise CommandError(f"--{kind} must be 0 or more.")
        if not 0 <= options["taste"] <= 100:
            raise CommandError("--taste must be from 0 to 100.")
        data = generate(
            users=options["users"],
            events=options["events"],
            coupons=options["coupons"],
            seed=options["seed"],
            taste=options["taste"],
        )
        text = json.dumps(data, indent=2)
        if options["output"] == "-":
            self.stdout.write(text)
            return
        Path(options["output"]).write_text(text + "\n", encoding="utf-8")
        self.stdout.write(
            self.style.SUCCESS(
                f"Wrote {len(data['users'])} users, {len(data['events'])} events and "
                f"{len(data['coupons'])} coupons to {options['output']}"
            )
        )
