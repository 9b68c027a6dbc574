"""Offline evaluation of retrieval and the answer/decline decision on labelled queries."""

from __future__ import annotations

import csv
import io
from dataclasses import asdict, dataclass
from pathlib import Path

from chatbot.dialogue import decision as dec
from chatbot.dialogue.manager import DialogueManager
from knowledge_base.language import detect

RANK_DEPTH = 10
OUT_OF_SCOPE = "__out_of_scope__"


class QueriesFileError(ValueError):
    """The labelled queries file is unusable; the message says why."""


@dataclass(frozen=True)
class QueryResult:
    query: str
    expected_id: str
    predicted_id: str  # empty when the bot declines
    score: float
    decision: str
    rank_of_expected: int | None


@dataclass(frozen=True)
class Metrics:
    queries: int
    in_scope: int
    out_of_scope: int
    recall_at_1: float
    recall_at_5: float
    mrr_at_10: float
    in_scope_accuracy: float
    oos_recall: float
    oos_precision: float
    mcc: float


def read_queries(path: Path) -> list[tuple[str, str]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise QueriesFileError(f"{path}: cannot read queries file ({exc})") from None
    reader = csv.DictReader(io.StringIO(text))
    header = [(h or "").strip().lower() for h in reader.fieldnames or []]
    if "query" not in header or "expected_id" not in header:
        raise QueriesFileError(f"{path}: the header must have columns 'query' and 'expected_id'")
    reader.fieldnames = header
    rows = [((r.get("query") or "").strip(), (r.get("expected_id") or "").strip()) for r in reader]
    rows = [r for r in rows if r[0]]
    if not rows:
        raise QueriesFileError(f"{path}: no queries found")
    return rows


def evaluate(dialogue: DialogueManager, rows: list[tuple[str, str]]) -> list[QueryResult]:
    """Retrieve and decide (no generation) for each query, as a fresh conversation would."""
    kb = dialogue.kb
    vectors = kb.embedder.encode([q for q, _ in rows], batch_size=64)
    results = []
    for (query, expected), vector in zip(rows, vectors, strict=True):
        hits = kb.search_vector(vector, k=RANK_DEPTH, text=query)
        threshold = dialogue.threshold(detect(query))
        d = dialogue.decide_for_hits(query, hits[: dialogue.top_k], 0, threshold)
        ids = [h.entry_id for h in hits]
        rank = ids.index(expected) + 1 if expected and expected in ids else None
        answered = d.kind == dec.ANSWER
        results.append(
            QueryResult(
                query=query,
                expected_id=expected,
                predicted_id=ids[0] if answered and ids else "",
                score=hits[0].score if hits else 0.0,
                decision=d.kind,
                rank_of_expected=rank,
            )
        )
    return results


def _safe(n: float, d: float) -> float:
    return n / d if d else 0.0


def metrics(results: list[QueryResult]) -> Metrics:
    from sklearn.metrics import matthews_corrcoef

    ins = [r for r in results if r.expected_id]
    oos = [r for r in results if not r.expected_id]
    declined = [r for r in results if not r.predicted_id]
    ranks = [r.rank_of_expected for r in ins]
    y_true = [r.expected_id or OUT_OF_SCOPE for r in results]
    y_pred = [r.predicted_id or OUT_OF_SCOPE for r in results]
    return Metrics(
        queries=len(results),
        in_scope=len(ins),
        out_of_scope=len(oos),
        recall_at_1=_safe(sum(1 for k in ranks if k == 1), len(ins)),
        recall_at_5=_safe(sum(1 for k in ranks if k and k <= 5), len(ins)),
        mrr_at_10=_safe(sum(1 / k for k in ranks if k), len(ins)),
        in_scope_accuracy=_safe(sum(1 for r in ins if r.predicted_id == r.expected_id), len(ins)),
        oos_recall=_safe(sum(1 for r in oos if not r.predicted_id), len(oos)),
        oos_precision=_safe(sum(1 for r in declined if not r.expected_id), len(declined)),
        mcc=float(matthews_corrcoef(y_true, y_pred)) if len(set(y_true) | set(y_pred)) > 1 else 0.0,
    )


def write_predictions(path: Path, results: list[QueryResult]) -> None:
    fields = ["query", "expected_id", "predicted_id", "score", "decision", "rank_of_expected"]
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        for r in results:
            row = asdict(r)
            row["score"] = f"{r.score:.4f}"
            row["rank_of_expected"] = "" if r.rank_of_expected is None else r.rank_of_expected
            writer.writerow(row)
