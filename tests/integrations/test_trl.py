"""ZeroSearch-v0 inside TRL's GRPOTrainer: a real trainer on CPU, the vLLM server engine
against a fake server, and the rollout's rules with a scripted engine."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("trl")
pytest.importorskip("transformers")

from zerosearch_env.errors import ConfigError, DatasetError
from zerosearch_env.integrations.trl import make_rollout_func, prompt_dataset, zerosearch_reward
from zerosearch_env.integrations.trl_engines import IndependentEngine, ServerEngine, ServerGenerationError, Turn
from zerosearch_env.testing import JSONServer, build_tiny_llama, build_tokenizer
from zerosearch_env.worlds.synthetic import make_world

TEMPLATE = "Question: {question}\n"
SETTINGS = {"sim": "corpus", "dataset": "synthetic", "prompt_template": TEMPLATE, "topk": 1, "max_turns": 2}
ROWS = make_world().questions("train")[:4]
# TRL's GRPOConfig and trainer still call transformers' gradient_checkpointing names,
# which transformers 5 deprecates; the suite turns transformers' deprecations into errors.
TRL_DEPRECATIONS = pytest.mark.filterwarnings("ignore:.*gradient_checkpointing.*:FutureWarning")


@pytest.fixture(scope="module")
def tokenizer():
    return build_tokenizer()


@pytest.fixture(scope="module")
def cloned_policy(tmp_path_factory) -> Path:
    """The tiny policy after behaviour cloning on the scripted agent's episodes for ROWS:
    it searches, then answers, right often enough (at temperature 1.2) for a group's
    rewards to differ."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from zerosearch_agents.warm_start import behaviour_cloning, scripted_demonstrations, tokenize_demonstration

    path = build_tiny_llama(tmp_path_factory.mktemp("policy") / "tiny", hidden_size=64)
    model, tok = AutoModelForCausalLM.from_pretrained(path), AutoTokenizer.from_pretrained(path)
    env_kwargs = dict(sim="corpus", dataset="synthetic", prompt_template=TEMPLATE, topk=1, max_turns=2, difficulty=0.0)
    demos = scripted_demonstrations(env_kwargs, keep_think=False, seed=0, questions=len(ROWS))
    episodes = [tokenize_demonstration(d, tok, chat=False, max_total_tokens=256) for d in demos]
    behaviour_cloning(model, episodes, steps=300, lr=3e-3, batch_size=4, pad_id=tok.pad_token_id, progress=False)
    model.save_pretrained(path)
    return path


@TRL_DEPRECATIONS
def test_a_real_grpo_trainer_plays_zerosearch_episodes_on_cpu(cloned_policy, tmp_path, monkeypatch):
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer

    monkeypatch.setenv("TRL_EXPERIMENTAL_SILENCE", "1")
    settings = {**SETTINGS, "curriculum": {"start": 0.0, "end": 1.0, "total_steps": 2, "kind": "linear"}}
    rollout = make_rollout_func(settings, ROWS, max_tokens_per_turn=24)
    played: list[tuple[int, dict]] = []

    def recording_rollout(prompts, trainer):
        out = rollout(prompts, trainer)
        played.append((trainer.state.global_step, out))
        return out

    model, tok = AutoModelForCausalLM.from_pretrained(cloned_policy), AutoTokenizer.from_pretrained(cloned_policy)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    args = GRPOConfig(
        output_dir=str(tmp_path),
        max_steps=3,
        per_device_train_batch_size=8,
        num_generations=4,
        max_completion_length=256,
        learning_rate=1e-3,
        temperature=1.2,
        logging_steps=1,
        report_to=[],
        use_cpu=True,
        bf16=False,  # float32, as the learner's tests: accelerate's process-wide state keeps one precision
        seed=0,
        save_strategy="no",
    )
    trainer = GRPOTrainer(
        model=model,
        processing_class=tok,
        reward_funcs=[zerosearch_reward],
        args=args,
        train_dataset=prompt_dataset(settings, ROWS),
        rollout_func=recording_rollout,
    )
    trainer.train()

    # the curriculum follows the trainer's step: 0, 1, 2 -> noise 0, 0.5, 1.0
    assert [step for step, _ in played] == [0, 1, 2]
    for (step, out), noise in zip(played, (0.0, 0.5, 1.0)):
        assert {m["training_step"] for m in out["zerosearch_episode"]} == {float(step)}
        assert {m["noise_prob"] for m in out["zerosearch_episode"]} == {noise}
    logs = [entry for entry in trainer.state.log_history if "reward" in entry]
    assert len(logs) == 3
    differed = False
    for (_, out), log in zip(played, logs):
        f1 = [m["f1"] for m in out["zerosearch_episode"]]
        assert out["zerosearch_score"] == f1  # the reward is the episode's F1
        assert log["rewards/zerosearch_reward/mean"] == pytest.approx(np.mean(f1))
        assert log["zerosearch/noise_prob"] == pytest.approx(out["zerosearch_episode"][0]["noise_prob"])
        # the loss mask is the policy's tokens only: TRL's completion length counts them
        assert log["completions/mean_length"] == pytest.approx(np.mean([sum(mask) for mask in out["env_mask"]]))
        for ids, mask, logprobs in zip(out["completion_ids"], out["env_mask"], out["logprobs"]):
            assert len(ids) == len(mask) == len(logprobs) <= 256
            assert all(lp < 0 for lp, m in zip(logprobs, mask) if m) and all(lp == 0 for lp, m in zip(logprobs, mask) if not m)
            for span in _spans(ids, mask, 0):
                text = tok.decode(span)
                assert span == [tok.eos_token_id] or "<information>" in text or "previous action is invalid" in text, text
        groups = np.array(f1).reshape(-1, 4)
        differed |= bool((groups.std(axis=1) > 0).any())
    assert differed, "no group's rewards differed: the cloned policy no longer gives the test a signal"
    changed = max((p.detach() - before[name]).abs().max().item() for name, p in model.named_parameters())
    assert changed > 0


