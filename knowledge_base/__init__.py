"""Knowledge base library: documents -> passages -> embeddings -> index -> retrieval.

Knows nothing about dialogue or the UI; the `chatbot` package builds on it.
"""
