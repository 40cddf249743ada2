"""The project's first GPU run, as one prepared command that writes what it measured.

    python benchmarks/gpu_check.py --out benchmarks/results            # one GPU, under 8 minutes on an H200
    accelerate launch --num_processes 2 benchmarks/gpu_check.py        # data parallel: rank 0 writes
    python benchmarks/gpu_check.py --dry-run --out /tmp/gpu_check_dry  # the same code on CPU, tiny shapes (CI)

Nothing is downloaded and no weights touch the disk: the models have the released shapes
(a Qwen2.5-3B policy, the 7B simulator) with random weights, built on the device from
:func:`zerosearch_agents.memory_plan.model_shape`, over the tiny test tokenizer (ids it
does not know decode to ''). Random weights rarely emit EOS, so every reply runs to
``max_new_tokens``: right for throughput, meaningless for quality.

Sections, each timed, each written to ``gpu_check.json`` and ``gpu_check.md`` as soon as
it ends, each failure recorded with its traceback's tail before the next one starts:

1. machine: versions, the GPU, bf16, whether vllm imports;
2. models: the random-init policy (fp32, as the learner trains it) and simulator (bf16);
3. simulator: completion tokens/s of the transformers backend at three batch sizes;
4. vector_env: the env's own time per step as a share of the simulator's;
5. learner: GRPO updates of the policy built by ``build.assemble_learner`` (the learner's own code), its
   tokens/s, its peak memory against :func:`~zerosearch_agents.memory_plan.plan_memory`;
6. vllm: the vLLM tests and benchmark as subprocesses, when vllm imports.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
GIB = 2**30
SEED = 0
WARMUP_NEW_TOKENS = 4  # the warm-up call of each batch size: shapes and allocator, not throughput
TRACEBACK_CHARS = 2000
Row = tuple[str, str, str]  # measurement | value | note


@dataclass(frozen=True)
class Sizes:
    """What the sections measure. The GPU sizes are chosen to keep the run to about 3
    minutes on one H200, estimated (the hard limit is 8): the simulator's 3 x 2 timed calls
    of 128 tokens, 4 vector steps of 64 tokens, 3 learner updates of 32k tokens."""

    policy: str  # a model_shape() name, or "tiny"
    simulator: str
    sim_batches: tuple[int, ...]
    sim_new_tokens: int
    sim_repeats: int  # timed calls per batch size, after one warm-up call
    envs: int
    env_steps: int  # timed vector steps, after one warm-up step
    env_new_tokens: int
    episodes: int  # per process
    episode_tokens: int
    group_size: int
    micro_batch_size: int
    timed_updates: int  # after one warm-up update
    precision: str  # the learner's mixed precision (the simulator runs in bf16 with "bf16")


GPU_SIZES = Sizes("Qwen/Qwen2.5-3B", "sunhaonlp/Simulation_LLM_google_7B_V2", (1, 64, 256), 128, 2, 64, 3, 64, 16, 2048, 4, 4, 2, "bf16")
DRY_SIZES = Sizes("tiny", "tiny", (1, 4, 8), 8, 1, 4, 2, 8, 8, 128, 4, 4, 1, "no")


def tiny_shape(vocab_size: int):
    """A small Qwen2-style decoder for the dry run: every code path, a second of compute."""
    from zerosearch_agents.memory_plan import ModelShape

    return ModelShape(vocab_size, hidden_size=64, intermediate_size=128, num_layers=2, num_heads=4, num_kv_heads=2,
                      tie_word_embeddings=True, attention_bias=True, max_position_embeddings=4096)  # fmt: skip


class Skipped(Exception):
    """A section that does not apply on this machine (its reason is recorded)."""


@dataclass
class Check:
    """What the sections share: sizes, device, processes, the models once built, the report."""

    sizes: Sizes
    dry_run: bool
    device: Any  # torch.device
    process_index: int
    num_processes: int
    out_dir: Path
    vllm_timeout_s: float
    tokenizer: Any  # zerosearch_env.testing.build_tokenizer(): 512 ids, a chat template
    report: dict[str, Any] = field(default_factory=dict)
    models: dict[str, Any] = field(default_factory=dict)  # "policy", "simulator": built once, released when done

    @property
    def main(self) -> bool:
        return self.process_index == 0

    @property
    def cuda(self) -> bool:
        return self.device.type == "cuda"

    def shape(self, name: str):
        from zerosearch_agents.memory_plan import model_shape

        return tiny_shape(len(self.tokenizer)) if name == "tiny" else model_shape(name)

    def model(self, role: str) -> Any:
        """The random-init policy (fp32: the learner's master weights) or simulator (bf16 on
        a GPU with mixed precision), built on first use."""
        import torch

        if role not in self.models:
            name = self.sizes.policy if role == "policy" else self.sizes.simulator
            dtype = torch.bfloat16 if role == "simulator" and self.sizes.precision == "bf16" else torch.float32
            self.models[role] = build_model(self.shape(name), self.tokenizer, self.device, dtype, seed=SEED + (role == "simulator"))
        return self.models[role]

    def release(self, *roles: str) -> None:
        """Drop models and give their memory back, so the next section measures only its own."""
        import gc

        import torch

        for role in roles:
            self.models.pop(role, None)
        gc.collect()
        if self.cuda:
            torch.cuda.empty_cache()

    def sync(self) -> None:
        import torch

        if self.cuda:
            torch.cuda.synchronize(self.device)

    def timed(self, fn: Callable[[], Any]) -> tuple[Any, float]:
        """``fn()`` and its wall time, with the GPU's queue drained on both sides."""
        self.sync()
        started = time.perf_counter()
        result = fn()
        self.sync()
        return result, time.perf_counter() - started

    def say(self, message: str) -> None:
        prefix = f"[gpu_check rank {self.process_index}]" if self.num_processes > 1 else "[gpu_check]"
        print(f"{prefix} {message}", flush=True)