def _spans(ids: list[int], mask: list[int], value: int) -> list[list[int]]:
    """The runs of ``ids`` whose mask is ``value``."""
    spans, current = [], []
    for token, m in zip(ids, mask):
        if m == value:
            current.append(token)
        elif current:
            spans.append(current)
            current = []
    return spans + ([current] if current else [])


# ----------------------------------------------------------------------------- without a trainer


def fake_trainer(tokenizer, *, limit: int = 256, step: int = 0, max_steps: int = 10, **args) -> SimpleNamespace:
    """What the rollout reads from a GRPOTrainer."""
    defaults = dict(seed=0, generation_kwargs=None, vllm_server_base_url=None, vllm_server_host="127.0.0.1", vllm_server_port=8000)
    return SimpleNamespace(
        max_completion_length=limit,
        state=SimpleNamespace(global_step=step, max_steps=max_steps),
        args=SimpleNamespace(**{**defaults, **args}),
        accelerator=SimpleNamespace(process_index=0),
        processing_class=tokenizer,
        eos_token_ids=[tokenizer.eos_token_id],
        use_vllm=False,
        vllm_mode=None,
        temperature=1.0,
        top_p=1.0,
        top_k=0,
        min_p=None,
        repetition_penalty=1.0,
    )


class ScriptedEngine(IndependentEngine):
    """Search the question once, then answer ``answer``; ids from the real tokenizer."""

    def __init__(self, tokenizer, answer: str | None = None, *, repeat: int = 1, end: bool = False):
        self.tokenizer, self.answer, self.repeat, self.end = tokenizer, answer, repeat, end
        self.calls: list[tuple[list[list[int]], list[int]]] = []

    def __call__(self, contexts, budgets):
        self.calls.append(([list(c) for c in contexts], list(budgets)))
        turns = []
        for context, budget in zip(contexts, budgets):
            text = self.tokenizer.decode(context)
            if "<information>" in text:
                action = f"<answer> {self.answer} </answer>"
            else:
                action = "<search> " + text.split("Question: ")[-1].strip() * self.repeat + " </search>"
            ids = self.tokenizer(action, add_special_tokens=False)["input_ids"]
            if self.end:
                ids = [*ids, self.tokenizer.eos_token_id]
            turns.append(Turn(ids[:budget], [-0.25] * len(ids[:budget])))
        return turns


