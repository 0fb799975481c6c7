"""What both services need and neither owns: JSON logging with secret redaction, settings helpers.

Imported by ``rag`` and ``search_proxy``; imports neither, so each service stays deployable alone.
"""
