"""The school's constant tables: its domain names, the words it reverses, countries and their
capitals (with the names that take "the" and accepted aliases), and the units it converts between."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from academy.config import SCHOOL_DOMAINS

DOMAINS: tuple[str, ...] = SCHOOL_DOMAINS

WORDS: tuple[str, ...] = tuple(
    """
    apple table chair house water river mountain garden window door bread butter cheese orange banana
    grape lemon melon carrot potato tomato onion pepper salt sugar coffee tea milk honey cookie pencil
    paper book letter story music guitar piano violin drum song dance dream sleep night morning
    evening summer winter spring autumn rain snow cloud storm thunder sun moon star planet earth ocean
    island beach forest desert valley bridge road street city village school teacher student doctor
    farmer pilot driver singer painter friend family mother father sister brother child baby people
    animal tiger lion zebra horse rabbit mouse kitten puppy monkey turtle eagle parrot spider bee fish
    shark whale dolphin camel donkey sheep goat chicken duck green yellow purple silver golden black
    white brown happy quiet simple strong little bright gentle clever brave honest jump run walk climb
    swim write read think laugh smile travel build listen speak open close market money basket bottle
    candle mirror pillow blanket jacket shirt shoe glove hat ticket rocket engine camera phone laptop
    screen button circle square number answer question lesson winner castle dragon wizard knight queen
    king prince flower tree leaf grass stone sand fire wind ice light shadow voice heart hand finger
    elbow shoulder
    """.split()  # noqa: SIM905 -- a word list reads better as prose than as 200 quoted strings
)

CAPITALS: Mapping[str, str] = {
    "Afghanistan": "Kabul",
    "Albania": "Tirana",
    "Algeria": "Algiers",
    "Angola": "Luanda",
    "Argentina": "Buenos Aires",
    "Armenia": "Yerevan",
    "Australia": "Canberra",
    "Austria": "Vienna",
    "Azerbaijan": "Baku",
    "Bangladesh": "Dhaka",
    "Belarus": "Minsk",
    "Belgium": "Brussels",
    "Bulgaria": "Sofia",
    "Cambodia": "Phnom Penh",
    "Canada": "Ottawa",
    "Chile": "Santiago",
    "China": "Beijing",
    "Croatia": "Zagreb",
    "Cuba": "Havana",
    "Cyprus": "Nicosia",
    "Czechia": "Prague",
    "Denmark": "Copenhagen",
    "Ecuador": "Quito",
    "Egypt": "Cairo",
    "Estonia": "Tallinn",
    "Ethiopia": "Addis Ababa",
    "Finland": "Helsinki",
    "France": "Paris",
    "Georgia": "Tbilisi",
    "Germany": "Berlin",
    "Ghana": "Accra",
    "Greece": "Athens",
    "Hungary": "Budapest",
    "India": "New Delhi",
    "Iran": "Tehran",
    "Iraq": "Baghdad",
    "Ireland": "Dublin",
    "Italy": "Rome",
    "Jamaica": "Kingston",
    "Japan": "Tokyo",
    "Jordan": "Amman",
    "Kazakhstan": "Astana",
    "Kenya": "Nairobi",
    "Laos": "Vientiane",
    "Latvia": "Riga",
    "Lebanon": "Beirut",
    "Lithuania": "Vilnius",
    "Luxembourg": "Luxembourg",
    "Malaysia": "Kuala Lumpur",
    "Malta": "Valletta",
    "Mexico": "Mexico City",
    "Mongolia": "Ulaanbaatar",
    "Morocco": "Rabat",
    "Nepal": "Kathmandu",
    "Netherlands": "Amsterdam",
    "New Zealand": "Wellington",
    "Nigeria": "Abuja",
    "North Korea": "Pyongyang",
    "Norway": "Oslo",
    "Oman": "Muscat",
    "Pakistan": "Islamabad",
    "Peru": "Lima",
    "Philippines": "Manila",
    "Poland": "Warsaw",
    "Portugal": "Lisbon",
    "Qatar": "Doha",
    "Romania": "Bucharest",
    "Russia": "Moscow",
    "Saudi Arabia": "Riyadh",
    "Senegal": "Dakar",
    "Serbia": "Belgrade",
    "Singapore": "Singapore",
    "Slovakia": "Bratislava",
    "Slovenia": "Ljubljana",
    "South Korea": "Seoul",
    "Spain": "Madrid",
    "Sudan": "Khartoum",
    "Sweden": "Stockholm",
    "Syria": "Damascus",
    "Thailand": "Bangkok",
    "Tunisia": "Tunis",
    "Turkey": "Ankara",
    "Uganda": "Kampala",
    "Ukraine": "Kyiv",
    "United Kingdom": "London",
    "Uruguay": "Montevideo",
    "Venezuela": "Caracas",
    "Vietnam": "Hanoi",
    "Zambia": "Lusaka",
    "Zimbabwe": "Harare",
}
# Names that read naturally with "the" ("the capital of the Netherlands"); lookup accepts either.
_WITH_THE = frozenset({"Netherlands", "Philippines", "United Kingdom"})
_COUNTRY_ALIASES = {
    "uk": "United Kingdom",
    "great britain": "United Kingdom",
    "britain": "United Kingdom",
    "holland": "Netherlands",
    "czech republic": "Czechia",
    "turkiye": "Turkey",
}
_COUNTRY_BY_KEY = {name.lower(): name for name in CAPITALS} | _COUNTRY_ALIASES
_COUNTRY_NAMES: tuple[str, ...] = tuple(CAPITALS)


@dataclass(frozen=True)
class _Unit:
    dimension: str
    factor: int  # in the dimension's smallest unit, so any two units of a dimension convert exactly
    singular: str
    plural: str


_UNITS: dict[str, _Unit] = {
    "km": _Unit("length", 100_000, "km", "km"),
    "m": _Unit("length", 100, "m", "m"),
    "cm": _Unit("length", 1, "cm", "cm"),
    "kg": _Unit("mass", 1000, "kg", "kg"),
    "g": _Unit("mass", 1, "g", "g"),
    "hour": _Unit("time", 3600, "hour", "hours"),
    "minute": _Unit("time", 60, "minute", "minutes"),
    "second": _Unit("time", 1, "second", "seconds"),
    "litre": _Unit("volume", 1000, "litre", "litres"),
    "ml": _Unit("volume", 1, "ml", "ml"),
}
_UNIT_ALIASES: dict[str, str] = {
    **{alias: "km" for alias in ("km", "kilometre", "kilometres", "kilometer", "kilometers")},
    **{alias: "m" for alias in ("m", "metre", "metres", "meter", "meters")},
    **{alias: "cm" for alias in ("cm", "centimetre", "centimetres", "centimeter", "centimeters")},
    **{alias: "kg" for alias in ("kg", "kilogram", "kilograms", "kilo", "kilos")},
    **{alias: "g" for alias in ("g", "gram", "grams")},
    **{alias: "hour" for alias in ("hour", "hours", "hr", "hrs", "h")},
    **{alias: "minute" for alias in ("minute", "minutes", "min", "mins")},
    **{alias: "second" for alias in ("second", "seconds", "sec", "secs", "s")},
    **{alias: "litre" for alias in ("litre", "litres", "liter", "liters", "l")},
    **{alias: "ml" for alias in ("ml", "millilitre", "millilitres", "milliliter", "milliliters")},
}
# The generator only asks conversions whose result is an integer for every integer amount.
_UNIT_PAIRS: tuple[tuple[str, str], ...] = (
    ("km", "m"),
    ("m", "cm"),
    ("kg", "g"),
    ("hour", "minute"),
    ("minute", "second"),
    ("litre", "ml"),
)


def _country_display(name: str) -> str:
    return f"the {name}" if name in _WITH_THE else name
