"""ZeroSearch-v0 as a verl agent loop: ``agent_name: zerosearch``.

verl (0.9) runs one ``AgentLoopBase.run`` coroutine per trajectory on Ray workers, each
talking to the policy's vLLM or SGLang servers through ``server_manager.generate``, token
ids in and token ids out. :class:`ZeroSearchAgentLoop` plays one ZeroSearch episode
there, with the released policies' ``<search>``/``<answer>`` protocol:

- each policy turn is generated until ``</search>`` or ``</answer>``; its ids are the
  ones the server sampled (mask 1, with their log-probs), never re-tokenised text;
- the environment answers a search with ``<information>...</information>``; those ids
  are the observation (mask 0);
- the reward is the episode's F1 (or the configured score), set on the output, so verl
  needs no reward function;
- the noise curriculum follows verl's global step: the policy server reports the
  version of its weights (the updates done so far) with every generation;
- every episode's numbers (F1, EM, searches, noisy share, simulator tokens, faults) go
  to ``reward_extra_info``, which verl logs per data source in validation and writes
  next to every rollout it dumps; searches also go to ``tool_call_counts``.

Settings come from the agent-loop config file (``examples/verl/agent_loop.yaml``): the
keys of :class:`~zerosearch_env.integrations.episodes.AdapterConfig`, plus
``max_tokens_per_turn`` and ``max_observation_tokens``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any
from uuid import uuid4

from ..errors import ConfigError, MissingDependencyError
from ..protocol import STOP_TAGS, cut_at_stop, parse_action
from .episodes import AdapterConfig, EpisodeTally, episode_env, plain, row_record, step_executor, token_limit

try:
    from verl.experimental.agent_loop.agent_loop import (
        AgentLoopBase,
        AgentLoopMetrics,
        AgentLoopOutput,
        _agent_loop_registry,
        register,
    )
except ImportError as error:  # verl itself, or a module verl imports without declaring it
    raise MissingDependencyError(
        f'the verl agent loop needs verl 0.9 ({error}): pip install "zerosearch-env[verl]" (in an environment of its own: verl pins transformers < 5.11)'
    ) from error

AGENT_NAME = "zerosearch"
_FRAMEWORK_KWARGS = ("name", "tools")  # what verl's worker adds to the config entry's keys


class ZeroSearchAgentLoop(AgentLoopBase):
    """One ZeroSearch episode per trajectory (see the module docstring).

    Args (from the agent-loop config entry, all optional):
        max_tokens_per_turn: new tokens per policy turn (default: what is left of
            ``rollout.response_length``; the reference uses 500).
        max_observation_tokens: an observation longer than this is cut (the reference: 2048).
        settings: ``sim``, ``sim_kwargs``, ``dataset``, ``topk``, ``max_turns``,
            ``curriculum`` or ``difficulty``, ``on_sim_error``, ``batching``, ... (see
            :class:`AdapterConfig`). A curriculum without ``total_steps`` spans verl's
            total training steps.
    """

    def __init__(
        self,
        trainer_config: Any,
        server_manager: Any,
        tokenizer: Any,
        processor: Any,
        dataset_cls: Any,
        data_config: Any,
        hf_model_type: str | None = None,
        *,
        max_tokens_per_turn: int | None = None,
        max_observation_tokens: int | None = None,
        **settings: Any,
    ):
        framework = {key: settings.pop(key) for key in _FRAMEWORK_KWARGS if key in settings}
        super().__init__(trainer_config, server_manager, tokenizer, processor, dataset_cls, data_config, hf_model_type=hf_model_type, **framework)
        where = f"agent loop {AGENT_NAME!r}"
        self.max_tokens_per_turn = token_limit("max_tokens_per_turn", max_tokens_per_turn, where)
        self.max_observation_tokens = token_limit("max_observation_tokens", max_observation_tokens, where)
        self.settings = adapter_config(settings, self.config)
        self.response_length = int(self.rollout_config.response_length)
        self.stop_keys = _stop_keys(str(self.rollout_config.get("name", "vllm")))

    async def run(self, sampling_params: dict[str, Any], **row: Any) -> AgentLoopOutput:
        record = row_record(row, "verl dataset")
        env = episode_env(self.settings)
        env.reset(options={"row": record})
        prompt_ids = await self.ct_build_initial_tokens(plain(row["raw_prompt"]))
        request_id = uuid4().hex
        want_logprobs = bool(sampling_params.get("logprobs"))
        response_ids: list[int] = []
        mask: list[int] = []
        logprobs: list[float] = []
        tally = EpisodeTally()
        reward, turns, generate_s, simulate_s, step_set = 0.0, 0, 0.0, 0.0, False

        while (room := self.response_length - len(response_ids)) > 0:
            started = time.perf_counter()
            output = await self.server_manager.generate(
                request_id, prompt_ids=prompt_ids + response_ids, sampling_params=self._turn_params(sampling_params, room)
            )
            generate_s += time.perf_counter() - started
            if not step_set:  # before the first search of the episode draws its noise
                env.set_training_step(self._training_step(output))
                step_set = True
            ids = list(output.token_ids)[:room]
            response_ids += ids
            mask += [1] * len(ids)
            sampled = list(output.log_probs or [])[: len(ids)]
            logprobs += sampled + [0.0] * (len(ids) - len(sampled))
            turns += 1
            text = self.tokenizer.decode(ids, skip_special_tokens=True)
            room = self.response_length - len(response_ids)
            if output.stop_reason == "aborted" or (room <= 0 and parse_action(cut_at_stop(text)[0]).kind != "answer"):
                break  # no room for documents: the episode ends unanswered (reward 0)
            started = time.perf_counter()
            observation, step_reward, terminated, truncated, info = await self.loop.run_in_executor(step_executor(), env.step, text)
            simulate_s += time.perf_counter() - started
            tally.observe(info)
            if terminated or truncated:
                reward = float(step_reward)
                break
            obs_ids = self.tokenizer.encode(observation, add_special_tokens=False)[: min(room, self.max_observation_tokens or room)]
            response_ids += obs_ids
            mask += [0] * len(obs_ids)
            logprobs += [0.0] * len(obs_ids)
            turns += 1

        metrics = tally.metrics()
        return AgentLoopOutput(
            prompt_ids=prompt_ids,
            response_ids=response_ids,
            response_mask=mask,
            response_logprobs=logprobs if want_logprobs else None,
            reward_score=reward,
            num_turns=turns + 1,  # the user prompt, then policy turns and observations
            metrics=AgentLoopMetrics(generate_sequences=generate_s, tool_calls=simulate_s),
            extra_fields={"reward_extra_info": metrics, "tool_call_counts": int(metrics["searches"])},
        )

    def _turn_params(self, sampling_params: Mapping[str, Any], room: int) -> dict[str, Any]:
        """verl's sampling parameters plus the protocol's stop tags, kept in the output."""
        params = dict(sampling_params)
        params["stop"] = list(STOP_TAGS)
        params.update(self.stop_keys)
        params["max_tokens"] = min(room, self.max_tokens_per_turn or room)
        return params

    def _training_step(self, output: Any) -> int:
        """Policy updates done so far: the weights version the server reports with every
        generation (0 for a fixed noise without one)."""
        version = output.extra_fields.get("global_steps")
        if version is not None:
            return max(int(version), 0)
        if self.settings.is_scheduled:
            raise ConfigError(
                f"agent loop {AGENT_NAME!r}: the curriculum needs verl's global step, but the policy server reported no "
                "weights version (TokenOutput.extra_fields['global_steps']); use verl's vLLM or SGLang rollout, "
                "or set a fixed 'difficulty' instead of 'curriculum'"
            )
        return 0


# Registered as "zerosearch" (default settings) unless a config file came first: verl's
# worker loads the agent-loop config file, then imports this module when it builds the
# first loop, and a plain @register would then replace the file's entry, settings and all.
if AGENT_NAME not in _agent_loop_registry:
    register(AGENT_NAME)(ZeroSearchAgentLoop)


def adapter_config(settings: Mapping[str, Any], trainer_config: Any) -> AdapterConfig:
    """The agent loop's settings; a curriculum without ``total_steps`` spans the run."""
    config = AdapterConfig.from_mapping(settings, f"agent loop {AGENT_NAME!r}", also=("max_tokens_per_turn", "max_observation_tokens"))
    return config.spanning(
        _total_training_steps(trainer_config) if config.is_scheduled else None,
        f"verl's config has no total training steps yet (agent loop {AGENT_NAME!r}); add total_steps to the curriculum or set trainer.total_training_steps",
    )


def _total_training_steps(config: Any) -> int | None:
    """What verl's trainer computed (it writes it into the actor's optimiser config)."""
    from omegaconf import OmegaConf

    for path in ("actor_rollout_ref.actor.optim.total_training_steps", "trainer.total_training_steps"):
        steps = OmegaConf.select(config, path)
        if isinstance(steps, int) and steps > 0:
            return steps
    return None


def _stop_keys(rollout_name: str) -> dict[str, Any]:
    """Keep the stop tag in the output: the environment parses the closed tag."""
    return {"no_stop_trim": True} if rollout_name == "sglang" else {"include_stop_str_in_output": True}
