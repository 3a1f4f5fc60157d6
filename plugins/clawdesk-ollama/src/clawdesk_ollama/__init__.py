"""The Ollama provider for clawdesk."""
