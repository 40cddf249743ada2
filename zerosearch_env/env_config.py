"""``EnvConfig``: the settings of a ZeroSearch environment, declared once.

Training and evaluation both build environments from a config file or the command line.
They embed this one dataclass (``TrainConfig.env``, ``EvalConfig.env``), so a setting such
as the simulator, the dataset or the documents per search has one name, one default and
one help text everywhere, and ``zerosearch train`` and ``zerosearch eval`` take the same
flags for it. The noise level is not here: training moves it with a curriculum, an
evaluation fixes it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .config_flags import setting
from .errors import ConfigError

if TYPE_CHECKING:
    from .vector import ZeroSearchVectorEnv


@dataclass
class EnvConfig:
    """Where questions and documents come from and how an episode is played.

    From Python, ``sim``, ``dataset`` and ``corpus`` also take objects (a simulator, a
    list of rows, a list of documents), as ``gym.make("ZeroSearch-v0", ...)`` does.
    """

    sim: str = setting(
        "corpus",
        "Search engine: a simulator (corpus, context, sft-3b, sft-7b, sft-14b, wiki-sft-*, prompt:<model>, openai, "
        "a model folder) or a real retriever that never sees the answer (bm25, retriever:<url>). `zerosearch sims` lists them.",
    )
    dataset: str = setting("synthetic", "Questions: synthetic, a .parquet/.jsonl/.json file, a FlashRAG folder, or a Hugging Face id.")
    split: str | None = setting(None, "Split to read (default: train of the synthetic world for training, test for evaluation; every row of a file).")
    corpus: str | None = setting(None, "Documents for sim=corpus or bm25 when the dataset is not synthetic: a FlashRAG jsonl ({id, contents} per line).")
    max_turns: int = setting(5, "Search rounds per episode before the answer turn is forced (reference: 5).")
    topk: int = setting(5, "Documents per search (reference: 5).")
    sim_backend: str | None = setting(None, "Backend of LLM simulators: vllm, hf or openai (default: vllm with a GPU, else hf).")
    sim_kwargs: dict[str, Any] = setting(
        {}, "Backend and sampling options of the simulator, a JSON object (e.g. base_urls, temperature, gpu_memory_utilization)."
    )
    prompt_template: str | None = setting(
        None, "Policy prompt with a {question} field for every row (default: the dataset's prompt column or the ZeroSearch template)."
    )

    def __post_init__(self) -> None:
        for name in ("topk", "max_turns"):
            value = getattr(self, name)
            minimum = 1 if name == "topk" else 0
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise ConfigError(f"EnvConfig.{name} expects an int >= {minimum}, got {value!r}")
        if not isinstance(self.sim_kwargs, dict):
            raise ConfigError(f"EnvConfig.sim_kwargs expects a dict of backend options, got {self.sim_kwargs!r}")

    def env_kwargs(self, **settings: Any) -> dict[str, Any]:
        """Keyword arguments of ``ZeroSearchEnv`` (and ``gym.make``), with ``settings``
        (``difficulty``, ``curriculum``, ``split``, ...) on top."""
        kwargs = {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}
        kwargs["sim_kwargs"] = dict(self.sim_kwargs) or None
        kwargs.update(settings)
        return kwargs

    def make_vec(self, num_envs: int, **settings: Any) -> ZeroSearchVectorEnv:
        """The native vector env of ``num_envs`` sub-envs with these settings."""
        from .vector import ZeroSearchVectorEnv

        return ZeroSearchVectorEnv(num_envs=num_envs, **self.env_kwargs(**settings))

    @classmethod
    def from_mapping(cls, values: dict[str, Any], where: str = "EnvConfig") -> EnvConfig:
        """An EnvConfig from a mapping (a YAML section), naming unknown keys."""
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"{where}: unknown environment settings {unknown}; expected some of {sorted(known)}")
        return cls(**values)
