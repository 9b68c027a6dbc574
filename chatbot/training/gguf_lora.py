"""A PEFT LoRA adapter as a GGUF LoRA adapter, for llama.cpp to serve next to its base model.

The file is what llama.cpp's own converter (convert_lora_to_gguf.py) writes, made here with
the `gguf` package alone:

- keys: general.type = "adapter", general.architecture = the base model's, adapter.type =
  "lora", adapter.lora.alpha = the adapter's lora_alpha;
- for each adapted linear layer, `<base tensor>.lora_a` (PEFT's A, rank x in) and
  `<base tensor>.lora_b` (PEFT's B, out x rank), f32, named after the base GGUF's tensor
  (`blk.3.attn_q.weight.lora_a`).

llama.cpp adds `scale * B @ (A @ x)` with scale = alpha / rank (rank read from the tensors),
PEFT's scaling for plain LoRA. Where PEFT scales a layer otherwise (rsLoRA, alpha_pattern,
rank_pattern), the difference is folded into that layer's B, so the one alpha still holds.

For the `llama` architecture, llama.cpp's GGUF stores the rows of the query and key
projections permuted (its rotary embedding pairs neighbouring rows; Hugging Face's pairs the
two halves of each head), and transformers undoes that when it loads such a GGUF, so the
adapter was trained in Hugging Face's order. W = B @ A: permuting W's rows is permuting B's.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
# What PEFT puts before the model's own module names.
PEFT_PREFIX = "base_model.model."
# Architectures whose GGUF holds q/k rows in llama.cpp's rotary order: those transformers
# re-orders on load (its LlamaTensorProcessor), so an adapter trained on them needs the same.
PERMUTED_ARCHS = frozenset({"llama"})


class AdapterConversionError(RuntimeError):
    """The adapter cannot be converted for this base model (says why and what to do)."""


def convert_adapter(adapter_dir: Path, base_gguf: Path, out: Path) -> Path:
    """Write the PEFT adapter in `adapter_dir` as a GGUF LoRA for the model in `base_gguf`
    to `out` (written aside and renamed into place) and return `out`."""
    import gguf
    import numpy as np
    from safetensors.numpy import load_file

    config = _read_config(adapter_dir)
    base = _BaseModel(gguf.GGUFReader(base_gguf))
    names = gguf.get_tensor_name_map(base.arch_enum(), base.blocks)
    pairs: dict[str, dict[str, Any]] = {}
    for key, array in load_file(str(adapter_dir / ADAPTER_WEIGHTS)).items():
        module, part = _split_key(key)
        pairs.setdefault(module, {})[part] = array
    if not pairs:
        raise AdapterConversionError(f"{adapter_dir / ADAPTER_WEIGHTS} holds no LoRA tensors")

    alpha = float(config["lora_alpha"])
    writer = gguf.GGUFWriter(None, base.arch)  # also writes general.architecture
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, alpha)
    for module in sorted(pairs):
        a, b = pairs[module].get("A"), pairs[module].get("B")
        if a is None or b is None:
            raise AdapterConversionError(f"{module}: the adapter lacks its lora_A or lora_B")
        target = names.get_name(module)
        if target is None:
            raise AdapterConversionError(
                f"{module}: no tensor of a {base.arch} GGUF corresponds to this layer"
            )
        tensor = f"{target}.weight"
        base.check_shape(tensor, rows=b.shape[0], columns=a.shape[1], adapter_dir=adapter_dir)
        b = b.astype(np.float32) * _b_factor(config, module, rank=a.shape[0], alpha=alpha)
        if base.arch in PERMUTED_ARCHS and module.endswith(("q_proj", "k_proj")):
            heads = base.heads if module.endswith("q_proj") else base.kv_heads
            b = _permute_rows(b, heads)
        writer.add_tensor(f"{tensor}.lora_a", np.ascontiguousarray(a, dtype=np.float32))
        writer.add_tensor(f"{tensor}.lora_b", np.ascontiguousarray(b, dtype=np.float32))

    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    os.close(fd)
    try:
        writer.write_header_to_file(Path(tmp))
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        os.replace(tmp, out)
    finally:
        writer.close()  # (again: does nothing once closed)
        Path(tmp).unlink(missing_ok=True)
    return out


def is_stale(adapter_dir: Path, converted: Path) -> bool:
    """Whether `converted` is missing or older than any of the adapter's files."""
    if not converted.is_file():
        return True
    made = converted.stat().st_mtime
    return any(
        (adapter_dir / name).stat().st_mtime > made
        for name in (ADAPTER_CONFIG, ADAPTER_WEIGHTS)
        if (adapter_dir / name).exists()
    )


