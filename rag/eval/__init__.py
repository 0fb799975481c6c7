"""Retrieval evaluation on BEIR-format datasets, through the real ingestion pipeline and stores."""
