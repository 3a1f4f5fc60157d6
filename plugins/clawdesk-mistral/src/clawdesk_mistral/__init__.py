"""The Mistral provider for clawdesk."""
