"""The one place that picks implementations and wires the services together."""

from __future__ import annotations

import atexit
import logging
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from chatbot.answers.contacts import ContactPolicy
from chatbot.core.wording import plural
from chatbot.dialogue.conversation_tokens import KEY_FILE, ConversationTokens, load_or_create_key
from chatbot.dialogue.manager import DialogueManager
from chatbot.generation.base import Generator
from chatbot.generation.factory import build_generator
from chatbot.notify.deliver import DeliveryWorker
from chatbot.notify.outbox import WebhookOutbox
from chatbot.privacy.masking import mask_pii
from chatbot.privacy.retention import apply_retention
from chatbot.settings import Settings
from chatbot.staff.actions import AccountActions, KeyActions, StaffActions
from chatbot.staff.api_keys import ApiKeys
from chatbot.staff.audit import AuditLog
from chatbot.staff.auth import FIRST_ADMIN, StaffAccounts
from chatbot.staff.conversation_actions import ConversationActions
from chatbot.staff.conversations import ConversationLog
from chatbot.staff.knowledge_actions import KnowledgeActions
from chatbot.staff.upload_registry import UploadRegistry
from chatbot.staff.webhook_actions import WebhookActions
from chatbot.storage import db
from chatbot.storage.scrub import engine_of
from chatbot.training import versions
from chatbot.training.embedders import trained_model
from chatbot.training.runner import TrainingRunner
from knowledge_base.embedders import Embedder, SentenceTransformerEmbedder
from knowledge_base.limits import MB, Limits
from knowledge_base.loaders import LOADERS
from knowledge_base.multilingual import LanguageRoutedEmbedder, multilingual_embedder
from knowledge_base.records import IngestResult
from knowledge_base.retriever import HybridRetriever, RetrievalConfig
from knowledge_base.service import KnowledgeBase
from knowledge_base.threshold import ThresholdCalibrator

log = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    kb: KnowledgeBase
    dialogue: DialogueManager
    conversations: ConversationLog
    accounts: StaffAccounts
    audit: AuditLog
    tokens: ConversationTokens
    staff: StaffActions  # every staff action of the console and the command line
    training: TrainingRunner  # the console's retrieval training (one at a time)
    uploads: UploadRegistry = field(default_factory=UploadRegistry)
    # Sends webhook deliveries in the background; started by `start_server` only.
    deliveries: DeliveryWorker | None = None


def configure_runtime(settings: Settings) -> None:
    """Offline by default: packaged models never need the hub, and a firewall must not stall us."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    import transformers  # its import is light: it loads torch only with a model

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    logging.getLogger("faiss").setLevel(logging.WARNING)
    threads = settings.models.torch_threads
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)
    else:
        # torch takes its thread count from OMP_NUM_THREADS when it first runs, so commands
        # that never load a torch model (`kb list`, the llama.cpp generator) never import it.
        os.environ["OMP_NUM_THREADS"] = str(threads)


def ingest_limits(settings: Settings) -> Limits:
    i = settings.ingest
    return Limits(
        max_file_bytes=int(i.max_file_mb * MB),
        max_pages=i.max_pages,
        max_text_chars=i.max_text_chars,
        max_rows=i.max_rows,
        max_passages=i.max_passages,
    )


def build_embedder(settings: Settings) -> Embedder:
    """The English embedder (the active trained version of it, if any: `chatbot train`),
    joined with the multilingual one unless that is switched off."""
    return _embedder(settings, versions.active_for(settings.data_dir, settings.models.embedder))


def _embedder(settings: Settings, trained: versions.Version | None) -> Embedder:
    m = settings.models
    english: Embedder = (
        SentenceTransformerEmbedder(m.embedder, settings.models_dir)
        if trained is None
        else trained_model(trained.model_dir, settings.models_dir)
    )
    if not m.multilingual_embedder:
        return english
    return LanguageRoutedEmbedder(english, multilingual_embedder(m.multilingual_embedder))


def open_database(settings: Settings, *, migrate: bool = True) -> sessionmaker[Session]:
    """The database the settings name, migrated to the latest version (its folder made)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if migrate:
        db.upgrade(settings.db_url)
    engine = db.make_engine(settings.db_url, settings.database_busy_timeout_seconds)
    return db.make_sessions(engine)


def account_actions(settings: Settings) -> AccountActions:
    """Staff user management on the database alone: no models are loaded."""
    return AccountActions(StaffAccounts(open_database(settings)))


def key_actions(settings: Settings) -> KeyActions:
    """API key management on the database alone: no models are loaded."""
    return KeyActions(ApiKeys(open_database(settings)))


def webhook_actions(settings: Settings) -> WebhookActions:
    """Webhook management on the database alone: no models are loaded."""
    return WebhookActions(open_database(settings))


def staff_actions(
    settings: Settings, sessions: sessionmaker[Session], kb: KnowledgeBase, accounts: StaffAccounts
) -> StaffActions:
    audit = AuditLog(sessions)
    return StaffActions(
        knowledge=KnowledgeActions(kb, audit),
        conversations=ConversationActions(sessions, audit, settings.privacy),
        accounts=AccountActions(accounts),
        audit=audit,
        keys=KeyActions(ApiKeys(sessions)),
        webhooks=WebhookActions(sessions),
    )


