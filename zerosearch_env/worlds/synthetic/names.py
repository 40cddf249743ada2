"""Made-up names: syllable words, one-letter near-namesakes, and the vocabulary around them.

Every name in the world is built here from random syllables so that no pretrained
model can know the facts behind it; :class:`Names` keeps every content word unique and
away from a list of real places. The fixed vocabularies drawn alongside names (country
endings, film adjectives, company suffixes with their industries, occupations) live here
too: they are what a name is made of, or what a person is drawn with.
"""

from __future__ import annotations

import random

from ...errors import ConfigError
from ...reward import normalize_answer

_ONSETS = ("b", "br", "d", "dr", "f", "g", "k", "kr", "l", "m", "n", "p", "r", "s", "st", "t", "th", "tr", "v", "z", "sh")
_VOWELS = ("a", "e", "i", "o", "u", "a", "e", "o", "i", "ae")
_CODAS = ("n", "r", "l", "s", "k", "x", "m", "nd", "st", "v")
COUNTRY_ENDINGS = ("ia", "ora", "esh", "and", "une", "avia")
FILM_ADJECTIVES = (
    "Silent",
    "Golden",
    "Hollow",
    "Crimson",
    "Quiet",
    "Broken",
    "Northern",
    "Distant",
    "Hidden",
    "Last",
    "Burning",
    "Frozen",
    "Wandering",
    "Lonely",
    "Bright",
    "Secret",
    "Restless",
    "Pale",
    "Iron",
    "Velvet",
)
OCCUPATIONS: tuple[str, ...] = (
    "architect",
    "painter",
    "novelist",
    "engineer",
    "botanist",
    "cartographer",
    "composer",
    "physician",
    "sculptor",
    "astronomer",
    "historian",
    "chemist",
    "jurist",
    "economist",
    "photographer",
    "mathematician",
)
DIRECTOR = "film director"
INDUSTRIES: dict[str, str] = {  # industry -> the company-name suffix that goes with it
    "shipbuilding": "Shipyards",
    "textiles": "Mills",
    "software": "Systems",
    "mining": "Minerals",
    "publishing": "Press",
    "brewing": "Breweries",
    "aviation": "Aeronautics",
    "pharmaceuticals": "Laboratories",
    "railways": "Railways",
    "glassmaking": "Glassworks",
    "banking": "Bank",
    "steel": "Steelworks",
}
GENERIC_COMPANY_SUFFIXES: tuple[str, ...] = ("Industries", "Holdings", "Group", "Works")
COMPANY_SUFFIXES: tuple[str, ...] = tuple(INDUSTRIES.values()) + GENERIC_COMPANY_SUFFIXES

# Real places and words the syllable generator can produce; a generated word in this set is redrawn.
_REAL_WORDS = frozenset(
    """paris rome milan lima riga baku doha kabul dakar lagos tunis bern bonn kobe pune sochi cuba peru
    mali togo tonga nepal benin gabon niger sudan laos iran iraq japan taiwan korea gaza dubai rabat hanoi
    manila madrid berlin kiev minsk lisbon dublin boston denver dallas austin turin pisa siena parma genoa
    bari nara osaka kyoto seoul busan sana male nice lyon brest metz nantes tours arles bale basel graz linz
    split zadar sibiu brno kosice tartu narva vaasa bergen malmo lund odense aarhus delft breda gent brugge
    liege namur derby leeds bath york dover essex kent devon tamil goa surat agra patna ranchi kota kandy
    galle dhaka tokyo nagoya sapporo perth darwin hobart cairns lusaka harare maputo luanda kigali bamako
    niamey accra lome abuja kano zaria dodoma moroni sanaa aden muscat kuwait beirut damascus amman homs
    haifa eilat baghdad basra tabriz shiraz herat kandahar karachi lahore delhi kerala rio salvador
    recife natal belem manaus quito bogota cali medellin caracas panama havana tampa miami orlando reno
    salem dayton akron toledo fresno tucson mesa omaha tulsa wichita laredo waco plano frisco boise
    vegas sparta athens troy theben thebes corinth argos delos rhodes crete malta sardinia venice verona
    padua trento bolzano lugano zurich geneva vienna prague krakow gdansk lodz sopot poznan warsaw
    riga vilnius kaunas tallinn helsinki turku oslo stavanger gothenburg uppsala stockholm copenhagen
    kolkata mumbai chennai pondicherry vienna salzburg innsbruck munich dresden leipzig bremen hamburg
    hanover kassel mainz trier bonn aachen cologne essen dortmund kiel lubeck rostock potsdam
    born river city film company capital founded year the and""".split()
)


def _word(rng: random.Random, syllables: int) -> str:
    """A capitalised pronounceable word of ``syllables`` syllables (onset + vowel + maybe coda)."""
    parts = []
    for i in range(syllables):
        last = i == syllables - 1
        coda = rng.choice(_CODAS) if rng.random() < (0.55 if last else 0.15) else ""
        parts.append(rng.choice(_ONSETS) + rng.choice(_VOWELS) + coda)
    return "".join(parts).capitalize()


_VOWEL_LETTERS = "aeiou"
_CONSONANT_LETTERS = "bdfgklmnprstvz"


def _mutate(rng: random.Random, word: str) -> str:
    """Change one letter (vowel for vowel, consonant for consonant), keeping the first.

    >>> _mutate(random.Random(0), "Kestin") != "Kestin"
    True
    """
    position = rng.randrange(1, len(word))
    old = word[position].lower()
    pool = _VOWEL_LETTERS if old in _VOWEL_LETTERS else _CONSONANT_LETTERS
    new = rng.choice([c for c in pool if c != old])
    return word[:position] + new + word[position + 1 :]


class Names:
    """Draws unique names; every content word is used by one entity only.

    Keeping *words* (not just full names) unique means a city name never hides inside a
    person's name, so "the answer appears in the document" really means the answer.
    First names are the one exception: people share a pool of them, as in life.
    """

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.words: set[str] = set()
        self.names: set[str] = set()

    def fresh_word(self, min_syllables: int = 2, max_syllables: int = 3, ending: str = "") -> str:
        for _ in range(1000):
            word = _word(self.rng, self.rng.randint(min_syllables, max_syllables)) + ending
            if self._free(word):
                self.words.add(word.lower())
                return word
        raise ConfigError("WorldConfig sizes exhaust the fictional name space; use smaller sizes")

    def near_word(self, word: str) -> str:
        for _ in range(200):
            candidate = _mutate(self.rng, word)
            if self._free(candidate):
                self.words.add(candidate.lower())
                return candidate
        return self.fresh_word()  # no one-letter neighbour left: fall back to a new word

    def claim(self, name: str) -> str:
        key = normalize_answer(name)
        if key in self.names:
            raise AssertionError(f"duplicate name {name!r}")  # unreachable: words are unique
        self.names.add(key)
        return name

    def _free(self, word: str) -> bool:
        lower = word.lower()
        return 4 <= len(word) <= 9 and lower not in self.words and lower not in _REAL_WORDS
