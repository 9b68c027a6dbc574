"""Fine-tuning the generator on the knowledge base: a LoRA adapter, on the CPU.

PEFT's LoRA on every linear layer of the transformers backend's model (the GGUF it serves,
converted once to a plain folder by chatbot.generation.transformers_backend), trained with
TRL's SFTTrainer on prompt/completion chat examples (chatbot.training.generator_data): the
loss is on the answer only, in fp32 (bf16 is several times slower on these CPUs). Only the
adapter is saved, as a numbered version that is never reused:

    DATA_DIR/models/generator/
        v1/adapter_config.json, adapter_model.safetensors   what PEFT loads
        v1/training.json     the base model, steps, losses, date, settings

`CHATBOT_MODELS__GENERATOR_ADAPTER=DATA_DIR/models/generator/v1` serves it (the transformers
backend merges it into the model as it loads). torch, PEFT and TRL are imported when a
training starts.
"""

from __future__ import annotations

import json
import logging
import math
import re
import shutil
import tempfile
import threading
import time
import warnings
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from chatbot.settings import TRANSFORMERS_GENERATOR, Settings, TrainingSettings
from chatbot.training.data import TrainingDataError
from chatbot.training.finetune import StepFn, StepProgress, TrainingCancelled
from chatbot.training.generator_data import ChatExample, GeneratorData
from chatbot.training.generator_versions import (
    META_FILE,
    AdapterStore,
    adapters_dir,
    adoption,
)
from chatbot.training.versions import VersionStore

log = logging.getLogger(__name__)

_VERSION = re.compile(r"v(\d+)")


@dataclass(frozen=True)
class GeneratorTrainingResult:
    folder: Path  # the adapter: what CHATBOT_MODELS__GENERATOR_ADAPTER names
    base_model: str  # the spec it was trained from: what CHATBOT_MODELS__GENERATOR names
    steps: int
    total_steps: int
    final_loss: float | None  # the last step's training loss
    eval_loss_before: float | None  # on the held-out entries' examples (None: not measured)
    eval_loss_after: float | None
    seconds: float  # training steps only
    train_examples: int
    eval_examples: int
    too_long: int  # examples left out: longer than generator_max_length
    adopted: bool = False  # served from the next start (chatbot.training.generator_versions)
    reason: str = ""  # why it was adopted or not

    @property
    def seconds_per_step(self) -> float | None:
        return self.seconds / self.steps if self.steps else None


def base_model_spec(settings: Settings) -> str:
    """The model an adapter is trained on: the configured generator when a local backend
    serves it (llama.cpp's GGUF is dequantised for training, and the adapter is converted
    back to a GGUF LoRA to serve), else the transformers backend's default."""
    m = settings.models
    local = m.generator_backend in ("transformers", "llamacpp")
    return m.generator if local else TRANSFORMERS_GENERATOR


