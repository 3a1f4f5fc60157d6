"""The OpenAI provider for clawdesk: OpenAI and every OpenAI-compatible server."""
