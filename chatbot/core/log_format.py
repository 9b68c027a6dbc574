"""The server's log format, with database error details left out.

SQLAlchemy hides a statement's parameters (`hide_parameters` on the engine), but a database
server's own error text can quote the row it refused: PostgreSQL's "DETAIL: Failing row
contains (..., jane.doe@example.com, ...)". Such detail lines are replaced in everything the
log writes, messages and tracebacks alike, so no customer text reaches the log that way.
"""

from __future__ import annotations

import logging
import re

FORMAT = "%(levelname)s %(name)s: %(message)s"
_DETAIL = re.compile(r"^(\s*DETAIL:).*$", re.MULTILINE)
HIDDEN = r"\1 [hidden: it may quote customer data]"


def redact(text: str) -> str:
    return _DETAIL.sub(HIDDEN, text)


class RedactingFormatter(logging.Formatter):
    """A Formatter that drops database error details (see the module docstring)."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def configure_logging(verbose: bool = False) -> None:
    """Log to stderr in FORMAT, through RedactingFormatter: warnings and errors only, unless
    `verbose` (INFO too: migrations, model loading, calibration, ...).

    The level is set on the handler as well as on the root logger: some libraries set their
    own logger's level (bm25s sets DEBUG), which the root level alone does not hold back."""
    level = logging.INFO if verbose else logging.WARNING
    root = logging.getLogger()
    if not root.handlers:  # as logging.basicConfig: a host's own set-up is left alone
        stderr = logging.StreamHandler()
        stderr.setLevel(level)
        root.addHandler(stderr)
        root.setLevel(level)
    for handler in root.handlers:
        handler.setFormatter(RedactingFormatter(FORMAT))
