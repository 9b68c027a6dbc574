"""A regular (non-editable) install works: the wheel of the checkout, installed into a folder of
its own and run from outside the checkout, upgrades a database, ingests a FAQ and answers.

The dev venv has an editable install of this project, so the copy under test must win: the
install folder comes first on PYTHONPATH (the editable finder only runs after sys.path), and an
audit hook records every file the commands open under the checkout, which must be none (the
venv's own files apart: it lives in the checkout)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from chatbot.settings import FAST_EMBEDDER
from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.integration

# What a build reads: everything else in the checkout stays out of the copy it builds from.
BUILD_INPUTS = ("pyproject.toml", "README.md", "alembic", "chatbot", "knowledge_base")
NOT_SHIPPED = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")

# Installed as a sitecustomize module: logs each file or folder opened under the checkout.
AUDIT_HOOK = """
import os, sys

CHECKOUT = os.environ["AUDIT_CHECKOUT"]
ALLOWED = tuple(os.path.realpath(p) + os.sep for p in {sys.prefix, sys.base_prefix})
LOG = os.environ["AUDIT_LOG"]


def _hook(event, args):
    if event not in ("open", "os.listdir", "os.scandir") or not args:
        return
    if not isinstance(args[0], (str, bytes, os.PathLike)):
        return  # a file descriptor
    path = os.path.realpath(os.fsdecode(args[0]))
    if path.startswith(CHECKOUT) and not path.startswith(ALLOWED) and path != LOG:
        with open(LOG, "a", encoding="utf-8") as log:
            log.write(f"{event} {path}\\n")


sys.addaudithook(_hook)
"""

FAQ = """id,question,answer
opening-hours,When are you open?,We are open from 9 to 5 on weekdays.
parking,Is there parking at the shop?,Yes: free parking behind the shop.
"""


def shipped_files(root: Path) -> set[str]:
    return {
        str(p.relative_to(root))
        for p in root.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    }


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel of the checkout, installed with `--target` into a fresh folder."""
    work = tmp_path_factory.mktemp("installed")
    source = work / "source"
    source.mkdir()
    for name in BUILD_INPUTS:
        if (REPO_ROOT / name).is_dir():
            shutil.copytree(REPO_ROOT / name, source / name, ignore=NOT_SHIPPED)
        else:
            shutil.copy2(REPO_ROOT / name, source / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input", "-q"]
    wheels = work / "wheels"
    subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(source)],
        check=True,
        timeout=300,
    )
    (wheel,) = wheels.glob("*.whl")
    target = work / "target"
    subprocess.run(
        [*pip, "install", "--no-deps", "--no-compile", "--target", str(target), str(wheel)],
        check=True,
        timeout=300,
    )
    return target


def test_every_package_file_and_migration_is_installed(installed: Path) -> None:
    for package in ("chatbot", "knowledge_base"):
        missing = shipped_files(REPO_ROOT / package) - shipped_files(installed / package)
        assert not missing, f"not in the wheel: {sorted(missing)}"
    migrations = installed / "chatbot" / "storage" / "migrations"
    assert shipped_files(REPO_ROOT / "alembic") == shipped_files(migrations)


def test_the_installed_cli_upgrades_ingests_and_answers(installed: Path, tmp_path: Path) -> None:
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(AUDIT_HOOK, encoding="utf-8")
    audit_log = tmp_path / "checkout-reads.log"
    cwd = tmp_path / "cwd"  # not the checkout: nothing is importable from the current folder
    cwd.mkdir()
    faq = tmp_path / "faq.csv"
    faq.write_text(FAQ, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHATBOT_", "PYTHON"))}
    env |= {
        "PYTHONPATH": os.pathsep.join([str(installed), str(hooks)]),
        "AUDIT_CHECKOUT": str(REPO_ROOT.resolve()) + os.sep,
        "AUDIT_LOG": str(audit_log),
        "CHATBOT_DATA_DIR": str(tmp_path / "data"),
        # The smallest embedder, English only, and canned replies keep this quick.
        "CHATBOT_MODELS__EMBEDDER": FAST_EMBEDDER,
        "CHATBOT_MODELS__MULTILINGUAL_EMBEDDER": "",
        "CHATBOT_MODELS__GENERATOR_BACKEND": "scripted",
    }

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            args, capture_output=True, text=True, env=env, cwd=cwd, timeout=300, check=False
        )
        assert result.returncode == 0, result.stderr
        return result

    where = run(
        sys.executable,
        "-c",
        "import sys, chatbot, knowledge_base; from chatbot.storage import db; "
        "print(sys.modules['sitecustomize'].__file__); "
        "print(chatbot.__file__); print(knowledge_base.__file__); print(db.migrations_dir())",
    )
    hook, *modules = where.stdout.splitlines()
    assert Path(hook).parent == hooks  # the audit hook is on
    assert len(modules) == 3
    for line in modules:
        assert Path(line).is_relative_to(installed), line

    chatbot = str(installed / "bin" / "chatbot")  # the installed console script
    assert run(chatbot, "db", "upgrade").stdout.strip() == "database is up to date"
    assert run(chatbot, "ingest", str(faq)).stdout.strip() == "faq.csv: added, 4 passages"
    answer = json.loads(run(chatbot, "ask", "When are you open?", "--json").stdout)
    assert answer["decision"] == "answer"
    assert answer["sources"][0]["id"] == "opening-hours"
    assert answer["answer"] == "We are open from 9 to 5 on weekdays."

    reads = audit_log.read_text(encoding="utf-8") if audit_log.exists() else ""
    assert reads == "", f"the installed package read the checkout:\n{reads}"
