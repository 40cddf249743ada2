"""The sentences of the world: fact and filler templates for documents, and question templates.

All the English text that generation fills in sits here, as data: one place to read
or reword how a fact is stated or a question asked, without touching the code that
draws the world. Changing a template's wording or order changes the generated world.
"""

from __future__ import annotations

FACT_TEMPLATES: dict[tuple[str, str], tuple[str, ...]] = {
    ("person", "birth_year"): (
        "{S} was born in {year}.",
        "{S} was born in the year {year}.",
        "Records give {year} as the year {S} was born.",
    ),
    ("person", "birth_city"): (
        "{S} was born in the city of {city}.",
        "{S} is a native of {city}.",
        "The birthplace of {S} is {city}.",
    ),
    ("person", "occupation"): (
        "{S} worked as {a} {occupation}.",
        "{S} is best known as {a} {occupation}.",
        "By profession, {S} was {a} {occupation}.",
    ),
    ("person", "employer"): (
        "{S} was employed by {company} for many years.",
        "{S} spent a long career at {company}.",
        "{company} employed {S} for many years.",
    ),
    ("person", "founded"): ("{S} founded {company} in {year}.",),
    ("person", "directed"): ("{S} directed the film {film}.",),
    ("company", "founder"): (
        "{S} was founded by {person}.",
        "The founder of {S} was {person}.",
        "{person} established {S}.",
    ),
    ("company", "founded_year"): (
        "{S} was founded in {year}.",
        "{S} has been in business since {year}.",
        "{S} was established in {year}.",
    ),
    ("company", "hq_city"): (
        "{S} is headquartered in {city}.",
        "The headquarters of {S} are in {city}.",
        "{S} is based in the city of {city}.",
    ),
    ("company", "industry"): (
        "{S} operates in the {industry} industry.",
        "{S} is {a} {industry} company.",
        "{S} made its name in {industry}.",
    ),
    ("film", "director"): (
        "{S} is a film directed by {person}.",
        "{person} directed {S}.",
        "The director of {S} was {person}.",
    ),
    ("film", "release_year"): (
        "{S} was released in {year}.",
        "{S} premiered in {year}.",
        "{S} first reached cinemas in {year}.",
    ),
    ("film", "filming_city"): (
        "{S} was filmed in {city}.",
        "Principal photography for {S} took place in {city}.",
        "{S} was shot on location in {city}.",
    ),
    ("city", "country"): (
        "{S} is a city in {country}.",
        "{S} is located in {country}.",
        "{S} lies in the country of {country}.",
    ),
    ("city", "founded_year"): (
        "{S} was founded in {year}.",
        "{S} dates its founding to {year}.",
        "Settlers founded {S} in {year}.",
    ),
    ("city", "river"): (
        "{S} lies on the banks of the {river}.",
        "{S} was built along the {river}.",
        "The {river} runs through the centre of {S}.",
    ),
    ("city", "capital_of"): (
        "{S} is the capital of {country}.",
        "{S} serves as the capital of {country}.",
    ),
    ("country", "capital"): (
        "The capital of {S} is {city}.",
        "{S} is governed from its capital, {city}.",
    ),
    ("country", "cities"): ("Cities of {S} include {cities}.",),
    ("country", "rivers"): ("The {river} flows through {S}.",),
    ("river", "length_km"): (
        "The {S} is {km} kilometres long.",
        "The {S} runs for {km} kilometres.",
        "The {S} has a total length of {km} km.",
    ),
    ("river", "country"): (
        "The {S} flows through {country}.",
        "The {S} is a river in {country}.",
        "The {S} crosses the country of {country}.",
    ),
}

