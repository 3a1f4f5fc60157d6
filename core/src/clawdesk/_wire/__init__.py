"""The wire toolkit's parts; the public names are re-exported by clawdesk.provider."""