def _read_config(adapter_dir: Path) -> dict[str, Any]:
    path = adapter_dir / ADAPTER_CONFIG
    if not path.is_file() or not (adapter_dir / ADAPTER_WEIGHTS).is_file():
        raise AdapterConversionError(
            f"{adapter_dir}: no PEFT adapter there ({ADAPTER_CONFIG} and {ADAPTER_WEIGHTS}); "
            "give a folder that `chatbot train generator` saved or a GGUF LoRA file"
        )
    config: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    kind = str(config.get("peft_type", "LORA")).upper()
    if kind != "LORA" or config.get("use_dora"):
        # DoRA rescales each weight's columns: not a B @ A update llama.cpp can add.
        raise AdapterConversionError(
            f"{adapter_dir}: a {'DoRA' if config.get('use_dora') else kind} adapter; "
            "llama.cpp serves plain LoRA adapters only"
        )
    return config


def _split_key(key: str) -> tuple[str, str]:
    """`base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight` ->
    (`model.layers.0.self_attn.q_proj`, `A`)."""
    name = key.removeprefix(PEFT_PREFIX)
    for part in ("A", "B"):
        suffix = f".lora_{part}.weight"
        if name.endswith(suffix):
            return name[: -len(suffix)], part
    # Embedding LoRA, modules_to_save or biases: not a linear layer's LoRA pair.
    raise AdapterConversionError(
        f"{key}: only LoRA on linear layers converts to a GGUF LoRA adapter"
    )


def _b_factor(config: dict[str, Any], module: str, rank: int, alpha: float) -> float:
    """What B is multiplied by so that llama.cpp's alpha / rank gives PEFT's scaling."""
    layer_alpha = float(alpha)
    for pattern, value in (config.get("alpha_pattern") or {}).items():
        if module == pattern or module.endswith(f".{pattern}"):
            layer_alpha = float(value)
    root = math.sqrt(rank) if config.get("use_rslora") else float(rank)
    return (layer_alpha / root) / (alpha / rank)


def _permute_rows(b: Any, heads: int) -> Any:
    """llama.cpp's q/k permutation (convert_hf_to_gguf.py LlamaModel.permute) on B's rows."""
    rows = b.shape[0]
    return b.reshape(heads, 2, rows // heads // 2, *b.shape[1:]).swapaxes(1, 2).reshape(b.shape)


class _BaseModel:
    """What the conversion needs to know about the base GGUF: its architecture, sizes and
    tensor shapes (only the header is read; the weights stay on disk)."""

    def __init__(self, reader: Any) -> None:
        self.arch = str(self._field(reader, "general.architecture"))
        self.blocks = int(self._field(reader, f"{self.arch}.block_count"))
        self.heads = int(self._field(reader, f"{self.arch}.attention.head_count"))
        kv = reader.fields.get(f"{self.arch}.attention.head_count_kv")
        self.kv_heads = int(kv.contents()) if kv is not None else self.heads
        # GGUF shapes list the row length first: (in, out) for a linear layer.
        self.shapes = {t.name: tuple(int(n) for n in t.shape) for t in reader.tensors}

    @staticmethod
    def _field(reader: Any, key: str) -> Any:
        field = reader.fields.get(key)
        if field is None:
            raise AdapterConversionError(f"the base GGUF has no {key}")
        return field.contents()

    def arch_enum(self) -> Any:
        import gguf

        for arch, name in gguf.MODEL_ARCH_NAMES.items():
            if name == self.arch:
                return arch
        raise AdapterConversionError(f"the gguf package does not know the architecture {self.arch}")

    def check_shape(self, tensor: str, *, rows: int, columns: int, adapter_dir: Path) -> None:
        shape = self.shapes.get(tensor)
        if shape == (columns, rows):
            return
        raise AdapterConversionError(
            f"the adapter in {adapter_dir} was not trained on this base model ({tensor} is "
            f"{'missing' if shape is None else 'x'.join(map(str, shape))} here, the adapter "
            f"expects {columns}x{rows}){_trained_on(adapter_dir)}"
        )


def _trained_on(adapter_dir: Path) -> str:
    """`: set CHATBOT_MODELS__GENERATOR=...` from the adapter's training.json, if it has one."""
    try:
        meta = json.loads((adapter_dir / "training.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ""
    base = meta.get("base_model") if isinstance(meta, dict) else None
    return f": set CHATBOT_MODELS__GENERATOR={base}, the model it was trained on" if base else ""