def test_an_episode_searches_then_answers_with_the_masks_and_log_probs_in_place(tokenizer):
    row = ROWS[0]
    engine = ScriptedEngine(tokenizer, row.golden_answers[0])
    rollout = make_rollout_func(SETTINGS, ROWS, generate=lambda trainer: engine)
    out = rollout([TEMPLATE.format(question=row.question)] * 2, fake_trainer(tokenizer))
    assert out["zerosearch_score"] == [1.0, 1.0]
    ids, mask = out["completion_ids"][0], out["env_mask"][0]
    policy = _spans(ids, mask, 1)
    assert [tokenizer.decode(span) for span in policy] == [
        "<search> " + row.question.strip() + " </search>",
        f"<answer> {row.golden_answers[0]} </answer>",
    ]
    observation, closing = _spans(ids, mask, 0)
    assert tokenizer.decode(observation).strip().startswith("<information>")
    assert closing == [tokenizer.eos_token_id] and ids[-1] == tokenizer.eos_token_id  # finished: not clipped
    assert [lp for lp, m in zip(out["logprobs"][0], mask) if m] == [-0.25] * sum(mask)
    assert out["prompt_ids"][0] == tokenizer(text=[TEMPLATE.format(question=row.question)])["input_ids"][0]
    episode = out["zerosearch_episode"][0]
    assert episode["searches"] == 1 and episode["f1"] == 1.0 and episode["truncated"] == 0.0
    # the second round generated for both episodes in one call
    assert [len(contexts) for contexts, _ in engine.calls] == [2, 2]

    logged = {}
    rewards = zerosearch_reward([None] * 2, log_metric=logged.__setitem__, **{k: v for k, v in out.items() if k.startswith("zerosearch")})
    assert rewards == [1.0, 1.0] and logged["zerosearch/searches"] == 1.0 and logged["zerosearch/em"] == 1.0


def test_an_episode_longer_than_max_completion_length_is_cut_and_left_unfinished(tokenizer):
    engine = ScriptedEngine(tokenizer, ROWS[0].golden_answers[0], repeat=6)  # a long query, then long documents
    rollout = make_rollout_func(SETTINGS, ROWS, generate=lambda trainer: engine)
    out = rollout([TEMPLATE.format(question=ROWS[0].question)], fake_trainer(tokenizer, limit=40))
    ids, mask = out["completion_ids"][0], out["env_mask"][0]
    assert len(ids) == len(mask) == 39  # within the limit, the closing place unused
    assert ids[-1] != tokenizer.eos_token_id  # TRL counts it clipped (and mask_truncated_completions drops it)
    assert out["zerosearch_score"] == [0.0] and out["zerosearch_episode"][0]["truncated"] == 1.0
    assert all(budget <= 39 for _, budgets in engine.calls for budget in budgets)


def test_a_policy_end_id_closes_the_episode_and_only_an_answer_scores(tokenizer):
    engine = ScriptedEngine(tokenizer, ROWS[0].golden_answers[0], end=True)
    out = make_rollout_func(SETTINGS, ROWS, generate=lambda trainer: engine)([TEMPLATE.format(question=ROWS[0].question)], fake_trainer(tokenizer))
    ids, mask = out["completion_ids"][0], out["env_mask"][0]
    assert len(engine.calls) == 1  # the search turn ended with the end id: no documents, no second turn
    assert ids[-1] == tokenizer.eos_token_id and mask[-1] == 1  # sampled by the policy: trained
    assert out["zerosearch_score"] == [0.0] and out["zerosearch_episode"][0]["searches"] == 0


def test_a_curriculum_without_total_steps_spans_the_trainers_max_steps(tokenizer):
    settings = {**SETTINGS, "curriculum": {"start": 0.0, "end": 1.0, "kind": "linear"}}
    rollout = make_rollout_func(settings, ROWS, generate=lambda trainer: ScriptedEngine(tokenizer, "x"))
    out = rollout([TEMPLATE.format(question=ROWS[1].question)], fake_trainer(tokenizer, step=1, max_steps=4))
    assert out["zerosearch_episode"][0]["noise_prob"] == 0.25


def test_the_same_seed_and_step_give_the_same_noise_draws(tokenizer):
    settings = {**SETTINGS, "difficulty": 0.5}
    prompts = [TEMPLATE.format(question=row.question) for row in ROWS] * 4

    def noisy(seed):
        rollout = make_rollout_func(settings, ROWS, generate=lambda trainer: ScriptedEngine(tokenizer, "x"))
        return [m["noisy_searches"] for m in rollout(prompts, fake_trainer(tokenizer, seed=seed))["zerosearch_episode"]]

    assert noisy(0) == noisy(0)
    assert 0 < sum(noisy(0)) < len(prompts)


