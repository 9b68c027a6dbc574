"""The console's trainings: one at a time in the server's process, of retrieval (a
`TrainingJob`) or of the generator (a LoRA adapter, chatbot.training.generator).

The runner lives in the server (`Services.training`), not in a browser session, so a reload
of the console finds the running job, its progress and the last result. A retrieval job runs
in a background thread on a knowledge base of its own over the same database and index folder
(`_job_kb`): an adoption rebuilds the stored embeddings with the trained model there, while
the knowledge base that answers customers keeps its model, index and thresholds together
until the server restarts (see `RESTART`). A generator job trains an adapter in the same way
in the background; an adopted one becomes the active adapter, which the generator factory
reads at the next start. One training or rollback of either kind at a time: the version
store's lock (chatbot.training.versions) also keeps out `chatbot train` in another process.

Admins only; every start, cancel, end and rollback is written to the audit log.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

from sqlalchemy.orm import Session, sessionmaker

from chatbot.settings import Settings, TrainingSettings
from chatbot.staff.actor import Actor, require_admin
from chatbot.staff.audit import AuditLog
from chatbot.training.generator_versions import Adapter, AdapterStore
from chatbot.training.versions import BASE, TrainingBusy, Version, VersionStore
from knowledge_base.embedders import Embedder
from knowledge_base.retriever import HybridRetriever
from knowledge_base.service import KnowledgeBase
from knowledge_base.threshold import ThresholdCalibrator

if TYPE_CHECKING:
    from chatbot.training.finetune import StepProgress
    from chatbot.training.generator import GeneratorTrainingResult
    from chatbot.training.job import JobProgress, TrainingJob, TrainingResult

log = logging.getLogger(__name__)

Kind = Literal["retrieval", "generator"]
RETRIEVAL: Kind = "retrieval"
GENERATOR: Kind = "generator"
TRAIN = "train retrieval"
TRAIN_GENERATOR = "train the generator"
TRAIN_START, TRAIN_CANCEL, TRAIN_END, TRAIN_ROLLBACK = (
    "training.start",
    "training.cancel",
    "training.end",
    "training.rollback",
)
# What the console and `chatbot train` tell staff after a change of the active version: the
# running server keeps the model it started with (see the module docstring).
RESTART = "Restart `chatbot serve` to use it."
# A generator job's phases besides chatbot.training.job's TRAINING and DONE: the model is
# loaded and measured before the first step, and measured again and saved after the last.
GENERATOR_PREPARING = "loading the model and measuring the held-out loss"
GENERATOR_FINISHING = "measuring the held-out loss after training and saving"


@dataclass(frozen=True)
class TrainingState:
    """The current or last training of this process, as the console shows it."""

    running: bool
    started_by: str
    started_at: datetime
    progress: JobProgress  # a generator job's steps too (phase TRAINING)
    cancel_requested: bool
    result: TrainingResult | None = None  # a retrieval training's
    error: str | None = None  # why it ended without a result (cancelled, too little data)
    ended_at: datetime | None = None
    kind: Kind = RETRIEVAL
    generator_result: GeneratorTrainingResult | None = None  # a generator training's

    @property
    def has_result(self) -> bool:
        return self.result is not None or self.generator_result is not None


@dataclass(frozen=True)
class Rollback:
    active: str  # the version now active, or BASE
    reindexed: int  # passages re-embedded with it


@dataclass
class _GeneratorJob:
    """A generator training with the interface of a `TrainingJob` the runner uses: its
    progress, cancel and result."""

    settings: Settings
    sessions: sessionmaker[Session]
    config: TrainingSettings
    progress: JobProgress
    result: GeneratorTrainingResult | None = None
    _cancelled: threading.Event = field(default_factory=threading.Event)

    def cancel(self) -> None:
        self._cancelled.set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def run(self) -> GeneratorTrainingResult:
        # The module, not the function: tests replace `train_generator_lora` there.
        from chatbot.training import generator
        from chatbot.training.generator_data import build_examples, read_entries
        from chatbot.training.job import DONE, JobProgress

        cfg = self.config
        data = build_examples(read_entries(self.sessions), cfg.holdout_entries, cfg.seed)
        result = generator.train_generator_lora(
            self.settings, data, cfg, on_step=self._step, cancelled=self._cancelled
        )
        self.result = result
        self.progress = JobProgress(DONE)
        return result

    def _step(self, p: StepProgress) -> None:
        from chatbot.training.job import TRAINING, JobProgress

        # The last step's report comes before the second measuring and the saving.
        finishing = bool(p.total) and p.step >= p.total
        phase = GENERATOR_FINISHING if finishing else TRAINING
        self.progress = JobProgress(phase, p.step, p.total, p.loss, p.seconds_left)


@dataclass
class _Run:
    job: TrainingJob | _GeneratorJob
    actor: Actor
    started_at: datetime
    thread: threading.Thread
    target: str  # what the audit entries name: the embedder, or "generator: <base model>"
    error: BaseException | None = None
    ended_at: datetime | None = None

    @property
    def kind(self) -> Kind:
        return GENERATOR if isinstance(self.job, _GeneratorJob) else RETRIEVAL


class TrainingRunner:
    """Starts, cancels and reports the console's trainings (retrieval or the generator);
    lists the versions of each; rolls either back."""

    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[Session],
        kb: KnowledgeBase,
        thresholds: ThresholdCalibrator,
        audit: AuditLog,
    ) -> None:
        self.settings = settings
        self._sessions = sessions
        self._kb = kb
        self._thresholds = thresholds
        self._audit = audit
        self._lock = threading.Lock()
        self._run: _Run | None = None
        self.store = VersionStore(settings.data_dir)

    # ---- training ---------------------------------------------------------------------------
    def start(
        self, actor: Actor, config: TrainingSettings | None = None, kind: Kind = RETRIEVAL
    ) -> TrainingState:
        """Start a training of the current knowledge base in the background: of retrieval, or
        with `kind="generator"` a LoRA adapter of the generator. Raises Forbidden, TrainingBusy
        (one of either kind is running here or elsewhere) or TrainingDataError (nothing to
        train on); the job's own errors end up in `state().error`."""
        from chatbot.training.data import TrainingDataError
        from chatbot.training.job import JobProgress, TrainingJob

        if kind not in (RETRIEVAL, GENERATOR):
            raise ValueError(f"unknown training kind {kind!r}")
        require_admin(actor, TRAIN_GENERATOR if kind == GENERATOR else TRAIN)
        cfg = config or self.settings.training
        with self._lock:
            if self._run is not None and self._run.thread.is_alive():
                raise TrainingBusy(
                    f"a training started by {self._run.actor.name} is running; wait for it "
                    "to finish, or cancel it"
                )
            if self.store.busy():  # a `chatbot train` command, or a rollback
                raise TrainingBusy(
                    f"another training or rollback is running in {self.settings.data_dir}; "
                    "wait for it to finish"
                )
            if self._kb.is_empty():
                raise TrainingDataError("the knowledge base is empty: add FAQ entries first")
            job: TrainingJob | _GeneratorJob
            if kind == GENERATOR:
                job = _GeneratorJob(
                    self.settings, self._sessions, cfg, JobProgress(GENERATOR_PREPARING)
                )
                target, details = generator_target(self.settings), _generator_details(cfg)
            else:
                job = TrainingJob(
                    self._job_kb(), self._sessions, self.settings, cfg, self._thresholds
                )
                target = self.settings.models.embedder
                details = (
                    f"{cfg.epochs} epoch(s), batch {cfg.batch_size}, learning rate "
                    f"{cfg.learning_rate:g}, at most {cfg.max_pairs} pairs"
                )
            thread = threading.Thread(target=self._train, name="console-training", daemon=True)
            self._run = _Run(job, actor, datetime.now(UTC), thread, target)
            self._audit.record(actor.name, TRAIN_START, target, details)
            thread.start()
        state = self.state()
        assert state is not None
        return state

    def cancel(self, actor: Actor) -> bool:
        """Ask the running training to stop after its current step; False when none runs."""
        run = self._run
        require_admin(
            actor, TRAIN_GENERATOR if run is not None and run.kind == GENERATOR else TRAIN
        )
        with self._lock:
            run = self._run
            if run is None or not run.thread.is_alive() or run.job.cancelled:
                return False
            run.job.cancel()
            self._audit.record(actor.name, TRAIN_CANCEL, run.target)
            return True

    def state(self) -> TrainingState | None:
        """The running training, else the last one of this process (None: none yet)."""
        run = self._run
        if run is None:
            return None
        job = run.job
        running = run.thread.is_alive()
        error = None if running or run.error is None else _why(run.error)
        if isinstance(job, _GeneratorJob):
            result, generator_result = None, None if running else job.result
        else:
            result, generator_result = None if running else job.result, None
        return TrainingState(
            running,
            run.actor.name,
            run.started_at,
            job.progress,
            job.cancelled,
            result,
            error,
            run.ended_at,
            run.kind,
            generator_result,
        )

    def wait(self, timeout: float | None = None) -> TrainingState | None:
        """The state once the training ended, or after `timeout` seconds (scripts, tests)."""
        run = self._run
        if run is not None:
            run.thread.join(timeout)
        return self.state()

    def _train(self) -> None:
        run = self._run
        assert run is not None
        try:
            if isinstance(run.job, _GeneratorJob):
                adapter = run.job.run()
                name, adopted, reason = adapter.folder.name, adapter.adopted, adapter.reason
            else:
                result = run.job.run()
                name, adopted, reason = result.version.name, result.adopted, result.reason
        except BaseException as exc:  # shown in the console; the thread must not die loudly
            run.error = exc
            outcome = f"ended without a result: {_why(exc)}"
        else:
            outcome = f"{name} {'adopted' if adopted else 'not adopted'}: {reason}"
        run.ended_at = datetime.now(UTC)
        try:
            self._audit.record(run.actor.name, TRAIN_END, run.target, outcome)
        except Exception:  # e.g. the database went away: the console still shows the outcome
            log.warning("could not write the training's end to the audit log", exc_info=True)

    def _job_kb(self, embedder: Embedder | None = None) -> KnowledgeBase:
        """A knowledge base over the same database and index folder as the live one, for the
        job to rebuild the index in: `TrainingJob` switches its knowledge base's embedder on
        adoption, which on the live one would leave searches with the new model and the old
        thresholds and answer checks (a half-switched state)."""
        live = self._kb
        model = embedder if embedder is not None else live.embedder
        return KnowledgeBase(
            self._sessions,
            model,
            self.settings.index_dir,
            batch_size=self.settings.models.embed_batch_size,
            retriever=HybridRetriever.for_embedder(model, live.retriever.config),
        )

    # ---- versions ---------------------------------------------------------------------------
    def versions(self, actor: Actor) -> tuple[str, list[Version]]:
        """(the active version's name or BASE, every version oldest first)."""
        require_admin(actor, "see trained versions")
        active = self.store.active()
        return (BASE if active is None else active.name), self.store.versions()

    def rollback(self, actor: Actor, version: str | None = None) -> Rollback:
        """Make `version` (or, without one, the version adopted before the active one, else the
        base model) the active embedder and re-embed the stored passages with it, as
        `chatbot train rollback` does. Raises Forbidden, VersionError or TrainingBusy."""
        from chatbot.container import build_embedder

        require_admin(actor, "roll back retrieval")
        # The store's lock, not the runner's: `start` and `cancel` answer at once meanwhile
        # (a start is refused: the lock is taken) instead of waiting for the re-embedding.
        with self.store.lock():
            with self._lock:  # a training whose thread has not taken the store's lock yet
                if self._run is not None and self._run.thread.is_alive():
                    raise TrainingBusy("a training is running; wait for it, or cancel it")
            previous = self.store.active_name()
            target = self.store.rollback_target(version or None)
            self.store.set_active(target)
            started = time.monotonic()
            try:
                count = self._job_kb(build_embedder(self.settings)).reindex()
            except BaseException:
                self.store.set_active(previous)  # the stored vectors stay the old model's
                raise
        self._audit.record(
            actor.name,
            TRAIN_ROLLBACK,
            target,
            f"from {previous}; re-embedded {count} passages in {time.monotonic() - started:.0f} s",
        )
        return Rollback(target, count)

    def generator_versions(self, actor: Actor) -> tuple[str, list[Adapter]]:
        """(the active generator adapter's name or BASE, every adapter oldest first)."""
        require_admin(actor, "see trained versions")
        adapters = AdapterStore(self.settings.data_dir)
        active = adapters.active()
        return (BASE if active is None else active.name), adapters.adapters()

    def rollback_generator(self, actor: Actor, version: str | None = None) -> str:
        """Make `version` (or, without one, the adapter adopted before the active one, else
        the base model) the active generator adapter, served from the next start; returns its
        name. Only the pointer moves: nothing is re-embedded. Raises Forbidden, VersionError
        or TrainingBusy."""
        require_admin(actor, "roll back the generator")
        adapters = AdapterStore(self.settings.data_dir)
        # The store's lock: a training adopting its adapter meanwhile would move it too.
        with self.store.lock():
            with self._lock:
                if self._run is not None and self._run.thread.is_alive():
                    raise TrainingBusy("a training is running; wait for it, or cancel it")
            previous = adapters.active_name()
            target = adapters.rollback_target(version or None)
            adapters.set_active(target)
        self._audit.record(
            actor.name, TRAIN_ROLLBACK, target, f"generator adapter, from {previous}"
        )
        return target


def generator_target(settings: Settings) -> str:
    """What a generator training's audit entries name: the model the adapter is trained on."""
    from chatbot.training.generator import base_model_spec

    return f"generator: {base_model_spec(settings)}"


def _generator_details(cfg: TrainingSettings) -> str:
    steps = f", at most {cfg.generator_max_steps} steps" if cfg.generator_max_steps else ""
    return (
        f"{cfg.generator_epochs} epoch(s){steps}, batch {cfg.generator_batch_size}, learning "
        f"rate {cfg.generator_learning_rate:g}, rank {cfg.generator_lora_rank}, max length "
        f"{cfg.generator_max_length}"
    )


def _why(exc: BaseException) -> str:
    from chatbot.training.finetune import TrainingCancelled

    if isinstance(exc, TrainingCancelled):
        return "cancelled; nothing was kept"
    return str(exc) or type(exc).__name__
