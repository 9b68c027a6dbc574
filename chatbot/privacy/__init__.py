"""Personal data: masking in stored text, and retention."""
