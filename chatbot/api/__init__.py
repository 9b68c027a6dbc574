"""The HTTP API (`/api/v1`, and the OpenAI-compatible `/v1/chat/completions`): a front end
like the Gradio pages and the CLI, on the same services (chatbot.api.router builds it)."""
