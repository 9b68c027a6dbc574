"""SQL storage: one declarative Base, engine/session helpers and repositories."""
