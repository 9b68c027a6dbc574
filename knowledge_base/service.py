"""KnowledgeBase: the one object the app talks to about its documents, FAQ entries and search.

It joins the parts, each in its own module: files in and out (knowledge_base/ingest.py), single
FAQ entries (knowledge_base/entries.py), the FAISS index kept in step with SQL
(knowledge_base/index_sync.py) and hybrid search over it (knowledge_base/retriever.py).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Concatenate, Generic, ParamSpec, Self, TypeVar, overload

import numpy as np
from sqlalchemy.orm import Session, sessionmaker

from knowledge_base import repository
from knowledge_base.embedders import Embedder
from knowledge_base.entries import EntryEditor
from knowledge_base.index_sync import IndexSync
from knowledge_base.ingest import Ingester
from knowledge_base.limits import Limits
from knowledge_base.records import DocumentInfo, PassageView, SearchHit
from knowledge_base.retriever import HybridRetriever

P = ParamSpec("P")
R = TypeVar("R")


class _Forward(Generic[P, R]):
    """A method of the facade that is `method` of one of its parts (the attribute `part`):
    one definition, with its signature and docstring, for both."""

    def __init__(self, part: str, method: Callable[Concatenate[Any, P], R]) -> None:
        self._part = part
        self._name = method.__name__
        self.__doc__ = method.__doc__

    @overload
    def __get__(self, obj: None, owner: type) -> Self: ...
    @overload
    def __get__(self, obj: object, owner: type | None = None) -> Callable[P, R]: ...
    def __get__(self, obj: object, owner: type | None = None) -> Self | Callable[P, R]:
        if obj is None:
            return self
        method: Callable[P, R] = getattr(getattr(obj, self._part), self._name)
        return method


class KnowledgeBase:
    """Documents and passages in SQL; a derived FAISS index in `index_dir`.

    Every process notices changes made by another (the revision in `kb_state`) and reloads.
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        embedder: Embedder,
        index_dir: Path,
        batch_size: int = 32,
        limits: Limits | None = None,
        retriever: HybridRetriever | None = None,
    ) -> None:
        self._sessions = sessions
        self.sync = IndexSync(sessions, embedder, index_dir, batch_size)
        self._files = Ingester(sessions, self.sync, limits or Limits())
        self._entries = EntryEditor(sessions, self.sync)
        self.retriever = retriever or HybridRetriever.for_embedder(embedder)

    @property
    def embedder(self) -> Embedder:
        """The model of the index's vectors; every write and search uses the current one."""
        return self.sync.embedder

    @embedder.setter
    def embedder(self, embedder: Embedder) -> None:
        self.sync.embedder = embedder

    @property
    def limits(self) -> Limits:
        return self._files.limits

    @property
    def revision(self) -> int:
        """The revision the in-memory index reflects (-1 before the first load)."""
        return self.sync.revision

    # ---- the index (knowledge_base/index_sync.py) ----------------------------------------
    snapshot = _Forward("sync", IndexSync.snapshot)
    refresh = _Forward("sync", IndexSync.refresh)
    reindex = _Forward("sync", IndexSync.reindex)

    # ---- documents (knowledge_base/ingest.py) --------------------------------------------
    ingest_bytes = _Forward("_files", Ingester.ingest_bytes)
    ingest_paths = _Forward("_files", Ingester.ingest_paths)
    delete = _Forward("_files", Ingester.delete)

    def documents(self) -> list[DocumentInfo]:
        with self._sessions() as s:
            return repository.list_documents(s)

    def preview(self, name: str) -> list[PassageView] | None:
        """The passages a document became, in order; None when there is no such document."""
        with self._sessions() as s:
            return repository.document_passages(s, name)

    def is_empty(self) -> bool:
        with self._sessions() as s:
            return repository.count_passages(s) == 0

    # ---- single FAQ entries (knowledge_base/entries.py) ---------------------------------
    faq_entry_ids = _Forward("_entries", EntryEditor.ids)
    get_faq_entry = _Forward("_entries", EntryEditor.get)
    save_faq_entry = _Forward("_entries", EntryEditor.save)
    delete_faq_entry = _Forward("_entries", EntryEditor.delete)

    # ---- search -------------------------------------------------------------------------
    def search(self, query: str, k: int = 5) -> list[SearchHit]:
        """Top `k` FAQ entries / prose passages for a question (hybrid, scored per entry)."""
        vector = self.embedder.encode([query])[0]
        return self.search_vector(vector, k, query)

    def search_vector(self, vector: np.ndarray, k: int = 5, text: str = "") -> list[SearchHit]:
        """Like `search` with the query already embedded; `text` feeds the lexical part."""
        snap = self.snapshot()
        if snap.index is None:
            return []
        return self.retriever.search(snap.index, snap.meta, snap.revision, vector, text, k)