def build(
    settings: Settings,
    *,
    embedder: Embedder | None = None,
    generator: Generator | None = None,
    migrate: bool = True,
) -> Services:
    """Build every service from settings. Tests pass doubles for the embedder and generator."""
    sessions = open_database(settings, migrate=migrate)
    engine = engine_of(sessions)
    if embedder is None or generator is None:
        configure_runtime(settings)
    # A trained embedder comes with the decline thresholds chosen for it.
    preset = {}
    if embedder is None:
        trained = versions.active_for(settings.data_dir, settings.models.embedder)
        embedder = _embedder(settings, trained)
        preset = trained.thresholds() if trained is not None else {}
    if generator is None:
        generator = build_generator(settings)
    r = settings.retrieval
    retriever = HybridRetriever.for_embedder(
        embedder,
        RetrievalConfig(knn=r.knn, lexical_weight=r.lexical_weight, use_answers=r.use_answers),
    )
    kb = KnowledgeBase(
        sessions,
        embedder,
        settings.index_dir,
        batch_size=settings.models.embed_batch_size,
        limits=ingest_limits(settings),
        retriever=retriever,
    )
    events = WebhookOutbox(sessions)  # events become webhook deliveries (chatbot.notify)
    dialogue = DialogueManager(
        sessions,
        kb,
        generator,
        thresholds=ThresholdCalibrator(kb, sessions, preset),
        top_k=r.top_k,
        min_score=r.min_score,
        handoff_after_declines=r.handoff_after_declines,
        max_new_tokens=settings.models.max_new_tokens,
        approved_answers=r.approved_answers,
        redact=mask_pii if settings.privacy.mask_pii else None,
        max_message_chars=settings.chat.max_message_chars,
        turn_timeout_s=settings.chat.turn_timeout_seconds,
        contacts=ContactPolicy.build(
            settings.answers.allowed_link_domains, settings.answers.allowed_contacts
        ),
        events=events,
        translate_answers=settings.answers.translate,
    )
    accounts = StaffAccounts(sessions)
    staff = staff_actions(settings, sessions, kb, accounts)
    return Services(
        settings,
        engine,
        sessions,
        kb,
        dialogue,
        ConversationLog(sessions, events),
        accounts=accounts,
        audit=staff.audit,
        tokens=ConversationTokens(secret_key(settings)),
        staff=staff,
        training=TrainingRunner(settings, sessions, kb, dialogue.thresholds, staff.audit),
    )


def start_server(settings: Settings, say: Callable[[str], None]) -> Services:
    """Everything `chatbot serve` does before it listens, telling staff about it (`say`): the
    services, the sample knowledge base on a first start, the retention purge, the first
    admin with a password shown once, and the models loaded and run once, so the first
    customer does not wait for them."""
    services = build(settings)
    load_sample_if_empty(services)
    purged = apply_retention(services.sessions, services.settings.privacy.retention_days)
    if purged:
        say(f"Retention: deleted {plural(purged, 'conversation')} older than the retention period.")
    services.kb.refresh()
    password = services.staff.accounts.create_first_admin()
    if password is not None:
        say(
            f"Created staff user '{FIRST_ADMIN}' with password {password}; change it with "
            f"`chatbot users passwd {FIRST_ADMIN}`"
        )
    say("Loading models (the first start also unpacks and verifies them)...")
    started = time.perf_counter()
    services.dialogue.warm_up()
    say(f"Models ready in {time.perf_counter() - started:.1f} s.")
    services.deliveries = DeliveryWorker(services.sessions)
    services.deliveries.start()
    # A daemon thread: it also ends with the process; stopping lets a send in flight finish.
    atexit.register(services.deliveries.stop)
    return services


def secret_key(settings: Settings) -> bytes:
    """The key that signs conversation tokens: the setting, else a key file in the data dir."""
    configured = settings.server.secret_key
    if configured is not None:
        return configured.get_secret_value().encode()
    return load_or_create_key(settings.data_dir / KEY_FILE)


SAMPLE_DATA = Path(__file__).parent / "sample_data"
# English at the top of sample_data (other code reads those paths), each other language in a
# subfolder named by its code.
SAMPLE_FOLDERS = {
    "en": (SAMPLE_DATA,),
    "zh": (SAMPLE_DATA / "zh",),
    "both": (SAMPLE_DATA, SAMPLE_DATA / "zh"),
}


def sample_files(language: str) -> list[Path]:
    """The bundled sample documents of `language` (a `Settings.sample_kb` value). Only each
    folder's own files: the English folder holds the other languages' folders."""
    return [
        path
        for folder in SAMPLE_FOLDERS[language]
        for path in sorted(folder.iterdir())
        if path.is_file() and path.suffix.lower() in LOADERS
    ]


def load_sample_if_empty(services: Services) -> list[IngestResult]:
    """First start: give the app something to answer from."""
    if not services.settings.load_sample_kb or not services.kb.is_empty():
        return []
    results = services.kb.ingest_paths(sample_files(services.settings.sample_kb))
    for r in results:
        log.info(
            "sample knowledge base: %s %s (%s)", r.name, r.status, plural(r.passages, "passage")
        )
    return results
