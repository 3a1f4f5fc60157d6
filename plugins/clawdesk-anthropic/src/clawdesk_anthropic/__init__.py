"""The Anthropic (Claude) provider for clawdesk."""
