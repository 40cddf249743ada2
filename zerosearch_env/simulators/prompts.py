"""What a simulation LLM is asked (its reply is read by ``protocol.parse_reply_documents``).

The *sft* prompts are the wire protocol of the released simulation LLMs
(``sunhaonlp/Simulation_LLM_*``): they were fine-tuned on exactly this text, so it is
reproduced byte for byte. The *prompt-based* (few-shot) prompts are this project's own
design, for plain instruct models.
"""

from __future__ import annotations

from typing import Any

from ..protocol import document_marker, format_documents
from .base import SearchRequest

SFT_USEFUL_TEMPLATE = (
    "You are the Google search engine.\n"
    "Given a query, you need to generate five useful documents for the query.\n"
    "\n"
    'The user is trying to answer the question: "{problem}" whose answer is {ground_truth}.\n'
    "Each document should contain about 30 words, and these documents should contain useful information.\n"
    "\n"
    "Query: {query}\n"
    "Useful Output:\n"
)

SFT_NOISY_TEMPLATE = (
    "You are the Google search engine.\n"
    "Given a query, you need to generate five noisy documents for the query.\n"
    "\n"
    'The user is trying to answer the question: "{problem}" whose answer is {ground_truth}.\n'
    "Each document should contain about 30 words, and these documents should contain noisy information.\n"
    "\n"
    "Query: {query}\n"
    "Noisy Output:\n"
)

_FEW_SHOT_INSTRUCTIONS = {
    "useful": (
        "You are a search engine. Given a search query and the question the user is trying to answer, "
        "write five short documents (about 30 words each) that a good search engine would return. "
        "The documents must be accurate and useful: together they should let a reader answer the question."
    ),
    "noisy": (
        "You are a search engine. Given a search query and the question the user is trying to answer, "
        "write five short documents (about 30 words each) that look like real search results for the query "
        "but are noisy: related to its topic, yet they must not contain or imply the answer to the question."
    ),
}

_FIRST_AND_LAST_DOCUMENT = (format_documents(["..."]), format_documents(["..."] * 5).splitlines()[-1])

#: The worked example of each few-shot prompt: a query, its question, five documents.
_FEW_SHOT_QUERY = 'Query: tallest mountain in Africa\nQuestion: "What is the highest mountain in Africa?" (answer: Mount Kilimanjaro)\n'
_FEW_SHOT_DOCUMENTS = {
    "useful": (
        "Mount Kilimanjaro in Tanzania is the highest mountain in Africa, rising 5,895 metres above sea level.",
        "Kilimanjaro is a dormant volcano with three cones: Kibo, Mawenzi and Shira. Kibo's summit, Uhuru Peak, is Africa's highest point.",
        "Climbers reach the roof of Africa, Kilimanjaro's Uhuru Peak, in five to nine days on routes such as Marangu and Machame.",
        "At 5,895 m, Kilimanjaro is taller than Mount Kenya (5,199 m), the second-highest mountain on the continent.",
        "Kilimanjaro National Park protects Africa's tallest peak and its glaciers, which have shrunk sharply over the last century.",
    ),
    "noisy": (
        "The Atlas Mountains stretch about 2,500 km across Morocco, Algeria and Tunisia, separating the coast from the Sahara.",
        "Africa's mountains host unique wildlife, from mountain gorillas in the Virunga range to Ethiopian wolves in the Bale highlands.",
        "Mountain tourism in East Africa grew quickly in the 1990s, with guided treks becoming a major source of local income.",
        "The Drakensberg range in South Africa is known for its basalt cliffs and thousands of ancient San rock paintings.",
        "The Rwenzori Mountains, sometimes called the Mountains of the Moon, receive rain on most days of the year.",
    ),
}


#: The ways a simulation LLM can be prompted: the released simulators' prompt, the few-shot
#: prompt for instruct models, and its shorter variant for small instruct models.
PROMPT_MODES = ("sft", "prompt", "prompt-small")


