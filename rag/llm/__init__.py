"""The chat model client: OpenAI-compatible endpoints serving DeepSeek-R1."""
