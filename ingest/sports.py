"""How sport names compare: one function, used by every write and every query.

Sports compare case-insensitively (docs/records.md, "Sports"). The
database cannot do this the same way everywhere (SQLite's lower() folds
ASCII only, and no database's lower() turns "ß" into "ss"), so the
comparison key is computed here, in Python, and stored in `Event.sport_key`.
"""

import unicodedata

SPORT_MAX_LENGTH = 100
# Full case folding can triple a name's length ("ΐ" folds to three code
# points), so a key needs room for three times the longest sport.
SPORT_KEY_MAX_LENGTH = 3 * SPORT_MAX_LENGTH


def sport_key(name: str) -> str:
    """The key two spellings of one sport share: "FÚTBOL" and "fútbol", "Straße" and "STRASSE".

    Unicode caseless matching: `str.casefold()` between canonical
    normalizations, so a precomposed "Ú" and "U" + combining acute are one
    letter too. The result is NFC, the form names are usually written in.
    Whitespace is kept: every input path trims it already.
    """
    return unicodedata.normalize("NFC", unicodedata.normalize("NFD", name).casefold())
