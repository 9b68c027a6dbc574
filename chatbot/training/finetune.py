"""Fine-tuning a sentence-transformers embedder on training pairs, on the CPU.

sentence-transformers' own trainer (`SentenceTransformerTrainer`) with
MultipleNegativesRankingLoss: each pair's texts are pulled together and pushed away from the
other pairs of the step, which come from other entries (`chatbot.training.sampler`). Only the
top `train_layers` transformer layers learn; the lower ones keep what the model knows of
language in general. torch and sentence-transformers are imported when a training starts.
"""

from __future__ import annotations

import logging
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chatbot.settings import TrainingSettings
from chatbot.training.data import Pair

log = logging.getLogger(__name__)


class TrainingCancelled(Exception):
    """The training was cancelled; nothing was kept."""


@dataclass(frozen=True)
class StepProgress:
    step: int
    total: int
    loss: float | None
    seconds_left: float | None


@dataclass(frozen=True)
class FitStats:
    steps: int
    seconds: float
    final_loss: float | None
    trained_layers: str  # "top 4 of 12", "all"


StepFn = Callable[[StepProgress], None]


def fine_tune(
    base: str,
    pairs: list[Pair],
    config: TrainingSettings,
    out_dir: Path,
    on_step: StepFn | None = None,
    cancelled: threading.Event | None = None,
) -> FitStats:
    """Train a copy of the sentence-transformers model in folder `base` on `pairs` and save it
    to `out_dir`. Raises TrainingCancelled when `cancelled` is set (checked between steps)."""
    from datasets import Dataset
    from sentence_transformers import (
        SentenceTransformer,
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
    from transformers.trainer_callback import PrinterCallback, ProgressCallback, TrainerCallback

    from chatbot.training.sampler import LABEL, OneEntryPerBatchSampler

    if len({p.entry for p in pairs}) < 2:
        raise ValueError("training needs pairs of at least two entries")
    model = SentenceTransformer(base, device="cpu", local_files_only=Path(base).exists())
    # The model card's widget would otherwise be sampled from the data, with a progress bar.
    model.model_card_data.widget = [{"source_sentence": pairs[0].anchor}]
    search_length = model.max_seq_length
    model.max_seq_length = min(config.max_length, search_length or config.max_length)
    trained_layers = _freeze_lower_layers(model, config.train_layers)
    entries = {e: i for i, e in enumerate(dict.fromkeys(p.entry for p in pairs))}
    dataset = Dataset.from_dict(
        {
            "anchor": [p.anchor for p in pairs],
            "positive": [p.positive for p in pairs],
            LABEL: [entries[p.entry] for p in pairs],
        }
    )
    # A batch holds at most one pair of each entry, so no wider than the number of entries.
    batch_size = min(config.batch_size, len(entries))
    # TrainerCallback's other hooks do nothing; it is only importable once training starts.
    callback = type("ProgressHooks", (_Progress, TrainerCallback), {})(on_step, cancelled)
    with tempfile.TemporaryDirectory(prefix="chatbot-train-") as scratch:
        args = SentenceTransformerTrainingArguments(
            output_dir=scratch,
            num_train_epochs=config.epochs,
            per_device_train_batch_size=batch_size,
            learning_rate=config.learning_rate,
            warmup_steps=0.1,
            seed=config.seed,
            batch_sampler=OneEntryPerBatchSampler,
            save_strategy="no",
            logging_steps=1,
            report_to="none",
            disable_tqdm=True,
            use_cpu=True,
            dataloader_num_workers=0,
        )
        trainer = SentenceTransformerTrainer(
            model=model,
            args=args,
            train_dataset=dataset,
            loss=MultipleNegativesRankingLoss(model),
            callbacks=[callback],
        )
        # The job reports progress itself; the trainer's own printing would break the bar.
        trainer.remove_callback(PrinterCallback)
        trainer.remove_callback(ProgressCallback)
        started = time.monotonic()
        trainer.train()
        seconds = time.monotonic() - started
    if cancelled is not None and cancelled.is_set():
        raise TrainingCancelled("the training was cancelled")
    for parameter in model.parameters():
        parameter.requires_grad = True
    model.max_seq_length = search_length
    model.save_pretrained(str(out_dir))
    return FitStats(callback.step, seconds, callback.loss, trained_layers)


class _Progress:
    """The hooks of a transformers TrainerCallback that report each step and stop the
    training between steps once cancelled."""

    def __init__(self, on_step: StepFn | None, cancelled: threading.Event | None) -> None:
        self._on_step = on_step
        self._cancelled = cancelled
        self.step = 0
        self.loss: float | None = None
        self._started = time.monotonic()

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._started = time.monotonic()
        self._report(0, state.max_steps)

    def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
        if logs and "loss" in logs:
            self.loss = float(logs["loss"])

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.step = state.global_step
        self._report(state.global_step, state.max_steps)
        if self._cancelled is not None and self._cancelled.is_set():
            control.should_training_stop = True

    def _report(self, step: int, total: int) -> None:
        if self._on_step is None:
            return
        elapsed = time.monotonic() - self._started
        left = elapsed / step * (total - step) if step else None
        self._on_step(StepProgress(step, total, self.loss, left))


def _freeze_lower_layers(model: Any, keep: int) -> str:
    """Freeze the embeddings and all but the top `keep` transformer layers (0: train all)."""
    layers = _layers(model)
    if keep <= 0 or layers is None or keep >= len(layers):
        return "all"
    for parameter in model.parameters():
        parameter.requires_grad = False
    for layer in list(layers)[-keep:]:
        for parameter in layer.parameters():
            parameter.requires_grad = True
    # Pooling and any dense head after the transformer stay trainable.
    for module in list(model)[1:]:
        for parameter in module.parameters():
            parameter.requires_grad = True
    return f"top {keep} of {len(layers)}"


def _layers(model: Any) -> Any:
    """The transformer's list of layers (BERT, MPNet, XLM-R, ... name it encoder.layer)."""
    first = model[0]
    auto = getattr(first, "auto_model", None) or getattr(first, "model", None)
    encoder = getattr(auto, "encoder", None)
    return getattr(encoder, "layer", None)
