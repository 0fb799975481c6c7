"""The ordered fallback chain: try each provider until one returns hits, within the deadline.

A provider that errors, times out or returns nothing hands over to the next; what failed is
reported as warnings so callers can see degraded answers. The request's deadline bounds the
whole chain: a provider still working when it comes is abandoned, and the providers not yet
tried are named in the warnings.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from search_proxy.errors import AllProvidersFailed, DeadlineExceeded, NoProviderConfigured, ProviderError
from search_proxy.models import ProviderHit, ProviderQuery
from search_proxy.providers.base import SearchProvider
from servicekit.formatting import seconds
from servicekit.logs import RedactSecrets, public_text

log = logging.getLogger("search_proxy.chain")

# Provider text (error bodies, engine notes) in a warning is cut to this many characters.
PROVIDER_TEXT_CHARS = 300
# Less time than this left is not worth starting another provider's HTTPS request.
MIN_ATTEMPT_S = 0.05


@dataclass
class ChainResult:
    provider: str | None
    hits: list[ProviderHit]
    warnings: list[str] = field(default_factory=list)


class ProviderChain:
    """Providers in the configured order; ``names`` is what ``/readyz`` reports.

    Whatever a provider wrote (an error body may echo the key it was sent) goes into warnings only
    after ``redact`` scrubbed it, built from the configured secrets, and cut to a readable length.
    """

    def __init__(self, providers: Sequence[SearchProvider], redact: RedactSecrets | None = None) -> None:
        self._providers = list(providers)
        self._redact = redact or RedactSecrets()

    @property
    def names(self) -> list[str]:
        return [provider.name for provider in self._providers]

    async def search(self, query: ProviderQuery) -> ChainResult:
        """First non-empty answer wins; all-empty is a valid empty result.

        Raises ``AllProvidersFailed`` when every provider errored, ``DeadlineExceeded`` when the
        deadline (``query.deadline``) ran out before any provider answered.
        """
        if not self._providers:
            raise NoProviderConfigured("no search provider is configured (see SEARCH_PROXY_PROVIDERS__*)")
        warnings: list[str] = []
        answered = 0
        out_of_time = False
        for index, provider in enumerate(self._providers):
            left = None if query.deadline is None else query.deadline - time.monotonic()
            if left is not None and left < MIN_ATTEMPT_S:
                out_of_time = True
                untried = ", ".join(p.name for p in self._providers[index:])
                warnings.append(f"not tried because the request's deadline was reached: {untried}")
                break
            started = time.monotonic()
            try:
                async with asyncio.timeout(left):
                    answer = await provider.search(query)
            except TimeoutError:
                out_of_time = True
                warnings.append(f"{provider.name} gave no answer in the {seconds(left or 0)} left before the deadline")
                log.warning("provider abandoned at the deadline", extra={"provider": provider.name})
                continue
            except ProviderError as exc:
                warnings.append(f"{provider.name} failed ({exc.code}): {self._public(_reason(exc))}")
                log.warning("provider failed", extra={"provider": provider.name, "error": exc.code})
                continue
            answered += 1
            warnings += [self._public(note) for note in answer.notes]
            took_ms = round((time.monotonic() - started) * 1000)
            if answer.hits:
                log.info(
                    "provider answered", extra={"provider": provider.name, "hits": len(answer.hits), "took_ms": took_ms}
                )
                return ChainResult(provider=provider.name, hits=answer.hits, warnings=warnings)
            warnings.append(f"{provider.name} returned no results")
        if answered == 0 and out_of_time:
            raise DeadlineExceeded("no search provider answered before the request's deadline", warnings)
        if answered == 0:
            raise AllProvidersFailed("every search provider failed", warnings)
        return ChainResult(provider=None, hits=[], warnings=warnings)

    def _public(self, text: str) -> str:
        return public_text(text, self._redact, PROVIDER_TEXT_CHARS)


def _reason(exc: ProviderError) -> str:
    text = str(exc)
    prefix = f"{exc.provider}: "
    return text[len(prefix) :] if text.startswith(prefix) else text
