"""A local transformers checkpoint as an evaluation agent (``zerosearch eval --agent hf:<path>``).

It plays exactly as training rollouts do, because it is made of the rollouts' parts: the
prompt goes through the chat template when the tokenizer has one (``chat_template="auto"``),
every turn is generated with the KV-cached sampler of :mod:`.generation` until
``</search>``, ``</answer>`` or EOS, and observations are appended as tokens. Greedy by
default. ``zerosearch_env.evaluation.make_agent`` finds it by its entry point string, so
the environment package never imports the learner.
"""

from __future__ import annotations

from collections.abc import Sequence

from zerosearch_env.errors import ConfigError
from zerosearch_env.evaluation.episodes import EpisodeView
from zerosearch_env.import_utils import require


class TransformersAgent:
    """Args:
    model: a folder saved with ``save_pretrained`` (e.g. a ``zerosearch train`` run's
        ``final/``) or a hub id in the local cache.
    temperature, top_p: sampling (0 = greedy).
    max_turn_tokens, max_total_tokens: per-turn and per-episode token budgets; an
        episode out of room writes an empty (invalid) turn. By default the run's, where
        the folder's ``zerosearch_policy.json`` records them, else 500 and 4096.
    chat_template: ``"auto"``, ``"on"`` or ``"off"``; by default what the folder's
        ``zerosearch_policy.json`` records (a training run's ``final/`` has one: the
        policy is prompted as it was trained), else ``"auto"``.
    batch_size: episodes generated together.
    seed: seeds the sampler (irrelevant when greedy).
    """

    def __init__(
        self,
        model: str,
        *,
        temperature: float = 0.0,
        top_p: float = 1.0,
        max_turn_tokens: int | None = None,
        max_total_tokens: int | None = None,
        chat_template: str | None = None,
        batch_size: int = 32,
        device: str | None = None,
        seed: int = 0,
    ):
        for package in ("torch", "transformers"):
            require(package, "the transformers agent (--agent hf:<path>)")
        import torch

        from .generation import HFGenerator, Sampling
        from .policy import load_policy, read_policy_card
        from .rollout import use_chat_template

        card = read_policy_card(model)  # how the run that trained it played, if one did
        chat_template = chat_template if chat_template is not None else card.get("chat_template", "auto")
        max_turn_tokens = max_turn_tokens if max_turn_tokens is not None else int(card.get("max_turn_tokens", 500))
        max_total_tokens = max_total_tokens if max_total_tokens is not None else int(card.get("max_total_tokens", 4096))
        if chat_template not in ("auto", "on", "off"):
            raise ConfigError(f"chat_template expects 'auto', 'on' or 'off', got {chat_template!r}")
        try:
            policy, tokenizer = load_policy(model)
        except OSError as error:  # FileNotFoundError included: a wrong path or an uncached hub id
            raise ConfigError(f"agent hf:{model}: cannot load the model ({error}); pass a folder saved with save_pretrained") from error
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.name = f"hf:{model}"
        self.model = policy.to(device)
        self.tokenizer = tokenizer
        self.chat = use_chat_template(tokenizer, chat_template)
        self.generator = HFGenerator(self.model, tokenizer)
        self.sampling = Sampling(temperature, top_p)
        self.max_turn_tokens = max_turn_tokens
        self.max_total_tokens = max_total_tokens
        self.batch_size = batch_size
        self._torch_generator = torch.Generator(device=self.generator.device).manual_seed(seed)
        self._ids: dict[int, tuple[int, list[int]]] = {}  # episode -> (turns covered, token ids)
        #: what can change its actions, for an evaluation folder's identity (the weights are named by ``name``)
        self.settings = {
            "temperature": temperature,
            "top_p": top_p,
            "max_turn_tokens": max_turn_tokens,
            "max_total_tokens": max_total_tokens,
            "chat_template": self.chat,
            "seed": seed,
        }

    def _context(self, view: EpisodeView) -> list[int]:
        """Token ids of the episode so far, extended from the previous turn's when cached."""
        from .rollout import prompt_ids, text_ids

        covered, ids = self._ids.get(view.episode_id, (-1, []))
        if covered != len(view.turns) - 1 or not view.turns:
            ids = prompt_ids(self.tokenizer, view.prompt, self.chat)  # a new episode: rebuild from text
            for turn, observation in zip(view.turns, view.observations):
                ids += text_ids(self.tokenizer, turn) + text_ids(self.tokenizer, observation)
        else:  # the turn's generated ids are cached; add what the environment wrote
            ids = ids + text_ids(self.tokenizer, view.observations[-1])
        return ids

    def act(self, episodes: Sequence[EpisodeView]) -> list[str]:
        actions: list[str] = []
        for start in range(0, len(episodes), self.batch_size):
            batch = episodes[start : start + self.batch_size]
            contexts = [self._context(view) for view in batch]
            budgets = [max(0, min(self.max_turn_tokens, self.max_total_tokens - len(c))) for c in contexts]
            turns = self.generator.generate(contexts, budgets, self.sampling, self._torch_generator)
            for view, context, turn in zip(batch, contexts, turns):
                self._ids[view.episode_id] = (len(view.turns), context + list(turn.token_ids))
                actions.append(turn.text)
        return actions

    def forget(self, episode_id: int) -> None:
        """Drop a finished episode's cached tokens."""
        self._ids.pop(episode_id, None)
