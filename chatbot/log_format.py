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


def configure_logging(level: int = logging.INFO) -> None:
    """Log to stderr in FORMAT, through RedactingFormatter."""
    logging.basicConfig(level=level, format=FORMAT)
    for handler in logging.getLogger().handlers:
        handler.setFormatter(RedactingFormatter(FORMAT))