def test_conversational_prompts_are_found_and_templated(tokenizer):
    dataset = prompt_dataset(SETTINGS, ROWS, chat=True)
    assert dataset[0]["prompt"] == [{"role": "user", "content": TEMPLATE.format(question=ROWS[0].question)}]
    assert dataset[0]["golden_answers"] == list(ROWS[0].golden_answers)
    rollout = make_rollout_func(SETTINGS, ROWS, generate=lambda trainer: ScriptedEngine(tokenizer, ROWS[0].golden_answers[0]))
    out = rollout([dataset[0]["prompt"]], fake_trainer(tokenizer))
    expected = tokenizer.apply_chat_template(dataset[0]["prompt"], add_generation_prompt=True, tokenize=True, return_dict=True)["input_ids"]
    assert out["prompt_ids"][0] == list(expected)


def test_an_unknown_prompt_and_conflicting_rows_are_named(tokenizer):
    rollout = make_rollout_func(SETTINGS, ROWS, generate=lambda trainer: ScriptedEngine(tokenizer, "x"))
    with pytest.raises(DatasetError, match=r"not one of the 4 rows given to make_rollout_func.*prompt_dataset"):
        rollout(["Question: who wrote this test?\n"], fake_trainer(tokenizer))
    twin = {"question": ROWS[0].question, "golden_answers": ["something else"]}
    with pytest.raises(DatasetError, match=r"share the prompt.*not the answers"):
        make_rollout_func(SETTINGS, [ROWS[0], twin])
    make_rollout_func(SETTINGS, [ROWS[0], {"question": ROWS[0].question, "golden_answers": list(ROWS[0].golden_answers)}])


def test_bad_settings_and_modes_are_refused(tokenizer):
    with pytest.raises(ConfigError, match=r"unknown settings.*'topkk'"):
        make_rollout_func({**SETTINGS, "topkk": 3}, ROWS)
    with pytest.raises(ConfigError, match="generate expects one of"):
        make_rollout_func(SETTINGS, ROWS, generate="sglang")
    with pytest.raises(ConfigError, match="needs GRPOConfig\\(use_vllm=True, vllm_mode='server'\\)"):
        make_rollout_func(SETTINGS, ROWS, generate="vllm_server")([TEMPLATE.format(question=ROWS[0].question)], fake_trainer(tokenizer))
    trainer = fake_trainer(tokenizer)
    trainer.top_k = 50
    with pytest.raises(ConfigError, match=r"temperature and top_p only.*top_k"):
        make_rollout_func(SETTINGS, ROWS, generate="transformers")([TEMPLATE.format(question=ROWS[0].question)], trainer)
    with pytest.raises(ConfigError, match="zerosearch_reward scores the episodes that make_rollout_func played"):
        zerosearch_reward(["a completion"], golden_answers=[["x"]])


# ----------------------------------------------------------------------------- the vLLM server engine


def test_the_vllm_server_engine_posts_token_ids_with_the_stop_tags_kept(tokenizer, start_server):
    answer = ROWS[0].golden_answers[0]

    def respond(path, body):
        if path == "/v1/models":
            return 200, {"data": [{"id": "policy"}]}
        choices = []
        for index, prompt in enumerate(body["prompt"]):
            text = tokenizer.decode(prompt)
            action = f"<answer> {answer} </answer>" if "<information>" in text else f"<search> {ROWS[0].question} </search>"
            ids = tokenizer(action, add_special_tokens=False)["input_ids"]
            choices.append({"index": index, "token_ids": ids, "logprobs": {"token_logprobs": [-0.5 - i / 100 for i in range(len(ids))]}})
        return 200, {"choices": choices[::-1]}  # in any order: the index says which prompt

    server = start_server(JSONServer, respond, path="")
    trainer = fake_trainer(tokenizer, vllm_server_base_url=server.url)
    trainer.use_vllm, trainer.vllm_mode, trainer.temperature = True, "server", 0.7
    rollout = make_rollout_func(SETTINGS, ROWS, generate="vllm_server")
    out = rollout([TEMPLATE.format(question=ROWS[0].question)] * 2, trainer)

    posts = [body for path, body in zip(server.paths, server.bodies) if path == "/v1/completions"]
    assert server.paths[0] == "/v1/models" and len(posts) == 2  # one request per round, for both episodes
    first = posts[0]
    assert first["prompt"] == out["prompt_ids"] and all(isinstance(i, int) for i in first["prompt"][0])
    assert first["stop"] == ["</search>", "</answer>"] and first["include_stop_str_in_output"] is True
    assert first["return_token_ids"] is True and first["logprobs"] == 0 and first["temperature"] == 0.7 and first["model"] == "policy"
    assert out["zerosearch_score"] == [1.0, 1.0]
    search_ids = tokenizer(f"<search> {ROWS[0].question} </search>", add_special_tokens=False)["input_ids"]
    assert out["completion_ids"][0][: len(search_ids)] == search_ids
    assert out["logprobs"][0][:3] == [-0.5, -0.51, -0.52]


