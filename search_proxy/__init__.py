"""Search proxy: one HTTP service in front of web-search providers and the pages they point to.

It runs as its own process (``search-proxy serve``) so that outbound traffic, API keys and the
SSRF guard live at the network edge; the answering side talks to it over HTTP only.
"""

__all__: list[str] = []
