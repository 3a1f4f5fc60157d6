"""The Amazon Bedrock provider for clawdesk."""