# Filler states nothing a question asks about, names nobody but the subject, and avoids
# years, so it can never contradict a fact.
FILLER: dict[str, tuple[str, ...]] = {
    "any": (
        "{S} is discussed in a number of regional histories.",
        "Further details about {S} are kept in local archives.",
        "Accounts of {S} vary in detail but agree on the main points.",
        "This article about {S} is a stub and may be expanded.",
        "A short bibliography on {S} lists several monographs.",
        "Students and researchers often write about {S}.",
    ),
    "person": (
        "{S} corresponded with many contemporaries.",
        "Colleagues remembered {S} as patient and exacting.",
        "Letters written by {S} survive in private collections.",
        "{S} rarely gave interviews.",
    ),
    "company": (
        "{S} publishes an annual report for its shareholders.",
        "{S} has changed its logo several times.",
        "Staff at {S} describe a cautious corporate culture.",
    ),
    "film": (
        "Critics offered mixed reviews of {S}.",
        "{S} has a devoted following among collectors.",
        "The score of {S} was praised by reviewers.",
    ),
    "city": (
        "{S} has a covered market and several old bridges.",
        "{S} is known for its narrow streets.",
        "{S} hosts a small annual fair.",
    ),
    "country": (
        "{S} has a temperate climate in most regions.",
        "{S} is divided into several provinces.",
    ),
    "river": (
        "The {S} is popular with anglers.",
        "The {S} freezes in hard winters.",
        "Barges still use parts of the {S}.",
    ),
}

SINGLE_TEMPLATES: dict[tuple[str, str], tuple[str, ...]] = {
    ("person", "birth_city"): ("In which city was {s} born?", "Where was {s} born?"),
    ("person", "birth_year"): ("In what year was {s} born?", "When was {s} born?"),
    ("person", "occupation"): ("What was the occupation of {s}?", "What did {s} do for a living?"),
    ("person", "employer"): ("Which company did {s} work for?", "Which company employed {s}?"),
    ("company", "founder"): ("Who founded {s}?", "Who was the founder of {s}?"),
    ("company", "founded_year"): ("In what year was {s} founded?", "When was {s} founded?"),
    ("company", "hq_city"): ("In which city is {s} headquartered?", "Where is {s} based?"),
    ("company", "industry"): ("In which industry does {s} operate?", "What industry is {s} in?"),
    ("film", "director"): ("Who directed the film {s}?", "Who was the director of {s}?"),
    ("film", "release_year"): ("In what year was the film {s} released?", "When was {s} released?"),
    ("film", "filming_city"): ("In which city was the film {s} shot?", "Where was {s} filmed?"),
    ("city", "country"): ("In which country is {s} located?", "{s} is a city in which country?"),
    ("city", "founded_year"): ("In what year was the city of {s} founded?", "When was the city of {s} founded?"),
    ("city", "river"): ("Which river flows through {s}?", "On which river does {s} lie?"),
    ("country", "capital"): ("What is the capital of {s}?", "Which city is the capital of {s}?"),
    ("river", "length_km"): ("How long is the {s} in kilometres?", "What is the length of the {s} in kilometres?"),
    ("river", "country"): ("Through which country does the {s} flow?", "In which country is the {s}?"),
}

BRIDGE_TEMPLATES: dict[tuple[str, str, str], str] = {
    ("company", "founder", "birth_city"): "In which city was the founder of {s} born?",
    ("company", "founder", "birth_year"): "In what year was the founder of {s} born?",
    ("film", "director", "birth_city"): "In which city was the director of the film {s} born?",
    ("film", "director", "birth_year"): "In what year was the director of the film {s} born?",
    ("person", "employer", "founder"): "Who founded the company that {s} worked for?",
    ("person", "employer", "hq_city"): "In which city is the company that {s} worked for headquartered?",
    ("person", "birth_city", "country"): "In which country was {s} born?",
    ("film", "filming_city", "country"): "In which country was the film {s} shot?",
    ("city", "country", "capital"): "What is the capital of the country where {s} is located?",
    ("company", "hq_city", "river"): "Which river flows through the city where {s} is headquartered?",
}

# (kind, relation, pick): pick "min" asks for the earlier value, "max" for the larger one.
COMPARISON_TEMPLATES: dict[tuple[str, str, str], str] = {
    ("company", "founded_year", "min"): "Which company was founded first, {a} or {b}?",
    ("person", "birth_year", "min"): "Who was born earlier, {a} or {b}?",
    ("film", "release_year", "min"): "Which film was released first, {a} or {b}?",
    ("city", "founded_year", "min"): "Which city was founded earlier, {a} or {b}?",
    ("river", "length_km", "max"): "Which river is longer, the {a} or the {b}?",
}


def article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"
