"""Shared by the contract suites: where converted models live between runs.

Each suite in this folder states what an interface promises (its Protocol's docstrings) and
runs the same tests against every implementation. The test doubles run in the fast path; the
real packaged models are marked `integration`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.served import MODELS_CACHE


@pytest.fixture(scope="session")
def models_dir() -> Path:
    """The folder `tests/served.py` keeps converted models in, so the GGUF conversion the
    transformers backend needs is paid once, not on every run."""
    MODELS_CACHE.mkdir(parents=True, exist_ok=True)
    return MODELS_CACHE
