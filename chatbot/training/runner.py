"""The console's retrieval training: one `TrainingJob` at a time in the server's process.

The runner lives in the server (`Services.training`), not in a browser session, so a reload
of the console finds the running job, its progress and the last result. The job runs in a
background thread on a knowledge base of its own over the same database and index folder
(`_job_kb`): an adoption rebuilds the stored embeddings with the trained model there, while
the knowledge base that answers customers keeps its model, index and thresholds together
until the server restarts (see `RESTART`). One training or rollback at a time: the version
store's lock (chatbot.training.versions) also keeps out `chatbot train` in another process.

Admins only; every start, cancel, end and rollback is written to the audit log.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session, sessionmaker

from chatbot.settings import Settings, TrainingSettings
from chatbot.staff.actor import Actor, require_admin
from chatbot.staff.audit import AuditLog
from chatbot.training.versions import BASE, TrainingBusy, Version, VersionStore
from knowledge_base.embedders import Embedder
from knowledge_base.retriever import HybridRetriever
from knowledge_base.service import KnowledgeBase
from knowledge_base.threshold import ThresholdCalibrator

if TYPE_CHECKING:
    from chatbot.training.job import JobProgress, TrainingJob, TrainingResult

log = logging.getLogger(__name__)

TRAIN = "train retrieval"
TRAIN_START, TRAIN_CANCEL, TRAIN_END, TRAIN_ROLLBACK = (
    "training.start",
    "training.cancel",
    "training.end",
    "training.rollback",
)
# What the console and `chatbot train` tell staff after a change of the active version: the
# running server keeps the model it started with (see the module docstring).
RESTART = "Restart `chatbot serve` to use it."


@dataclass(frozen=True)
class TrainingState:
    """The current or last training of this process, as the console shows it."""

    running: bool
    started_by: str
    started_at: datetime
    progress: JobProgress
    cancel_requested: bool
    result: TrainingResult | None = None
    error: str | None = None  # why it ended without a result (cancelled, too little data)
    ended_at: datetime | None = None


@dataclass(frozen=True)
class Rollback:
    active: str  # the version now active, or BASE
    reindexed: int  # passages re-embedded with it


@dataclass
class _Run:
    job: TrainingJob
    actor: Actor
    started_at: datetime
    thread: threading.Thread
    error: BaseException | None = None
    ended_at: datetime | None = None


class TrainingRunner:
    """Starts, cancels and reports the console's training; lists versions; rolls back."""

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
    def start(self, actor: Actor, config: TrainingSettings | None = None) -> TrainingState:
        """Start a training of the current knowledge base in the background. Raises Forbidden,
        TrainingBusy (one is running here or elsewhere) or TrainingDataError (nothing to train
        on); the job's own errors end up in `state().error`."""
        from chatbot.training.data import TrainingDataError
        from chatbot.training.job import TrainingJob

        require_admin(actor, TRAIN)
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
            job = TrainingJob(self._job_kb(), self._sessions, self.settings, cfg, self._thresholds)
            thread = threading.Thread(target=self._train, name="console-training", daemon=True)
            self._run = _Run(job, actor, datetime.now(UTC), thread)
            self._audit.record(
                actor.name,
                TRAIN_START,
                self.settings.models.embedder,
                f"{cfg.epochs} epoch(s), batch {cfg.batch_size}, learning rate "
                f"{cfg.learning_rate:g}, at most {cfg.max_pairs} pairs",
            )
            thread.start()
        state = self.state()
        assert state is not None
        return state

    def cancel(self, actor: Actor) -> bool:
        """Ask the running training to stop after its current step; False when none runs."""
        require_admin(actor, TRAIN)
        with self._lock:
            run = self._run
            if run is None or not run.thread.is_alive() or run.job.cancelled:
                return False
            run.job.cancel()
            self._audit.record(actor.name, TRAIN_CANCEL, self.settings.models.embedder)
            return True

    def state(self) -> TrainingState | None:
        """The running training, else the last one of this process (None: none yet)."""
        run = self._run
        if run is None:
            return None
        job = run.job
        running = run.thread.is_alive()
        error = None if running or run.error is None else _why(run.error)
        return TrainingState(
            running,
            run.actor.name,
            run.started_at,
            job.progress,
            job.cancelled,
            None if running else job.result,
            error,
            run.ended_at,
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
            result = run.job.run()
        except BaseException as exc:  # shown in the console; the thread must not die loudly
            run.error = exc
            outcome = f"ended without a result: {_why(exc)}"
        else:
            state = "adopted" if result.adopted else "not adopted"
            outcome = f"{result.version.name} {state}: {result.reason}"
        run.ended_at = datetime.now(UTC)
        try:
            self._audit.record(run.actor.name, TRAIN_END, self.settings.models.embedder, outcome)
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


def _why(exc: BaseException) -> str:
    from chatbot.training.finetune import TrainingCancelled

    if isinstance(exc, TrainingCancelled):
        return "cancelled; nothing was kept"
    return str(exc) or type(exc).__name__
