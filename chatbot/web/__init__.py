"""The served app: FastAPI with the Gradio pages mounted, health and security middleware."""
