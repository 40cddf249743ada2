"""The simulator prompts are the released models' wire protocol: check them against the spec text."""

import pytest

from zerosearch_env.protocol import parse_reply_documents, postprocess_reply
from zerosearch_env.simulators.base import SearchRequest
from zerosearch_env.simulators.prompts import build_prompt, chat_messages, few_shot_prompt, sft_prompt

SPEC_USEFUL = """You are the Google search engine.
Given a query, you need to generate five useful documents for the query.

The user is trying to answer the question: "Who founded Acme?" whose answer is Jane Doe.
Each document should contain about 30 words, and these documents should contain useful information.

Query: acme founder
Useful Output:
"""  # the reference's triple-quoted string closes on the next line: the prompt ends with a newline


def request(quality="useful", **kwargs):
    fields = dict(query="acme founder", question="Who founded Acme?", golden_answers=("Jane Doe", "J. Doe"), quality=quality)
    fields.update(kwargs)
    return SearchRequest(**fields)


def test_sft_useful_prompt_is_the_spec_text():
    assert sft_prompt(request("useful")) == SPEC_USEFUL


def test_sft_prompts_end_with_the_newline_the_released_weights_were_trained_on():
    assert sft_prompt(request("useful")).endswith("Query: acme founder\nUseful Output:\n")
    assert sft_prompt(request("noisy")).endswith("Query: acme founder\nNoisy Output:\n")


def test_sft_noisy_prompt_is_the_spec_text_with_noisy():
    expected = (
        SPEC_USEFUL.replace("generate five useful documents", "generate five noisy documents")
        .replace("should contain useful information", "should contain noisy information")
        .replace("Useful Output:", "Noisy Output:")
    )
    assert sft_prompt(request("noisy")) == expected
    assert "useful" not in sft_prompt(request("noisy")).lower()


def test_each_request_gets_its_own_question_and_answer():
    a = request(question="Q one?", golden_answers=("A1",))
    b = request(question="Q two?", golden_answers=("A2",))
    assert '"Q one?" whose answer is A1.' in sft_prompt(a)
    assert '"Q two?" whose answer is A2.' in sft_prompt(b)


def test_few_shot_prompt():
    useful, noisy = few_shot_prompt(request("useful")), few_shot_prompt(request("noisy"))
    assert useful.endswith('Write them as "Doc 1: ..." to "Doc 5: ..., one per line.')
    assert "You must directly output the English documents and not output any other texts." in useful
    assert "Query: acme founder" in useful and "(answer: Jane Doe, J. Doe)" in useful
    assert "must not contain or imply the answer" in noisy
    assert build_prompt(request(), "prompt") == useful and build_prompt(request(), "sft") == SPEC_USEFUL
    with pytest.raises(ValueError, match="sft"):
        build_prompt(request(), "zero-shot")


def test_chat_has_empty_system_message():
    assert chat_messages("hi") == [{"role": "system", "content": ""}, {"role": "user", "content": "hi"}]


def test_postprocess_matches_reference():
    reply = "Doc 1: a\n\nDoc 2: b\n\nDoc 3: c\n\nDoc 4: d\n\nDoc 5: e\n\nDoc 6: f"
    assert postprocess_reply(reply, topk=5) == "Doc 1: a\nDoc 2: b\nDoc 3: c\nDoc 4: d\nDoc 5: e\n"
    assert postprocess_reply(reply, topk=3) == "Doc 1: a\nDoc 2: b\nDoc 3: c\n"
    assert postprocess_reply("no docs", topk=5) == "no docs"


def test_parse_documents_handles_model_quirks():
    assert parse_reply_documents("Doc 1: a b\nc\nDoc 2. d", topk=5) == ("a b c", "d")
    assert parse_reply_documents("Sure! Here:\nDoc 1: x\nDoc 2: y", topk=5) == ("x", "y")
    assert parse_reply_documents("Doc 1: x\nDoc 2:\nDoc 3: z", topk=5) == ("x", "z")


def test_the_small_model_prompt_asks_for_topk_documents_and_shows_the_answer_only_in_useful_mode():
    from zerosearch_env.simulators.prompts import build_prompt

    useful = SearchRequest("Mezisar country", "Mezisar is a city in which country?", ("Zemisune",), "useful", topk=1)
    noisy = SearchRequest("Mezisar country", "Mezisar is a city in which country?", ("Zemisune",), "noisy", topk=3)
    one = build_prompt(useful, "prompt-small")
    assert one.startswith('Write one search result for the query below: one line that starts with "Doc 1:"')
    assert 'the answer to the question "Mezisar is a city in which country?" is Zemisune' in one
    assert one.endswith("\nQuery: Mezisar country\n") and one.count("\nDoc 1: ") == 1 and "Doc 2" not in one
    three = build_prompt(noisy, "prompt-small")
    assert "Write 3 search results" in three and three.count("\nDoc ") == 3  # the example shows as many as it asks for
    assert "Zemisune" not in three and "which country" not in three  # a noisy search never shows the answer


def test_a_prompt_simulator_takes_the_small_model_mode_and_refuses_the_sft_one():
    from zerosearch_env.errors import ConfigError
    from zerosearch_env.simulators.registry import make_simulator

    with pytest.raises(ConfigError, match=r"'prompt' .* or 'prompt-small'"):
        make_simulator("prompt:some/model", mode="sft")