def build_model(shape: Any, tokenizer: Any, device: Any, dtype: Any, *, seed: int) -> Any:
    """A randomly initialised Qwen2 causal LM of ``shape``, built on ``device`` in ``dtype``
    (no download, nothing written to disk; the global RNG is left as it was)."""
    import torch
    from transformers import AutoModelForCausalLM, Qwen2Config

    if not shape.attention_bias:
        raise ValueError(f"the check builds Qwen2 decoders (q/k/v biases), got a shape without them: {shape}")
    config = Qwen2Config(
        vocab_size=shape.vocab_size, hidden_size=shape.hidden_size, intermediate_size=shape.intermediate_size,
        num_hidden_layers=shape.num_layers, num_attention_heads=shape.num_heads, num_key_value_heads=shape.num_kv_heads,
        head_dim=shape.head_dim or shape.hidden_size // shape.num_heads, tie_word_embeddings=shape.tie_word_embeddings,
        max_position_embeddings=shape.max_position_embeddings, pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id, bos_token_id=None,
    )  # fmt: skip
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []), device:
        torch.manual_seed(seed)
        return AutoModelForCausalLM.from_config(config, dtype=dtype)


# ----------------------------------------------------------------------------- sections


def run_machine(check: Check) -> dict[str, Any]:
    """What the numbers were measured on, and which optional engine (vllm) is there."""
    import platform

    import accelerate
    import torch
    import transformers

    cuda = check.cuda
    props = torch.cuda.get_device_properties(check.device) if cuda else None
    return {
        "python": platform.python_version(), "torch": torch.__version__, "transformers": transformers.__version__,
        "accelerate": accelerate.__version__, "cuda_version": torch.version.cuda, "device": props.name if props else f"CPU ({platform.machine()})",
        "device_count": torch.cuda.device_count() if cuda else 0, "gpu_memory_gib": props.total_memory / GIB if props else None,
        "bf16": torch.cuda.is_bf16_supported() if cuda else None, "cpu_count": os.cpu_count(), "host_memory_gib": host_memory_gib(),
        "processes": check.num_processes, "vllm": vllm_version(),
    }  # fmt: skip


def host_memory_gib() -> float:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / GIB


