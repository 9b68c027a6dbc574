"""The training settings: `CHATBOT_TRAINING__*` (chatbot.settings), then a `--config` file.

The file is TOML (`.toml`) or YAML (`.yaml`, `.yml`) with the settings' names at the top level
or under `training`:

    [training]
    epochs = 2
    learning_rate = 3e-5
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from chatbot.settings import TrainingSettings


class ConfigError(ValueError):
    """The training settings file is unusable; the message says what is wrong."""


def load(path: Path, defaults: TrainingSettings) -> TrainingSettings:
    """`defaults` with the values of the file at `path`."""
    values = _read(path)
    if isinstance(values.get("training"), dict):
        values = values["training"]
    known = TrainingSettings.model_fields
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(
            f"{path}: unknown training setting(s) {', '.join(unknown)}; known: {', '.join(known)}"
        )
    return merge(defaults, values, str(path))


def merge(defaults: TrainingSettings, values: dict[str, Any], source: str) -> TrainingSettings:
    try:
        return TrainingSettings.model_validate({**defaults.model_dump(), **values})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors(include_url=False)
        )
        raise ConfigError(f"{source}: {problems}") from None


def _read(path: Path) -> dict[str, Any]:
    suffix = path.suffix.lower()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the training settings file ({exc})") from None
    if suffix == ".toml":
        try:
            values: Any = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    elif suffix in (".yaml", ".yml"):
        import yaml

        try:
            values = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    else:
        raise ConfigError(
            f"{path}: unsupported settings file type {suffix or '(none)'!r}; use .toml or .yaml"
        )
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: the file must hold settings as name = value pairs")
    return values