def test_an_unreachable_policy_server_is_named_with_the_fix():
    engine = ServerEngine("http://127.0.0.1:9", {"temperature": 1.0}, timeout_s=2)
    with pytest.raises(ServerGenerationError, match=r"127\.0\.0\.1:9 did not list its model.*start it before the trainer"):
        engine([[1, 2, 3]], [4])


@TRL_DEPRECATIONS
def test_the_cpu_example_runs_as_written(tmp_path):
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    script = root / "examples" / "trl" / "grpo_cpu.py"
    out = subprocess.run(
        [sys.executable, str(script), "--steps", "2", "--bc-steps", "20", "--questions", "4", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=root,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    table = out.stdout.split("step  reward (F1)  searches  noise", 1)[1].strip().splitlines()
    assert [line.split()[0] for line in table[:2]] == ["1", "2"] and "2 GRPO steps in" in table[-1]


def test_without_trl_the_import_names_the_extra():
    import subprocess
    import sys

    code = "import sys; sys.modules['trl'] = None; import zerosearch_env.integrations.trl"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode != 0
    assert "MissingDependencyError: the TRL rollout needs trl 1.16" in out.stderr and 'pip install "zerosearch-env[trl]"' in out.stderr


def test_the_colocated_vllm_engine_generates_every_episode_in_one_call_and_sleeps_after(cloned_policy, fake_vllm):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(cloned_policy)
    llm = fake_vllm.LLM(model=str(cloned_policy))
    synced = []

    def sync_weights():  # what TRL's VLLMGeneration.sync_weights does: the policy's weights into the engine
        from transformers import AutoModelForCausalLM

        llm.model.load_state_dict(AutoModelForCausalLM.from_pretrained(cloned_policy).state_dict())
        synced.append(True)
        generation._llm_weights_sleeping = False

    generation = SimpleNamespace(llm=llm, tensor_parallel_size=1, enable_sleep_mode=True, _llm_weights_sleeping=False, sync_weights=sync_weights)
    trainer = fake_trainer(tok)
    trainer.use_vllm, trainer.vllm_mode, trainer.vllm_generation = True, "colocate", generation
    rollout = make_rollout_func(SETTINGS, ROWS, max_tokens_per_turn=24)
    prompts = [TEMPLATE.format(question=row.question) for row in ROWS[:2]] * 2
    out = rollout(prompts, trainer)

    first_round = [params for prompt, params in llm.requests[:4]]
    assert len(llm.requests) >= 4 and all(p.stop == ["</search>", "</answer>"] and p.include_stop_str_in_output for p in first_round)
    assert {p.max_tokens for p in first_round} == {24} and {p.logprobs for p in first_round} == {0}
    assert [prompt["prompt_token_ids"] for prompt, _ in llm.requests[:4]] == out["prompt_ids"]
    for _ids, mask, logprobs in zip(out["completion_ids"], out["env_mask"], out["logprobs"]):
        assert all(lp < 0 for lp, m in zip(logprobs, mask) if m) and sum(mask) > 0
    assert llm.calls[0] == ("wake_up", ["kv_cache"]) and llm.calls[-1] == ("sleep", 2) and synced == []
    again = rollout(prompts, trainer)  # the level-2 sleep dropped the weights: pushed again first
    assert synced == [True] and all(lp < 0 for lps, mask in zip(again["logprobs"], again["env_mask"]) for lp, m in zip(lps, mask) if m)
