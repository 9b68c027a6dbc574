"""One customer turn: retrieval results to a decision, a prompt, a checked answer or a handoff."""