def sft_prompt(request: SearchRequest) -> str:
    """The user message for a released (fine-tuned) simulation LLM.

    ``{ground_truth}`` is the first golden answer, as in the reference.
    """
    template = SFT_USEFUL_TEMPLATE if request.quality == "useful" else SFT_NOISY_TEMPLATE
    ground_truth = request.golden_answers[0] if request.golden_answers else ""
    return template.format(problem=request.question, ground_truth=ground_truth, query=request.query)


def few_shot_prompt(request: SearchRequest) -> str:
    """The user message for prompt-based simulation with a plain instruct model."""
    answer = ", ".join(request.golden_answers) or "unknown"
    return (
        f"{_FEW_SHOT_INSTRUCTIONS[request.quality]}\n\n"
        f"Example:\n{_FEW_SHOT_QUERY}{format_documents(_FEW_SHOT_DOCUMENTS[request.quality])}\n\n"
        f"Now the real request.\n"
        f"Query: {request.query}\n"
        f'Question: "{request.question}" (answer: {answer})\n'
        "You must directly output the English documents and not output any other texts. "
        f'Write them as "{_FIRST_AND_LAST_DOCUMENT[0]}" to "{_FIRST_AND_LAST_DOCUMENT[1]}, one per line.'
    )


def small_model_prompt(request: SearchRequest) -> str:
    """A shorter few-shot prompt for small instruct models (``mode="prompt-small"``).

    A model of a few hundred million parameters follows a short, literal request better
    than a long instruction: it asks for exactly ``topk`` documents (not five, to be cut
    later), shows one worked example in the very format to write, and gives the golden
    answer only in useful mode. In noisy mode the model sees only the query, so it cannot
    copy an answer it was never shown: a small model told "do not mention X" tends to
    mention X.
    """
    count = max(1, request.topk)
    shown = min(count, len(_FEW_SHOT_DOCUMENTS[request.quality]))
    if count == 1:
        task = f'Write one search result for the query below: one line that starts with "{document_marker(1)}" and has about 30 words.'
    else:
        task = (
            f"Write {count} search results for the query below, one per line, each about 30 words. "
            f'The lines start with "{document_marker(1)}", "{document_marker(2)}" and so on.'
        )
    if request.quality == "useful":
        answer = ", ".join(request.golden_answers) or "unknown"
        task += f' {"It" if count == 1 else "They"} must state that the answer to the question "{request.question}" is {answer}.'
    else:
        task += f" {'It is' if count == 1 else 'They are'} about the query's topic."
    example = format_documents(_FEW_SHOT_DOCUMENTS[request.quality][:shown])
    return f"{task}\n\n{_FEW_SHOT_QUERY.splitlines()[0]}\n{example}\n\nQuery: {request.query}\n"


def build_prompt(request: SearchRequest, mode: str) -> str:
    """``mode`` is ``"sft"`` (released simulators), ``"prompt"`` (few-shot) or
    ``"prompt-small"`` (few-shot, for small instruct models)."""
    if mode == "sft":
        return sft_prompt(request)
    if mode == "prompt":
        return few_shot_prompt(request)
    if mode == "prompt-small":
        return small_model_prompt(request)
    raise ValueError(f"simulator prompt mode expects one of {list(PROMPT_MODES)}, got {mode!r}")


def chat_messages(prompt: str) -> list[dict[str, str]]:
    """The chat the reference sends: an empty system message, then the prompt."""
    return [{"role": "system", "content": ""}, {"role": "user", "content": prompt}]


def render_chat(tokenizer: Any, request: SearchRequest, mode: str) -> str:
    """The exact text a local backend feeds its model: the prompt as the user turn after an
    empty system message, inside the tokenizer's chat template (shared by hf and vLLM)."""
    messages = chat_messages(build_prompt(request, mode))
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def chat_token_ids(tokenizer: Any, request: SearchRequest, mode: str) -> list[int]:
    """:func:`render_chat` as token ids, with no special tokens added: the template already
    wrote every one the model expects (a tokenizer's own BOS would be a second one)."""
    return tokenizer(render_chat(tokenizer, request, mode), add_special_tokens=False)["input_ids"]