def train_generator_lora(
    settings: Settings,
    data: GeneratorData,
    config: TrainingSettings | None = None,
    *,
    on_step: StepFn | None = None,
    cancelled: threading.Event | None = None,
    evaluate: bool = True,
) -> GeneratorTrainingResult:
    """Train a LoRA adapter on `data.train` and save it as the next version under the data
    dir. `evaluate`: also measure the loss on `data.eval` before and after training. Raises
    TrainingCancelled (nothing kept) once `cancelled` is set (checked between steps),
    TrainingDataError when no example fits generator_max_length, TrainingBusy when another
    training holds the data dir."""
    import torch

    from chatbot.generation.transformers_backend import load_causal_lm

    cfg = config or settings.training
    spec = base_model_spec(settings)
    torch.set_num_threads(settings.models.torch_threads)
    with VersionStore(settings.data_dir).lock():
        _check(cancelled)
        tokenizer, model = load_causal_lm(spec, settings.models_dir)
        train, shortest = _fitting(data.train, tokenizer, cfg.generator_max_length)
        held, _ = _fitting(data.eval, tokenizer, cfg.generator_max_length)
        too_long = len(data.train) - len(train)
        if not train:
            raise TrainingDataError(
                f"none of the {len(data.train)} training examples fits in "
                f"generator_max_length={cfg.generator_max_length} tokens (prompt and answer "
                f"together; the shortest is {shortest}): raise it "
                "(CHATBOT_TRAINING__GENERATOR_MAX_LENGTH or --config)"
            )
        if too_long:
            log.warning(
                "%d of %d training examples are longer than %d tokens and are left out",
                too_long,
                len(data.train),
                cfg.generator_max_length,
            )
        with tempfile.TemporaryDirectory(prefix="chatbot-train-generator-") as scratch:
            trainer, hooks = _trainer(
                model, tokenizer, train, held, cfg, scratch, on_step, cancelled
            )
            before = _eval_loss(trainer) if evaluate and held else None
            _check(cancelled)
            started = time.monotonic()
            trainer.train()
            seconds = time.monotonic() - started
            _check(cancelled)
            after = _eval_loss(trainer) if evaluate and held else None
            adopted, reason = adoption(before, after)
            result = GeneratorTrainingResult(
                folder=Path(),
                base_model=spec,
                steps=hooks.step,
                total_steps=hooks.total,
                final_loss=hooks.loss,
                eval_loss_before=before,
                eval_loss_after=after,
                seconds=seconds,
                train_examples=len(train),
                eval_examples=len(held),
                too_long=too_long,
                adopted=adopted,
                reason=reason,
            )
            folder = _save(trainer.model, settings.data_dir, result, data, cfg)
            if adopted:
                AdapterStore(settings.data_dir).set_active(folder.name)
    return replace(result, folder=folder)


def _check(cancelled: threading.Event | None) -> None:
    if cancelled is not None and cancelled.is_set():
        raise TrainingCancelled("the training was cancelled")


def _fitting(
    examples: list[ChatExample], tokenizer: Any, max_length: int
) -> tuple[list[ChatExample], int]:
    """The examples whose prompt and answer fit in `max_length` tokens (cut to fit, an
    example would lose its answer or its end, and the model would learn to stop mid-answer),
    and the length of the shortest example in tokens."""
    kept, shortest = [], 0
    for example in examples:
        length = len(
            tokenizer.apply_chat_template(
                example.prompt + example.completion, tokenize=True, return_dict=True
            )["input_ids"]
        )
        shortest = min(shortest, length) if shortest else length
        if length <= max_length:
            kept.append(example)
    return kept, shortest


def _trainer(
    model: Any,
    tokenizer: Any,
    train: list[ChatExample],
    held: list[ChatExample],
    cfg: TrainingSettings,
    scratch: str,
    on_step: StepFn | None,
    cancelled: threading.Event | None,
) -> tuple[Any, _Hooks]:
    import datasets
    from datasets import Dataset
    from peft import LoraConfig
    from transformers.trainer_callback import PrinterCallback, ProgressCallback, TrainerCallback
    from trl import SFTConfig, SFTTrainer

    # The caller reports progress; the datasets' own bars would break its output.
    datasets.disable_progress_bars()
    args = SFTConfig(
        output_dir=scratch,
        num_train_epochs=cfg.generator_epochs,
        max_steps=_max_steps(len(train), cfg),
        per_device_train_batch_size=cfg.generator_batch_size,
        per_device_eval_batch_size=cfg.generator_batch_size,
        learning_rate=cfg.generator_learning_rate,
        warmup_steps=0.1,
        seed=cfg.seed,
        max_length=cfg.generator_max_length,
        completion_only_loss=True,
        # TRL's defaults are for GPUs: bf16 and gradient checkpointing only slow a CPU down.
        bf16=False,
        fp16=False,
        activation_checkpointing=False,  # (transformers 5's name for gradient checkpointing)
        use_cpu=True,
        save_strategy="no",
        eval_strategy="no",
        logging_steps=1,
        report_to="none",
        disable_tqdm=True,
        dataloader_num_workers=0,
    )
    lora = LoraConfig(
        r=cfg.generator_lora_rank,
        lora_alpha=cfg.generator_lora_alpha,
        target_modules="all-linear",
        task_type="CAUSAL_LM",
    )
    # TrainerCallback's other hooks do nothing; it is only importable once training starts.
    hooks = type("GeneratorHooks", (_Hooks, TrainerCallback), {})(on_step, cancelled)
    # PEFT still asks the model by transformers' old name: nothing a user could change.
    # (Not warnings.catch_warnings: that swaps the filters of every thread of the process.)
    warnings.filterwarnings("ignore", "`is_gradient_checkpointing`", FutureWarning)
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=Dataset.from_list([x.as_row() for x in train]),
        eval_dataset=Dataset.from_list([x.as_row() for x in held]) if held else None,
        processing_class=tokenizer,
        peft_config=lora,
        callbacks=[hooks],
    )
    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    return trainer, hooks


