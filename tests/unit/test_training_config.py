"""The training settings: defaults, CHATBOT_TRAINING__* variables, a TOML or YAML file."""

from __future__ import annotations

from pathlib import Path

import pytest

from chatbot.settings import Settings, TrainingSettings
from chatbot.training import config
from chatbot.training.config import ConfigError


def test_defaults_and_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().training == TrainingSettings()
    monkeypatch.setenv("CHATBOT_TRAINING__EPOCHS", "3")
    monkeypatch.setenv("CHATBOT_TRAINING__LEARNING_RATE", "1e-5")
    found = Settings().training
    assert (found.epochs, found.learning_rate) == (3, 1e-5)


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("train.toml", "[training]\nepochs = 2\nbatch_size = 8\n"),
        ("train.toml", "epochs = 2\nbatch_size = 8\n"),
        ("train.yaml", "training:\n  epochs: 2\n  batch_size: 8\n"),
        ("train.yml", "epochs: 2\nbatch_size: 8\n"),
    ],
)
def test_a_file_overrides_the_settings(tmp_path: Path, name: str, text: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    found = config.load(path, TrainingSettings(max_length=32))
    assert (found.epochs, found.batch_size, found.max_length) == (2, 8, 32)


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("t.toml", "epoch = 2\n", "unknown training setting(s) epoch; known: epochs"),
        ("t.toml", "epochs = 0\n", "epochs: Input should be greater than or equal to 1"),
        ("t.toml", "epochs = [\n", "not valid TOML"),
        ("t.yaml", "epochs: [1\n", "not valid YAML"),
        ("t.yaml", "- 1\n- 2\n", "must hold settings as name = value pairs"),
        ("t.json", "{}", "unsupported settings file type '.json'; use .toml or .yaml"),
    ],
)
def test_a_bad_file_says_what_is_wrong(tmp_path: Path, name: str, text: str, message: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        config.load(path, TrainingSettings())


def test_a_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the training settings file"):
        config.load(tmp_path / "nope.toml", TrainingSettings())


def test_a_value_from_the_command_line_is_checked_too() -> None:
    assert config.merge(TrainingSettings(), {"epochs": 4}, "--epochs").epochs == 4
    with pytest.raises(ConfigError, match="--epochs: epochs: Input should be less than"):
        config.merge(TrainingSettings(), {"epochs": 99}, "--epochs")
