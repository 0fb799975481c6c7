"""Search providers behind one ``SearchProvider`` Protocol, plus the factory that builds the chain."""

from search_proxy.providers.base import SearchProvider

__all__ = ["SearchProvider"]