def _max_steps(examples: int, cfg: TrainingSettings) -> int:
    """generator_max_steps as a cap (-1: none). The trainer reads max_steps as the length of
    the training, going round the data again if need be; the cap must never add epochs."""
    if not cfg.generator_max_steps:
        return -1
    all_epochs = math.ceil(examples / cfg.generator_batch_size) * cfg.generator_epochs
    return min(cfg.generator_max_steps, all_epochs)


def _eval_loss(trainer: Any) -> float | None:
    loss = trainer.evaluate().get("eval_loss")
    return float(loss) if loss is not None and math.isfinite(loss) else None


class _Hooks:
    """The hooks of a transformers TrainerCallback: each logged step is reported with its
    own loss, and the training stops between steps once cancelled."""

    def __init__(self, on_step: StepFn | None, cancelled: threading.Event | None) -> None:
        self._on_step = on_step
        self.cancelled = cancelled
        self.step = 0
        self.total = 0
        self.loss: float | None = None
        self._started = time.monotonic()

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._started = time.monotonic()
        self.total = state.max_steps
        self._report()

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.step = state.global_step
        self._stop_if_cancelled(control)

    def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
        # (Logged after on_step_end: reporting here gives each step its own loss.)
        if logs and "loss" in logs:
            self.loss = float(logs["loss"])
            self.step = state.global_step
            self._report()
            # Asked again: a cancel while this step was reported stops before the next.
            self._stop_if_cancelled(control)

    def _stop_if_cancelled(self, control: Any) -> None:
        if self.cancelled is not None and self.cancelled.is_set():
            control.should_training_stop = True

    def _report(self) -> None:
        if self._on_step is None:
            return
        elapsed = time.monotonic() - self._started
        left = elapsed / self.step * (self.total - self.step) if self.step else None
        self._on_step(StepProgress(self.step, self.total, self.loss, left))


def _save(
    model: Any,
    data_dir: Path,
    result: GeneratorTrainingResult,
    data: GeneratorData,
    cfg: TrainingSettings,
) -> Path:
    """The adapter and its meta in the next version folder, written aside and renamed into
    place: a crashed training leaves no half-written version."""
    root = adapters_dir(data_dir)
    root.mkdir(parents=True, exist_ok=True)
    numbers = [int(m.group(1)) for p in root.iterdir() if (m := _VERSION.fullmatch(p.name))]
    folder = root / f"v{max(numbers, default=0) + 1}"
    tmp = Path(tempfile.mkdtemp(dir=root, prefix=f".{folder.name}."))
    try:
        model.save_pretrained(str(tmp))
        meta = {
            "base_model": result.base_model,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "steps": result.steps,
            "total_steps": result.total_steps,
            "final_loss": result.final_loss,
            "eval_loss_before": result.eval_loss_before,
            "eval_loss_after": result.eval_loss_after,
            "adopted": result.adopted,
            "reason": result.reason,
            "seconds": round(result.seconds, 1),
            "examples": {
                "train": result.train_examples,
                "eval": result.eval_examples,
                "too_long": result.too_long,
            },
            "eval_entries": list(data.eval_entries),
            "settings": {
                name: value
                for name, value in cfg.model_dump().items()
                if name.startswith("generator_") or name in ("holdout_entries", "seed")
            },
        }
        (tmp / META_FILE).write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n")
        tmp.chmod(0o755)
        tmp.rename(folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder
