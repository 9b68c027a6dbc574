"""The `chatbot` command line: a thin front end over the services."""