def vllm_version() -> str:
    """vllm's version if it imports, in a subprocess (an import that breaks or hangs stays there)."""
    from zerosearch_env.import_utils import is_vllm_available

    if not is_vllm_available():
        return "not installed"
    try:
        done = subprocess.run([sys.executable, "-c", "import vllm; print(vllm.__version__)"], check=False, capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        return "import failed: no answer in 120 s"
    lines = (done.stdout if done.returncode == 0 else done.stderr).strip().splitlines() or ["?"]
    return lines[-1] if done.returncode == 0 else f"import failed: {lines[-1]}"


def run_models(check: Check) -> dict[str, Any]:
    """Build both models (the later sections reuse them) and check the memory planner
    counts their parameters exactly."""
    import torch
    import transformers.models.qwen2.modeling_qwen2  # noqa: F401 - imported (and CUDA started) outside the timings

    torch.empty(1, device=check.device)
    results = {}
    for role, name in (("policy", check.sizes.policy), ("simulator", check.sizes.simulator)):
        model, seconds = check.timed(lambda role=role: check.model(role))
        parameters = sum(p.numel() for p in model.parameters())
        results[role] = {"shape_of": name, "parameters": parameters, "plan_parameters": check.shape(name).parameters,
                         "dtype": str(next(model.parameters()).dtype).removeprefix("torch."), "build_s": seconds}  # fmt: skip
        check.say(f"  {role}: {parameters:,} parameters, built in {seconds:.1f} s")
    return results


def search_requests(count: int) -> list[Any]:
    """Simulator requests shaped like a training step's: a question, its answer, a query."""
    from zerosearch_env.simulators.base import SearchRequest

    return [
        SearchRequest(f"founder of company {i}", f"Who founded company number {i}?", (f"Person {i}",), "useful" if i % 2 else "noisy", seed=i)
        for i in range(count)
    ]


def run_simulator(check: Check) -> dict[str, Any]:
    """Completion tokens/s of ``HFSimulator.simulate`` at each batch size: one warm-up call
    (a few tokens: the batch's shapes and the allocator), then timed calls."""
    from zerosearch_env.simulators.hf import HFSimulator

    model, sizes = check.model("simulator"), check.sizes
    requests = search_requests(max(sizes.sim_batches))
    batches = {}
    for batch in sizes.sim_batches:
        HFSimulator.from_model(model, check.tokenizer, max_new_tokens=WARMUP_NEW_TOKENS, batch_size=batch).simulate(requests[:batch])
        sim = HFSimulator.from_model(model, check.tokenizer, max_new_tokens=sizes.sim_new_tokens, batch_size=batch)
        calls = [check.timed(lambda sim=sim, batch=batch: sim.simulate(requests[:batch])) for _ in range(sizes.sim_repeats)]
        seconds = sum(s for _, s in calls)
        completion = sum(r.completion_tokens for results, _ in calls for r in results)
        prompt = sum(r.prompt_tokens for results, _ in calls for r in results)
        batches[str(batch)] = {"tokens_per_s": completion / seconds, "s_per_call": seconds / len(calls), "calls": len(calls),
                               "completion_tokens_per_request": completion / (batch * len(calls)),
                               "prompt_tokens_per_request": prompt / (batch * len(calls))}  # fmt: skip
        check.say(f"  batch {batch}: {completion / seconds:,.0f} tokens/s, {seconds / len(calls):.2f} s per call")
    return {"max_new_tokens": sizes.sim_new_tokens, "dtype": str(next(model.parameters()).dtype).removeprefix("torch."), "batches": batches}


def run_vector_env(check: Check) -> dict[str, Any]:
    """The vector env's own time per step (parse, rewards, bookkeeping: ``StepStats``) as
    a share of its one simulator call, with every sub-env searching every step."""
    from zerosearch_env.protocol import search_action, think
    from zerosearch_env.simulators.hf import HFSimulator
    from zerosearch_env.vector import ZeroSearchVectorEnv

    n, sizes = check.sizes.envs, check.sizes
    sim = HFSimulator.from_model(check.model("simulator"), check.tokenizer, max_new_tokens=sizes.env_new_tokens, batch_size=n)
    envs = ZeroSearchVectorEnv(n, sim=sim, max_turns=10**6)  # every step searches
    try:
        _, infos = envs.reset(seed=SEED)
        actions = [think("I should look this up.") + "\n" + search_action(question) for question in infos["question"]]
        stats = []
        for step in range(1 + sizes.env_steps):  # the first step warms up
            envs.step(actions)
            if step:
                stats.append(dataclasses.replace(envs.last_step_stats))
    finally:
        envs.close()
    sim_s, env_s = sum(s.sim_wall_s for s in stats), sum(s.overhead_s for s in stats)
    if not all(s.sim_calls for s in stats):
        raise RuntimeError(f"a timed step made no simulator call ({[s.sim_requests for s in stats]} searches): nothing to compare with")
    return {
        "num_envs": n, "steps": len(stats), "max_new_tokens": sizes.env_new_tokens,
        "requests_per_step": sum(s.sim_requests for s in stats) / len(stats), "sim_calls_per_step": sum(s.sim_calls for s in stats) / len(stats),
        "completion_tokens_per_step": sum(s.sim_completion_tokens for s in stats) / len(stats),
        "sim_s_per_step": sim_s / len(stats), "env_s_per_step": env_s / len(stats), "overhead_share": env_s / sim_s,
    }  # fmt: skip


def synthetic_batch(sizes: Sizes, vocab_size: int, pad_id: int, seed: int) -> dict[str, Any]:
    """``RolloutBatch.tensors`` of episodes shaped like ZeroSearch's: a prompt, then policy
    turns and ``<information>`` observations in turn, and a final answer turn that fills the
    episode to ``episode_tokens``; GRPO groups of ``group_size`` with random rewards.
    Token ids are random: the update's cost does not depend on them."""
    import numpy as np

    from zerosearch_agents.rollout import Episode, RolloutBatch

    rng = np.random.default_rng(seed)
    n = sizes.episode_tokens
    answer = max(1, n // 64)

    def tokens(count: int) -> list[int]:
        return rng.integers(8, vocab_size, count).tolist()  # clear of the special ids

    episodes = []
    for i in range(sizes.episodes):
        episode = Episode([], [], [], prompt_length=n // 8, group=i // sizes.group_size, reward=float(rng.random()))
        episode.append(tokens(n // 8), policy=False)
        while True:
            turn, observation = int(rng.integers(n // 32, n // 8 + 1)), int(rng.integers(n // 8, n // 4 + 1))
            if len(episode.token_ids) + turn + observation + answer > n:
                break
            episode.append(tokens(turn), policy=True, logprobs=(-rng.exponential(1.0, turn)).tolist())
            episode.append(tokens(observation), policy=False)
        rest = n - len(episode.token_ids)
        episode.append(tokens(rest), policy=True, logprobs=(-rng.exponential(1.0, rest)).tolist())
        episodes.append(episode)
    return RolloutBatch(episodes).tensors(pad_id)


def learner_config(check: Check, folder: Path) -> Any:
    """The TrainConfig of the measured update; its policy is the shape's hub id, or for the
    tiny shape a folder holding only its config.json (what the memory planner reads)."""
    from transformers import Qwen2Config

    from zerosearch_agents.config import make_config

    sizes = check.sizes
    policy = sizes.policy
    if policy == "tiny":
        Qwen2Config(**check.model("policy").config.to_dict()).save_pretrained(folder)
        policy = str(folder)
    return make_config(
        policy=policy, algo="grpo", questions_per_step=check.num_processes * sizes.episodes // sizes.group_size, group_size=sizes.group_size,
        micro_batch_size=sizes.micro_batch_size, max_total_tokens=sizes.episode_tokens, gradient_checkpointing=True,
        kl_coef=0.001, entropy_coef=0.001, lr=1e-6, mixed_precision=sizes.precision, sim="corpus", rollout_backend="hf",
        steps=1 + sizes.timed_updates, eval_split=None, seed=SEED,
    )  # fmt: skip


def run_learner(check: Check) -> dict[str, Any]:
    """One warm-up and ``timed_updates`` GRPO updates of the policy on a synthetic batch:
    tokens/s, the peak of GPU memory (the simulator released first, as ``sim="corpus"`` in
    the plan says) against the memory plan, and the fp32 master weights."""
    import resource

    import torch
    from accelerate import Accelerator

    from zerosearch_agents.build import assemble_learner
    from zerosearch_agents.memory_plan import LEARNING, plan_memory
    from zerosearch_agents.update import update

    sizes = check.sizes
    check.release("simulator")  # the plan counts the learner alone (sim="corpus")
    model = check.model("policy")
    policy_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    resident = torch.cuda.memory_allocated(check.device) - policy_bytes if check.cuda else None  # not the learner's
    with tempfile.TemporaryDirectory() as folder:
        cfg = learner_config(check, Path(folder))
        memory_gib = torch.cuda.get_device_properties(check.device).total_memory / GIB if check.cuda else host_memory_gib()
        plan = plan_memory(cfg, gpus=check.num_processes, gpu_memory_gib=memory_gib)
    accelerator = Accelerator(mixed_precision=sizes.precision)
    try:
        learner = assemble_learner(cfg, model.to(torch.float32), accelerator)  # what build_learner does after loading
        check.models.pop("policy")  # the learner holds it now
        fp32 = all(p.dtype == torch.float32 for p in learner.policy_parameters())
        probe_param = max(learner.policy_parameters(), key=lambda p: p.numel())
        probe = probe_param.detach().flatten()[:4096].clone()
        batch = synthetic_batch(sizes, model.config.vocab_size, check.tokenizer.pad_token_id, seed=SEED + check.process_index)
        tokens = int(batch["attention_mask"].sum())
        update(learner, batch)  # warm-up: kernels, allocator, and the AdamW states the plan counts from the first step on
        if check.cuda:
            torch.cuda.reset_peak_memory_stats(check.device)
        timed = [check.timed(lambda: update(learner, batch)) for _ in range(sizes.timed_updates)]
        seconds = sum(s for _, s in timed) / len(timed)
        metrics = timed[-1][0]
        changed = not torch.equal(probe, probe_param.detach().flatten()[:4096])
        fp32_after = all(p.dtype == torch.float32 for p in learner.policy_parameters())
        trainable = sum(p.numel() for p in learner.policy_parameters())
        peak = torch.cuda.max_memory_allocated(check.device) / GIB if check.cuda else None
        reserved = torch.cuda.max_memory_reserved(check.device) / GIB if check.cuda else None
        sampling = sample_a_turn(learner, check.tokenizer)
    finally:
        accelerator.free_memory()
    estimate = max(plan.phases[phase] for phase in LEARNING)  # the phases of an update, as the plan names them
    own_peak = peak - resident / GIB if peak is not None else None
    return {
        "episodes": sizes.episodes, "episode_tokens": sizes.episode_tokens, "tokens": tokens,
        "policy_token_share": float(batch["loss_mask"].sum()) / tokens, "micro_batch_size": sizes.micro_batch_size,
        "gradient_checkpointing": cfg.gradient_checkpointing, "mixed_precision": accelerator.mixed_precision,
        "processes": check.num_processes, "timed_updates": len(timed), "update_s": seconds, "tokens_per_s": tokens / seconds,
        "optimize_tokens_per_s": metrics["update_tokens_per_s"], "loss": metrics["loss"], "kl": metrics.get("kl"),
        "weights_changed": changed, "fp32_master_weights": fp32 and fp32_after,
        "trainable_parameters": trainable,
        "peak_allocated_gib": own_peak, "peak_reserved_gib": reserved, "other_resident_gib": resident / GIB if resident is not None else None,
        "cuda_note": "torch.cuda.max_memory_allocated over the timed updates (reset after the warm-up), less what was resident before the learner"
        if check.cuda else "null: no CUDA device, and torch.cuda memory figures exist only on one; peak_rss_gib (the whole process) instead",
        "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (1 if sys.platform == "darwin" else 1024) / GIB,
        "plan": {"gpus": plan.gpus, "gpu_memory_gib": memory_gib, "estimate_gib": estimate,
                 "phases": {phase: plan.phases[phase] for phase in LEARNING},
                 "items": {i.name: i.gib for i in plan.items if set(i.phases) & set(LEARNING) and i.gib > 0}},
        "measured_over_estimate": own_peak / estimate if own_peak is not None else None,
        "sampling": sampling,
    }  # fmt: skip


def sample_a_turn(learner: Any, tokenizer: Any) -> dict[str, Any]:
    """A sampled turn of the rollout generator on the learner's model, with the seeded
    ``torch.Generator`` a rollout makes: PyTorch refuses to sample a CUDA tensor with a
    CPU generator, so this is where a misplaced one would fail."""
    import torch

    from zerosearch_agents.generation import HFGenerator, Sampling

    generator = HFGenerator(learner.accelerator.unwrap_model(learner.model), tokenizer)
    seeded = torch.Generator(device=generator.device).manual_seed(SEED)  # as rollout.collect_rollouts makes it
    turns = generator.generate([[5, 6, 7], [8, 9]], [8, 8], Sampling(temperature=1.0), seeded)
    return {"model_device": str(generator.device), "generator_device": str(seeded.device), "tokens": [len(t.token_ids) for t in turns]}


VLLM_RUNS = {
    "tests": ["tests/simulators/test_vllm.py", "tests/agents/test_vllm_generation.py"],
    "bench": ["benchmarks/bench_vllm.py", "-s"],
}


def run_vllm(check: Check) -> dict[str, Any]:
    """The vLLM tests and benchmark, each a pytest subprocess with a time limit, once the
    models here have given the GPU back."""
    from zerosearch_env.import_utils import is_vllm_available

    if not is_vllm_available():
        raise Skipped("vllm not installed")
    if not check.main:
        raise Skipped("run by rank 0 only (its subprocesses take GPU 0)")
    check.release(*list(check.models))  # the engines need the GPU's memory
    results = {}
    for name, args in VLLM_RUNS.items():
        command = [sys.executable, "-m", "pytest", "-q", *args]
        started = time.perf_counter()
        try:
            done = subprocess.run(command, check=False, cwd=ROOT, capture_output=True, text=True, timeout=check.vllm_timeout_s)
            code, output = done.returncode, done.stdout + done.stderr
        except subprocess.TimeoutExpired as error:
            code, output = None, _text(error.stdout) + _text(error.stderr) + f"\ntimed out after {check.vllm_timeout_s:g} s"
        results[name] = {"command": " ".join(["python", *command[1:]]), "passed": code == 0, "returncode": code,
                         "seconds": time.perf_counter() - started, "output_tail": output[-TRACEBACK_CHARS:]}  # fmt: skip
        check.say(f"  {name}: {'passed' if code == 0 else 'FAILED'}")
    return results


def _text(data: str | bytes | None) -> str:
    return data.decode(errors="replace") if isinstance(data, bytes) else data or ""


# ----------------------------------------------------------------------------- the report


def _f(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def _size(gib: float | None) -> str:
    """GiB, or MiB under one GiB (the dry run's sizes)."""
    if gib is None:
        return "n/a"
    return f"{gib:,.1f} GiB" if abs(gib) >= 1 else f"{gib * 1024:,.2f} MiB"


def _count(n: int) -> str:
    return f"{n / 1e9:.2f}B" if n >= 1e9 else f"{n / 1e6:.1f}M" if n >= 1e6 else f"{n:,}"


def rows_machine(r: dict[str, Any]) -> list[Row]:
    memory = _size(r["gpu_memory_gib"]) if r["gpu_memory_gib"] else f"host {_size(r['host_memory_gib'])}"
    versions = f"Python {r['python']}, torch {r['torch']} (CUDA {r['cuda_version']}), transformers {r['transformers']}, accelerate {r['accelerate']}"
    bf16 = {True: "bf16 supported", False: "no bf16", None: "bf16 n/a (CPU)"}[r["bf16"]]
    return [("machine", f"{r['device']}, {memory}", f"{versions}; {bf16}; {r['processes']} process(es), {r['cpu_count']} CPU cores"),
            ("vLLM importable", r["vllm"], "`import vllm` in a subprocess")]  # fmt: skip


def rows_models(r: dict[str, Any]) -> list[Row]:
    def note(m: dict[str, Any]) -> str:
        same = "the same" if m["parameters"] == m["plan_parameters"] else f"{_count(m['plan_parameters'])}: DIFFERENT"
        return f"random init of the {m['shape_of']} shape on the device in {m['build_s']:.1f} s; the memory plan counts {same}"

    return [(f"{role} model", f"{_count(m['parameters'])} params, {m['dtype']}", note(m)) for role, m in r.items()]


def rows_simulator(r: dict[str, Any]) -> list[Row]:
    return [(f"simulator tokens/s, batch {b}", f"{_f(m['tokens_per_s'], 0)} tokens/s ({m['s_per_call']:.2f} s/call)",
             (f"transformers generate, {r['dtype']}, {m['completion_tokens_per_request']:.0f} of {r['max_new_tokens']} new tokens/request, "
              f"{m['prompt_tokens_per_request']:.0f}-token prompts, mean of {m['calls']} call(s) after a warm-up"))
            for b, m in r["batches"].items()]  # fmt: skip


def rows_vector_env(r: dict[str, Any]) -> list[Row]:
    return [("vector env overhead", f"{r['overhead_share']:.2%} of simulator time",
             (f"{r['num_envs']} envs, {r['requests_per_step']:.0f} searches in {r['sim_calls_per_step']:.0f} simulator call per step: "
              f"env {r['env_s_per_step'] * 1e3:.1f} ms, simulator {r['sim_s_per_step']:.2f} s per step (mean of {r['steps']})"))]  # fmt: skip


def rows_learner(r: dict[str, Any]) -> list[Row]:
    plan = r["plan"]
    shape = f"{r['episodes']} x {r['episode_tokens']} tokens ({r['policy_token_share']:.0%} policy tokens), micro-batch {r['micro_batch_size']}"
    ratio = f"{r['measured_over_estimate']:.2f}" if r["measured_over_estimate"] is not None else "n/a (no CUDA)"
    items = ", ".join(f"{name} {_size(gib)}" for name, gib in plan["items"].items())
    return [
        ("learner update tokens/s", f"{_f(r['tokens_per_s'], 0)} tokens/s ({r['update_s']:.2f} s/update)",
         (f"GRPO score + optimize, {shape}, checkpointing, mixed precision {r['mixed_precision']}, {r['processes']} process(es); "
          f"optimize alone {_f(r['optimize_tokens_per_s'], 0)} tokens/s")),
        ("learner peak memory", _size(r["peak_allocated_gib"]) if r["peak_allocated_gib"] is not None else "null",
         r["cuda_note"] + f"; process peak RSS {_size(r['peak_rss_gib'])}"),
        ("memory plan estimate", _size(plan["estimate_gib"]), f"plan_memory for {plan['gpus']} GPU(s), phase {'/'.join(plan['phases'])}: {items}"),
        ("measured / estimated", ratio, "learner peak over the plan's estimate"),
        ("fp32 master weights", str(r["fp32_master_weights"]).lower(),
         f"every trainable parameter float32 after accelerator.prepare and after the updates; weights changed: {str(r['weights_changed']).lower()}"),
        ("sampled rollout turn", f"generator on {r['sampling']['generator_device']}, model on {r['sampling']['model_device']}",
         f"HFGenerator at temperature 1 with the rollout's seeded torch.Generator: {r['sampling']['tokens']} tokens sampled"),
    ]  # fmt: skip


def rows_vllm(r: dict[str, Any]) -> list[Row]:
    return [(f"vLLM {name}", "passed" if m["passed"] else "FAILED", f"`{m['command']}` in {m['seconds']:.0f} s") for name, m in r.items()]


@dataclass(frozen=True)
class Section:
    name: str
    run: Callable[[Check], dict[str, Any]]
    rows: Callable[[dict[str, Any]], list[Row]]


SECTIONS = (
    Section("machine", run_machine, rows_machine),
    Section("models", run_models, rows_models),
    Section("simulator", run_simulator, rows_simulator),
    Section("vector_env", run_vector_env, rows_vector_env),
    Section("learner", run_learner, rows_learner),
    Section("vllm", run_vllm, rows_vllm),
)


def run_section(check: Check, section: Section) -> dict[str, Any]:
    """Run one section; its exception becomes a record (type, message, traceback tail)."""
    started = time.perf_counter()
    try:
        record: dict[str, Any] = {"status": "ok", "results": section.run(check)}
    except Skipped as skipped:
        record = {"status": "skipped", "reason": str(skipped)}
    except Exception as error:  # noqa: BLE001 - every failure is recorded, then the next section runs
        tail = traceback.format_exc()[-TRACEBACK_CHARS:]
        record = {"status": "failed", "error": f"{type(error).__name__}: {error}", "traceback": tail}
    record["seconds"] = time.perf_counter() - started
    return record


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(report: dict[str, Any]) -> str:
    """The report as a README section: a measurement | value | note table."""
    rows: list[Row] = []
    sections = {s.name: s for s in SECTIONS}
    for name, record in report["sections"].items():
        if record["status"] == "ok":
            rows += sections[name].rows(record["results"])
        elif record["status"] == "skipped":
            rows.append((name, f"skipped: {record['reason']}", ""))
        else:
            rows.append((name, "FAILED", f"{record['error']} (traceback in gpu_check.json)"))
    times = ", ".join(f"{name} {r['seconds']:.1f} s" for name, r in report["sections"].items())
    lines = [
        "### GPU check", "",
        f"`{report['command']}` on {report['started']}, {report['mode']}; {report['total_s']:.0f} s in all ({times}).",
        "The models have random weights (no download), so replies run to max_new_tokens.", "",
        "| measurement | value | note |", "|---|---|---|",
        *(f"| {_cell(m)} | {_cell(v)} | {_cell(n)} |" for m, v, n in rows),
    ]  # fmt: skip
    return "\n".join(lines) + "\n"


def write_report(report: dict[str, Any], out_dir: Path) -> None:
    """Both files, each replaced whole (a run killed mid-write leaves the previous version)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, text in (("gpu_check.json", json.dumps(report, indent=2)), ("gpu_check.md", markdown(report))):
        partial = out_dir / f".{name}.partial"
        partial.write_text(text)
        partial.replace(out_dir / name)


# ----------------------------------------------------------------------------- command line


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dry-run", action="store_true", help="tiny shapes on CPU, fp32, a few tokens: the same code in under a minute")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results", help="folder for gpu_check.json and gpu_check.md")
    parser.add_argument("--sections", default=",".join(s.name for s in SECTIONS), help="comma list of sections to run (default: all)")
    parser.add_argument(
        "--vllm-timeout", type=float, default=120.0, help="seconds for each of the two vLLM pytest subprocesses (the rest takes about 3 minutes of the 8)"
    )
    args = parser.parse_args(argv)
    names = [name.strip() for name in args.sections.split(",") if name.strip()]
    unknown = sorted(set(names) - {s.name for s in SECTIONS})
    if unknown or not names:
        parser.error(f"--sections expects names from {[s.name for s in SECTIONS]}, got {unknown or 'none'}")
    args.sections = names
    return args


def start(args: argparse.Namespace) -> Check:
    """The process's place: accelerate's rank and device (one process: cuda if visible, else cpu)."""
    import torch
    from accelerate import PartialState

    from zerosearch_env.testing import build_tokenizer

    state = PartialState()
    device = state.device
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    sizes = DRY_SIZES if args.dry_run else GPU_SIZES
    return Check(sizes, args.dry_run, device, state.process_index, state.num_processes, args.out, args.vllm_timeout, build_tokenizer())


@contextmanager
def cpu_threads(threads: int | None) -> Iterator[None]:
    """torch's CPU threads for the block, then the caller's setting again. The dry run uses
    one: tiny models gain nothing from threads, and on a small machine with other work they
    stall on thread contention (measured here: 20x slower with 2 threads on 2 busy cores)."""
    import torch

    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # random weights only: nothing may be fetched
    started = time.perf_counter()
    check = start(args)
    check.report = {
        "mode": "dry run: tiny shapes, fp32" if args.dry_run else "the released shapes", "command": " ".join(["python", "benchmarks/gpu_check.py", *(sys.argv[1:] if argv is None else argv)]),
        "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "sizes": dataclasses.asdict(check.sizes), "total_s": 0.0, "sections": {},
    }  # fmt: skip
    chosen = [s for s in SECTIONS if s.name in args.sections]
    with cpu_threads(1 if args.dry_run and not check.cuda else None):
        for k, section in enumerate(chosen, 1):
            check.say(f"{k}/{len(chosen)} {section.name} ...")
            record = check.report["sections"][section.name] = run_section(check, section)
            detail = record.get("error") or record.get("reason") or ""
            check.say(f"{k}/{len(chosen)} {section.name}: {record['status']} in {record['seconds']:.1f} s {detail}".rstrip())
            check.report["total_s"] = time.perf_counter() - started
            if check.main:
                write_report(check.report, check.out_dir)
    if check.main:
        check.say(f"wrote {check.out_dir / 'gpu_check.json'} and {check.out_dir / 'gpu_check.md'}")
    return 1 if any(r["status"] == "failed" for r in check.report["sections"].values()) else 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))  # the packages import from the checkout, installed or not
    raise SystemExit(main())
