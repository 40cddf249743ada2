"""Behaviour cloning's name swap: a name's facts change from batch to batch, its kind does not."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from zerosearch_agents.warm_start import _swap, name_token_ids


def test_names_are_permuted_within_their_group_the_same_way_everywhere():
    cities, surnames = torch.tensor([10, 11, 12, 13]), torch.tensor([20, 21, 22])
    ids = torch.tensor([[1, 10, 2, 20, 10, 21], [12, 3, 13, 22, 11, 0]])
    swapped = _swap(ids, [cities, surnames], torch.Generator().manual_seed(3))
    mapping = {}
    for before, after in zip(ids.flatten().tolist(), swapped.flatten().tolist()):
        assert mapping.setdefault(before, after) == after  # one name, one substitute, everywhere
    assert {mapping[t] for t in (10, 11, 12, 13)} == {10, 11, 12, 13}  # a city stays a city
    assert {mapping[t] for t in (20, 21, 22)} <= {20, 21, 22}
    assert all(mapping[t] == t for t in (0, 1, 2, 3))  # everything else is left alone
    assert swapped.tolist() != ids.tolist()


def test_only_names_the_tokenizer_keeps_whole_are_swapped():
    pytest.importorskip("transformers")
    from zerosearch_agents.policy import build_word_tokenizer

    tokenizer = build_word_tokenizer(["Valora Kestin founded Karvex Mills", "Valora was born"])
    ids = name_token_ids(tokenizer, ["Valora", "Kestin", "Unheard"])  # "Unheard" is not in the vocabulary
    assert ids == sorted(tokenizer.convert_tokens_to_ids(["Valora", "Kestin"]))


def test_a_demonstration_longer_than_the_episode_limit_is_cut_and_still_clones():
    pytest.importorskip("transformers")
    from zerosearch_agents.policy import build_word_tokenizer
    from zerosearch_agents.rollout import RolloutBatch
    from zerosearch_agents.warm_start import Demonstration, tokenize_demonstration

    tokenizer = build_word_tokenizer(["Question who founded Karvex Mills", "Valora Kestin founded it " * 3])
    observation = "<information> " + "Valora Kestin founded it " * 40 + "</information>"
    demo = Demonstration("Question: who founded Karvex Mills ?", [("<search> Karvex Mills </search>", observation), ("<answer> Valora Kestin </answer>", "")])
    episode = tokenize_demonstration(demo, tokenizer, chat=False, max_total_tokens=60)
    assert len(episode.token_ids) == len(episode.loss_mask) == len(episode.logprobs) == 60
    assert episode.hit_total_limit
    assert episode.turn_spans and all(0 <= start < end <= 60 for start, end in episode.turn_spans)
    assert len(episode.turn_spans) == 1  # the answer turn lay past the limit
    RolloutBatch([episode]).tensors(pad_id=0)  # the reward's position exists


def test_demonstrations_on_the_first_questions_only_are_those_of_the_whole_set():
    from zerosearch_agents.config import make_config
    from zerosearch_agents.warm_start import scripted_demonstrations

    cfg = make_config("cpu-demo")
    kwargs = dict(no_search_share=0.5, seed=3)
    rows = [{"question": f"Who founded Mill {i}?", "golden_answers": [f"Founder {i}"]} for i in range(12)]
    documents = [{"id": str(i), "contents": f'"Mill {i}" Mill {i} was founded by Founder {i}.'} for i in range(12)]
    env = cfg.env.env_kwargs(difficulty=0.0, dataset=rows, corpus=documents)
    every = scripted_demonstrations(env, **kwargs)
    first = scripted_demonstrations(env, questions=5, **kwargs)
    assert len(every) == 12 and first == every[:5]  # the same seeds and the same no-search draws
    with pytest.raises(Exception, match="bc_questions expects a number of training questions >= 1"):
        make_config("cpu-demo", bc_questions=0)


def test_fewer_demonstrations_than_one_batch_is_an_error_not_an_endless_loop():
    from zerosearch_agents.rollout import Episode
    from zerosearch_agents.warm_start import batches
    from zerosearch_env.errors import ConfigError

    episodes = [Episode([1, 2, 3], [0, 1, 1], [0.0, 0.0, 0.0], prompt_length=1) for _ in range(4)]
    assert len(next(batches(episodes, 4, seed=0))) == 4
    with pytest.raises(ConfigError, match=r"4 demonstrations, fewer than one batch of 8.*bc_batch_size"):
        next(batches(episodes, 8, seed=0))
