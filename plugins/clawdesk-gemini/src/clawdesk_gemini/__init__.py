"""The Google Gemini API provider for clawdesk."""
