"""Answering: retrieval, prompts, the R1 client, the orchestrator, the API and the CLI."""
