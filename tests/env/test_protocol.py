import itertools
import random
import re

import pytest

from zerosearch_env.protocol import (
    INVALID_ACTION_FEEDBACK,
    POLICY_PROMPT_TEMPLATE,
    build_policy_prompt,
    cut_at_stop,
    drop_thoughts,
    format_information,
    parse_action,
    question_from_prompt,
)


@pytest.mark.parametrize(
    "turn, kind, content",
    [
        ("<search> capital of France </search>", "search", "capital of France"),
        ("<think>x</think>\n<answer>\n Paris \n</answer>", "answer", "Paris"),
        ("<search></search>", "search", ""),  # empty query is still a search
        ("<answer>   </answer>", "answer", ""),
        ("<search> a </search><answer> b </answer>", "search", "a"),  # first match decides
        ("<answer> b </answer><search> a </search>", "answer", "b"),
        ("<search> outer <search> inner </search>", "search", "outer <search> inner"),  # nested: first close wins
        ("<search> unclosed", "invalid", None),
        ("<search> mismatched </answer>", "invalid", None),
        ("<SEARCH> upper </SEARCH>", "invalid", None),  # tags are case-sensitive
        ("plain text", "invalid", None),
        ("", "invalid", None),
        ("<search> 東京タワー の 高さ </search>", "search", "東京タワー の 高さ"),
        ("<answer>Zoë Saldaña</answer>", "answer", "Zoë Saldaña"),
        ("<search>line one\nline two</search>", "search", "line one\nline two"),  # DOTALL
    ],
)
def test_parse_action(turn, kind, content):
    parsed = parse_action(turn)
    assert (parsed.kind, parsed.content) == (kind, content)


def test_parse_very_long_action():
    turn = "<think>" + "x " * 100_000 + "</think><answer> Paris </answer>"
    assert parse_action(turn).content == "Paris"


@pytest.mark.parametrize(
    "text, kept, ignored",
    [
        ("<search> q </search> and more <answer>x</answer>", "<search> q </search>", " and more <answer>x</answer>"),
        ("<answer> a </answer></search>", "<answer> a </answer>", "</search>"),  # the first stop tag of either kind
        ("no stop tag", "no stop tag", ""),
        ("</search>", "</search>", ""),
    ],
)
def test_cut_at_stop(text, kept, ignored):
    assert cut_at_stop(text) == (kept, ignored)


def test_prompt_template_is_the_reference_text():
    prompt = build_policy_prompt("  who is X?  ")
    assert prompt.startswith("Answer the given question. You must conduct reasoning inside <think> and </think> first")
    assert "You can search as many times as your want." in prompt  # sic: the released policies saw this typo
    assert prompt.endswith("For example, <answer> Beijing </answer>. Question: who is X?\n")
    assert POLICY_PROMPT_TEMPLATE.count("{question}") == 1
    assert question_from_prompt(prompt) == "who is X?"
    assert question_from_prompt("no marker") is None


def test_observation_strings():
    assert format_information("Doc 1: a") == "\n\n<information>Doc 1: a</information>\n\n"
    assert INVALID_ACTION_FEEDBACK == (
        "\nMy previous action is invalid. If I want to search, I should put the query between <search> and "
        "</search>. If I want to give the final answer, I should put the answer between <answer> and </answer>. "
        "Let me try again.\n"
    )


# ------------------------------------------------------------------ parse_action against the spec's regex

#: The spec's rule, written as the spec writes it and kept here as the oracle:
#: parse_action must agree with it on every input, however it is implemented.
SPEC_ACTION_PATTERN = re.compile(r"<(search|answer)>(.*?)</\1>", re.DOTALL)

#: Pieces that make the hard cases when strung together: whole and broken tags of both
#: actions, tags of other kinds, unicode, white space and plain words.
PIECES = (
    "<search>",
    "</search>",
    "<answer>",
    "</answer>",
    "<search",
    "search>",
    "</search",
    "</answer",
    "<answer",
    "<",
    ">",
    "</",
    "/",
    "<SEARCH>",
    "</Answer>",
    "<think>",
    "</think>",
    "<information>",
    " ",
    "\n",
    "\t",
    "x",
    "Paris",
    "é",
    "東京",
    "\U0001f600",
    "\x00",
    "",
)


def spec_parse(turn: str) -> tuple[str, str | None]:
    match = SPEC_ACTION_PATTERN.search(turn)
    return ("invalid", None) if match is None else (match.group(1), match.group(2).strip())


def test_parse_action_agrees_with_the_spec_regex_on_every_short_string_of_pieces():
    for length in range(4):
        for combo in itertools.product(PIECES, repeat=length):
            turn = "".join(combo)
            assert tuple(parse_action(turn)) == spec_parse(turn), turn


def test_parse_action_agrees_with_the_spec_regex_on_random_adversarial_strings():
    rng = random.Random(0)
    characters = "<>/ \nsearchanswerSA\u00e9\u4e2d"
    for _ in range(20_000):
        if rng.random() < 0.5:
            turn = "".join(rng.choices(PIECES, k=rng.randint(0, 40)))
        else:  # character soup: tags assemble (and break) by chance
            turn = "".join(rng.choices(characters, k=rng.randint(0, 60)))
        assert tuple(parse_action(turn)) == spec_parse(turn), turn


@pytest.mark.parametrize("n", [1, 2, 1000])
def test_parse_action_on_repeated_openers(n):
    for opener, closer in (("<search>", "</search>"), ("<answer>", "</answer>")):
        for turn in (opener * n, opener * n + closer, opener * n + " q " + closer * n, "<answer>" * n + "<search>" * n + "</search>"):
            assert tuple(parse_action(turn)) == spec_parse(turn)


SPEC_THOUGHT_PATTERN = re.compile(r"<think>.*?</think>\s*", re.DOTALL)  # what drop_thoughts must give


def test_drop_thoughts_agrees_with_the_regex_on_random_strings_and_repeated_openers():
    rng = random.Random(1)
    pieces = ("<think>", "</think>", "<think", "think>", "</think", " ", "\n", "\u00a0", "\u2003", "\x1c", "x", "é", "<search>", "")
    turns = ["".join(rng.choices(pieces, k=rng.randint(0, 30))) for _ in range(20_000)]
    turns += ["<think>" * 1000, "<think>" * 1000 + "</think> q", "</think>" + "<think>" * 3 + "x</think>\n\n y"]
    for turn in turns:
        assert drop_thoughts(turn) == SPEC_THOUGHT_PATTERN.sub("", turn), turn
