"""Webhooks: events written as deliveries (outbox.py), sent signed and retried (deliver.py,
signing.py), and the registry staff manage (hooks.py)."""
