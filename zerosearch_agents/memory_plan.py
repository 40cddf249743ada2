"""Will a training configuration fit on the GPUs? A plan from model configs alone.

``zerosearch train --plan`` answers before any weights load. Each resident of a GPU (the
learner's fp32 weights, gradients and AdamW states, the KL reference, one micro-batch's
logits and activations, the vLLM engines, an in-process simulator) is counted in bytes
from the model's shape and summed over the phases of a run: ``engines start`` (each vLLM
engine needs its share of the *total* memory free when it starts), ``rollout`` (AdamW
states live on from the first step), ``update`` (forward and backward of a micro-batch;
sleeping engines have let go; the fused AdamW step on a GPU adds no temporary). A phase
fits under 95% of the GPU: the rest is for the CUDA context and allocator fragmentation.
The plan is per GPU: each of ``gpus`` processes holds its own engines and simulator, and
``sharding="fsdp"`` divides weights, gradients, AdamW states and the frozen reference.
Logits and activations are estimates; the rest is exact for Llama/Qwen2-style decoders.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from zerosearch_env.errors import ConfigError

from .config import TrainConfig
from .head_chunks import chunk_tokens

GIB = 2**30
HEADROOM = 0.95  # the share of a GPU a plan may fill; the rest: CUDA context, fragmentation
PHASES = ("engines start", "rollout", "update")
ALL, AWAKE, LEARNING = PHASES, ("engines start", "rollout"), ("update",)
LINEARS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
SIM_PROMPT_TOKENS = 200  # a simulator prompt: the template and the query


@dataclass(frozen=True)
class ModelShape:
    """The sizes of a Llama/Qwen2-style decoder that memory depends on."""

    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    tie_word_embeddings: bool
    attention_bias: bool  # q/k/v biases, as Qwen2 has
    max_position_embeddings: int
    head_dim: int | None = None  # None: hidden_size // num_heads

    @property
    def kv_dim(self) -> int:
        return self.num_kv_heads * (self.head_dim or self.hidden_size // self.num_heads)

    def linear_shapes(self) -> dict[str, tuple[int, int]]:
        """(in, out) of every linear layer of one decoder layer."""
        h, i, kv = self.hidden_size, self.intermediate_size, self.kv_dim
        q = self.num_heads * (self.head_dim or h // self.num_heads)
        shapes = [(h, q), (h, kv), (h, kv), (q, h), (h, i), (h, i), (i, h)]
        return dict(zip(LINEARS, shapes, strict=True))

    @property
    def linear_parameters(self) -> int:
        """Weights that go through a matmul (the decoder's linears and the LM head)."""
        return self.num_layers * sum(i * o for i, o in self.linear_shapes().values()) + self.vocab_size * self.hidden_size

    @property
    def parameters(self) -> int:
        """Every parameter: embedding, LM head unless tied, per layer the linears, the
        q/k/v biases and two RMSNorms, and the final norm.

        >>> f"{model_shape('Qwen/Qwen2.5-3B').parameters:,}"
        '3,085,938,688'
        """
        h, shapes = self.hidden_size, self.linear_shapes()
        biases = shapes["q_proj"][1] + 2 * self.kv_dim if self.attention_bias else 0
        embeddings = self.vocab_size * h * (1 if self.tie_word_embeddings else 2)
        return embeddings + self.num_layers * (sum(i * o for i, o in shapes.values()) + biases + 2 * h) + h

    def lora_parameters(self, r: int, targets: str = "all-linear") -> int:
        """Parameters LoRA of rank ``r`` adds: r x (in + out) per targeted linear."""
        names = LINEARS if targets == "all-linear" else [n.strip() for n in targets.split(",")]
        return self.num_layers * sum(r * (i + o) for n, (i, o) in self.linear_shapes().items() if n in names)


_QWEN = {"3B": ModelShape(151936, 2048, 11008, 36, 16, 2, True, True, 32768),
         "7B": ModelShape(152064, 3584, 18944, 28, 28, 4, False, True, 32768),
         "14B": ModelShape(152064, 5120, 13824, 48, 40, 8, False, True, 32768)}  # fmt: skip
KNOWN_SHAPES: dict[str, ModelShape] = {
    **{f"Qwen/Qwen2.5-{size}{suffix}": shape for size, shape in _QWEN.items() for suffix in ("", "-Instruct")},
    **{f"meta-llama/Llama-3.2-3B{s}": ModelShape(128256, 3072, 8192, 28, 24, 8, True, False, 131072) for s in ("", "-Instruct")},
    **{f"sunhaonlp/Simulation_LLM_{style}_{size}_V2": shape for size, shape in _QWEN.items() for style in ("google", "wiki")},
}


def shape_from_config(config: dict[str, Any], where: str = "config.json") -> ModelShape:
    """A :class:`ModelShape` from a Llama, Mistral or Qwen2 ``config.json``; Qwen2 has q/k/v
    biases whether or not the file says ``attention_bias``."""
    kind = config.get("model_type")
    if kind not in ("llama", "mistral", "qwen2") or config.get("mlp_bias") or (kind != "qwen2" and config.get("attention_bias")):
        raise ConfigError(f"{where}: the memory plan knows Llama, Mistral and Qwen2 decoders without o_proj/MLP biases, got model_type {kind!r}")
    heads = config["num_attention_heads"]
    return ModelShape(
        config["vocab_size"], config["hidden_size"], config["intermediate_size"], config["num_hidden_layers"], heads,
        config.get("num_key_value_heads") or heads, bool(config.get("tie_word_embeddings", False)), kind == "qwen2",
        config.get("max_position_embeddings", 0), config.get("head_dim"),
    )  # fmt: skip


def model_shape(name_or_path: str | Path) -> ModelShape:
    """The shape of a model folder (its config.json) or of a known hub id; nothing is downloaded."""
    path = Path(name_or_path).expanduser()
    if (path / "config.json").is_file():
        return shape_from_config(json.loads((path / "config.json").read_text()), str(path / "config.json"))
    if str(name_or_path) in KNOWN_SHAPES:
        return KNOWN_SHAPES[str(name_or_path)]
    from zerosearch_env.errors import MissingWeightsError
    from zerosearch_env.models import resolve_weights

    try:  # a hub model already in the local Hugging Face cache
        config = Path(resolve_weights(str(name_or_path))) / "config.json"
    except MissingWeightsError:
        config = None
    if config is not None and config.is_file():
        return shape_from_config(json.loads(config.read_text()), str(config))
    raise ConfigError(f"no shape for model {str(name_or_path)!r}: pass a local folder with a config.json, or one of {sorted(KNOWN_SHAPES)}")


@lru_cache(maxsize=4)
def _tiny_shape(hidden_size: int, layers: int) -> ModelShape:
    """The shape ``build_tiny_policy`` writes: built once in a temporary folder (its vocabulary
    is the word tokenizer's, known only once built; a second or two)."""
    import tempfile

    from .policy import build_tiny_policy

    with tempfile.TemporaryDirectory() as tmp:
        return model_shape(build_tiny_policy(Path(tmp) / "tiny", hidden_size=hidden_size, layers=layers))


def policy_shape(cfg: TrainConfig) -> ModelShape:
    """The policy's shape; for ``tiny``, the run folder's built model if there is one."""
    if cfg.policy != "tiny":
        return model_shape(cfg.policy)
    built = Path(cfg.out_dir) / "tiny-init"
    return model_shape(built) if (built / "config.json").is_file() else _tiny_shape(cfg.tiny_hidden_size, cfg.tiny_layers)


def simulator_model(env: Any) -> str | None:
    """The simulation LLM the training process itself runs, or None (no LLM, or served
    out of process)."""
    from zerosearch_env.simulators.registry import llm_model

    if not isinstance(env.sim, (str, Path)) or env.sim_backend == "openai":
        return None
    return llm_model(env.sim)


@dataclass
class MemoryItem:
    """One resident of the GPU: its size, why it is that size, and the phases it lives in."""

    name: str
    gib: float
    note: str
    phases: tuple[str, ...] = ALL


@dataclass
class MemoryPlan:
    """The residents of one GPU and their sum in each phase of a run."""

    items: list[MemoryItem]
    gpus: int
    gpu_memory_gib: float
    config: TrainConfig = field(repr=False, compare=False)

    @property
    def phases(self) -> dict[str, float]:
        return {phase: sum(i.gib for i in self.items if phase in i.phases) for phase in PHASES}

    @property
    def limit_gib(self) -> float:
        return HEADROOM * self.gpu_memory_gib

    @property
    def peak_gib(self) -> float:
        return max(self.phases.values())

    @property
    def fits(self) -> bool:
        """Every phase stays under 95% of the GPU (the rest: CUDA context, fragmentation)."""
        return all(total <= self.limit_gib for total in self.phases.values())

    def item(self, name: str) -> MemoryItem | None:
        return next((i for i in self.items if i.name == name), None)

    def largest(self, n: int = 3) -> list[MemoryItem]:
        return sorted(self.items, key=lambda i: -i.gib)[:n]

    def advice(self) -> list[str]:
        """The changes that would lower this plan's peak, largest saving first."""
        saved = []
        for text, cfg, gpus in _fixes(self):
            saving = self.peak_gib - plan_memory(cfg, gpus=gpus, gpu_memory_gib=self.gpu_memory_gib).peak_gib
            if saving > 0.05:
                saved.append((saving, f"-{saving:.1f} GiB at the peak: {text}"))
        return [text for _, text in sorted(saved, key=lambda s: -s[0])]

    def format(self) -> str:
        cfg, limit = self.config, self.limit_gib
        title = f"GPU memory plan per GPU: {cfg.algo} on {cfg.policy}, {self.gpus} x {self.gpu_memory_gib:g} GiB, sharding {cfg.sharding}"
        lines = [f"{title} (limit {limit:.1f} GiB: 5% left for the CUDA context and allocator fragmentation)", ""]
        lines.append(f"{'item':<26}{'GiB':>8}  {'phases':<6}  note")
        for i in self.items:
            marks = "".join(p[0].upper() if p in i.phases else "." for p in PHASES)
            lines.append(f"{i.name:<26}{i.gib:>8.1f}  {marks:<6}  {i.note}")
        lines += ["", "phases: E engines start, R rollout, U update"]
        for phase, total in self.phases.items():
            flag = "ok" if total <= limit else f"over by {total - limit:.1f} GiB"
            lines.append(f"  {phase:<16}{total:>8.1f} GiB  {flag}")
        if self.fits:
            return "\n".join([*lines, "", f"FITS: peak {self.peak_gib:.1f} of {limit:.1f} GiB"])
        lines += ["", f"DOES NOT FIT: peak {self.peak_gib:.1f} GiB > {limit:.1f} GiB. Changes that help, largest first:"]
        return "\n".join(lines + ([f"  - {a}" for a in self.advice()] or ["  (none of the usual changes helps)"]))

    def to_dict(self) -> dict[str, Any]:
        return {"gpus": self.gpus, "gpu_memory_gib": self.gpu_memory_gib, "limit_gib": self.limit_gib,
                "items": [asdict(i) for i in self.items], "phases": self.phases, "peak_gib": self.peak_gib,
                "fits": self.fits, "advice": self.advice()}  # fmt: skip


def plan_memory(cfg: TrainConfig, *, gpus: int = 1, gpu_memory_gib: float = 80.0) -> MemoryPlan:
    """The memory plan of ``cfg`` on each of ``gpus`` GPUs of ``gpu_memory_gib`` GiB.

    >>> from zerosearch_agents.config import make_config
    >>> plan = plan_memory(make_config("grpo_qwen7b"))
    >>> plan.fits, round(plan.item("AdamW states").gib, 1)
    (False, 56.7)
    """
    if isinstance(gpus, bool) or not isinstance(gpus, int) or gpus < 1:
        raise ConfigError(f"gpus expects an int >= 1, got {gpus!r}")
    if not gpu_memory_gib > 0:
        raise ConfigError(f"gpu_memory_gib expects a positive size in GiB, got {gpu_memory_gib!r}")
    items: list[MemoryItem] = []

    def add(name: str, nbytes: float, note: str, phases: tuple[str, ...] = ALL) -> None:
        items.append(MemoryItem(name, nbytes / GIB, note, phases))

    _add_learner(cfg, policy_shape(cfg), gpus, add)
    if cfg.rollout_backend == "vllm":
        share, sleeps = cfg.vllm_gpu_memory_utilization, cfg.vllm_sleep
        how = "asleep (level 2) in the update" if sleeps else "awake in the update (vllm_sleep off)"
        add("rollout engine (vLLM)", share * gpu_memory_gib * GIB, f"{share:g} of {gpu_memory_gib:g} GiB; {how}", AWAKE if sleeps else ALL)
    _add_simulator(cfg, gpu_memory_gib, add)
    return MemoryPlan(items, gpus, gpu_memory_gib, cfg)


def _add_learner(cfg: TrainConfig, s: ModelShape, gpus: int, add: Any) -> None:
    """The learner's residents: fp32 weights, reference, AdamW, gradients, and what one
    micro-batch's forward and backward hold (weight casts, logits, activations)."""
    n, compute = s.parameters, 4 if cfg.mixed_precision == "no" else 2  # auto is bf16 on a GPU that has it
    shard, split = (gpus, f"; / {gpus} GPUs (fsdp)") if cfg.sharding == "fsdp" and gpus > 1 else (1, "")
    lora = s.lora_parameters(cfg.lora_r, cfg.lora_target_modules) if cfg.lora_r else 0
    critic_model = cfg.algo == "ppo" and cfg.critic == "model"
    critic = (s.hidden_size + 1 + (n if critic_model else 0)) if cfg.algo == "ppo" else 0
    trainable = (lora or n) + critic
    note = f"{n:,} params in fp32 (loaded as float32 whatever the checkpoint dtype)"
    note += f"; LoRA: the frozen base in fp32 too, + {lora:,} adapter params" if lora else ""
    add("weights", (n + lora + critic) * 4 / shard, note + ("; + the critic, a second copy" if critic_model else "") + split)
    if cfg.kl_coef == 0:
        add("reference", 0, "kl_coef 0: no reference model")
    elif cfg.lora_r and not cfg.bc_steps:
        add("reference", 0, "the policy with its LoRA adapter off: no copy")
    elif cfg.ref_device != "same":
        add("reference", 0, f"a frozen copy on {cfg.ref_device}, not this GPU")
    else:
        bf16 = cfg.mixed_precision in ("bf16", "auto")
        add("reference", n * (2 if bf16 else 4) / shard, f"a frozen copy in {'bf16' if bf16 else 'fp32'}" + split)
    adam = f"exp_avg + exp_avg_sq in fp32 of {trainable:,} trainable params, from the first step on"
    add("AdamW states", trainable * 8 / shard, adam + split, ("rollout", *LEARNING))
    add("gradients", trainable * 4 / shard, "fp32, one per trainable param" + split, LEARNING)
    if compute == 2:
        # Autocast caches the bf16 cast of each trainable fp32 weight until the forward ends
        # (backward keeps them). A frozen LoRA base is cast at each use; without
        # checkpointing every layer's cast is kept for its backward.
        frozen = s.linear_parameters if lora and not cfg.gradient_checkpointing else 0
        casts = (lora or s.linear_parameters) + frozen + (s.linear_parameters if critic_model else 0)
        add("weight casts (autocast)", casts * 2 / shard, "bf16 casts of the matmul weights: cached until the forward ends" + split, ("update",))
    tokens = cfg.micro_batch_size * cfg.max_total_tokens
    chunk = min(tokens, chunk_tokens(s.vocab_size, compute))
    what = f"one chunk of {chunk:,} of the {tokens:,} tokens x {s.vocab_size:,}: compute dtype x 2 + fp32 logits, softmax and gradient"
    add("logits", chunk * s.vocab_size * (2 * compute + 12), what, ("update",))
    layer = compute * (6 * s.hidden_size + 2 * s.kv_dim + 4 * s.intermediate_size)  # bytes per token in one layer
    if cfg.gradient_checkpointing:
        acts, how = tokens * (s.num_layers * s.hidden_size * compute + layer), "checkpointing: a hidden state per layer + one layer's"
    else:
        acts, how = tokens * s.num_layers * layer, "every layer's (attention through SDPA/flash)"
    who = "; policy and critic" if critic_model else ""
    add("activations", acts * (2 if critic_model else 1), f"estimate, {tokens:,} tokens; {how}{who}", ("update",))
    if cfg.rollout_backend == "hf":  # one generate call over the whole rollout batch, outside autocast
        width = cfg.rollout_batch * cfg.max_total_tokens
        kv, logits = width * 2 * s.num_layers * s.kv_dim * 4, cfg.rollout_batch * s.vocab_size * 4
        what = f"{cfg.rollout_batch} episodes x {cfg.max_total_tokens} tokens in fp32: KV cache {kv / GIB:.1f} + last logits {logits / GIB:.1f} GiB"
        add("rollout cache (hf)", kv + logits, what, ("rollout",))


def _add_simulator(cfg: TrainConfig, mem: float, add: Any) -> None:
    """The simulation LLM of each training process, when it runs in that process."""
    env, kwargs = cfg.env, cfg.env.sim_kwargs
    model = simulator_model(env)
    if model is None:
        add("simulator", 0, f"sim {env.sim!r}: no LLM on this GPU")
    elif env.sim_backend == "hf":
        s = model_shape(model)
        batch, length = kwargs.get("batch_size", 16), SIM_PROMPT_TOKENS + kwargs.get("max_new_tokens", 600)
        add("simulator weights (hf)", s.parameters * 2, f"{model}, bf16")
        cache = batch * (length * 2 * s.num_layers * s.kv_dim * 2 + s.vocab_size * 4)
        add("simulator cache (hf)", cache, f"KV cache of {batch} x {length} tokens + last logits", ("rollout",))
    else:
        share = kwargs.get("gpu_memory_utilization", 0.5)
        sleeps = bool(kwargs.get("enable_sleep_mode")) and cfg.vllm_sleep
        how = "asleep (level 1) in the update" if sleeps else "awake in the update (sim_kwargs enable_sleep_mode off)"
        add("simulator (vLLM)", share * mem * GIB, f"{model}: {share:g} of {mem:g} GiB; {how}", AWAKE if sleeps else ALL)


def _fixes(plan: MemoryPlan) -> list[tuple[str, TrainConfig, int]]:
    """Changes of ``plan``'s config that could lower its peak: (what to set, the changed
    config, the GPUs it runs on). :meth:`MemoryPlan.advice` keeps those that do."""
    cfg, gpus, env = plan.config, plan.gpus, plan.config.env
    fixes = []
    if not cfg.lora_r:
        fixes.append(("lora_r: 64 (gradients and AdamW states for the adapters only)", replace(cfg, lora_r=64), gpus))
    wider = gpus if cfg.sharding == "none" and gpus > 1 else max(8, gpus)
    if cfg.sharding == "none" or wider > gpus:
        sharded = replace(cfg, sharding="fsdp", rollout_backend="vllm")  # fsdp rolls out on vLLM
        fixes.append((f"sharding: fsdp over {wider} GPUs (weights, gradients and AdamW states / {wider})", sharded, wider))
    sim = next((i for i in plan.items if i.name.startswith("simulator") and i.gib > 0), None)
    if sim is not None:
        served = replace(env, sim="openai", sim_backend=None, sim_kwargs={})
        fixes.append((f"sim: openai, the simulator on GPUs of its own (`vllm serve {simulator_model(env)}`)", replace(cfg, env=served), gpus))
    vllm_sim = sim is not None and sim.name == "simulator (vLLM)"
    if (cfg.rollout_backend == "vllm" and not cfg.vllm_sleep) or (vllm_sim and sim is not None and "update" in sim.phases):
        asleep = replace(env, sim_kwargs={**env.sim_kwargs, "enable_sleep_mode": True}) if vllm_sim else env
        what = "vllm_sleep: true" + (" and sim_kwargs enable_sleep_mode: true" if vllm_sim else "")
        fixes.append((what + " (engines free their memory during the update)", replace(cfg, vllm_sleep=True, env=asleep), gpus))
    if cfg.rollout_backend == "hf":
        fixes.append(("rollout_backend: vllm (no transformers KV cache of the whole rollout batch)", replace(cfg, rollout_backend="vllm"), gpus))
    if not cfg.gradient_checkpointing:
        fixes.append(("gradient_checkpointing: true", replace(cfg, gradient_checkpointing=True), gpus))
    if cfg.micro_batch_size > 1:
        fixes.append((f"micro_batch_size: {cfg.micro_batch_size // 2}", replace(cfg, micro_batch_size=cfg.micro_batch_size // 2), gpus))
    elif cfg.max_total_tokens > 1:
        half = cfg.max_total_tokens // 2
        fixes.append((f"max_total_tokens: {half} (longer episodes end with reward 0)", replace(cfg, max_total_tokens=half), gpus))
    if (ref := plan.item("reference")) is not None and ref.gib > 0:
        fixes.append(("ref_device: cpu (slower reference scoring)", replace(cfg, ref_device="cpu"), gpus))
    return fixes
