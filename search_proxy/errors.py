"""Errors raised by the search proxy.

    SearchProxyError
    ├── ConfigError                 settings that cannot work (e.g. plain http to a keyed provider)
    ├── Unauthorized                missing or wrong shared-secret header            (HTTP 401)
    ├── InvalidQuery                a request the service will not run                (HTTP 422)
    ├── UnsupportedMediaType        a POST body that is not JSON                      (HTTP 415)
    ├── NoProviderConfigured        the fallback chain is empty                       (HTTP 503)
    ├── AllProvidersFailed          every provider in the chain errored               (HTTP 502)
    │   └── DeadlineExceeded        the request's deadline ran out before any answer  (HTTP 504)
    ├── ProviderError               one provider failed; the chain tries the next
    │   ├── ProviderTimeout         connect/read timeout or the provider's time budget ran out
    │   ├── ProviderRateLimited     429 upstream or the local rate limit would wait too long
    │   ├── ProviderAuthError       key missing, invalid, or out of credit (never retried)
    │   ├── ProviderUnavailable     connection refused, TLS failure, 5xx
    │   └── ProviderBadResponse     the body is not the provider's documented shape
    └── FetchError                  one result page could not be used (reported as a warning)
        ├── BlockedURL              the SSRF guard refused the URL or an address it resolves to
        ├── PageTooLarge            the byte limit was reached before anything usable arrived
        ├── UnsupportedContent      a content type the extractor does not handle
        └── DecodeError             a body that is not valid data of its Content-Encoding

Provider and fetch errors never reach callers as HTTP errors on their own: the chain and the
fetcher turn them into ``warnings`` and only the top-level errors map to statuses
(``http_errors.py``).
"""

from __future__ import annotations


class SearchProxyError(Exception):
    """Base class of every search-proxy error; ``code`` is stable for clients and logs."""

    code = "search_proxy_error"
    status_code = 500


class ConfigError(SearchProxyError):
    code = "config_error"


class Unauthorized(SearchProxyError):
    code = "unauthorized"
    status_code = 401


class InvalidQuery(SearchProxyError):
    code = "invalid_request"
    status_code = 422


class UnsupportedMediaType(SearchProxyError):
    code = "unsupported_media_type"
    status_code = 415


class NoProviderConfigured(SearchProxyError):
    code = "no_provider_configured"
    status_code = 503


class AllProvidersFailed(SearchProxyError):
    code = "all_providers_failed"
    status_code = 502

    def __init__(self, message: str, warnings: list[str]) -> None:
        super().__init__(message)
        self.warnings = warnings


class DeadlineExceeded(AllProvidersFailed):
    """No provider answered before the request's deadline; ``warnings`` names those not tried."""

    code = "deadline_exceeded"
    status_code = 504


class ProviderError(SearchProxyError):
    """One provider failed; ``provider`` names it so warnings can say which."""

    code = "provider_error"
    status_code = 502
    retryable = False

    def __init__(self, provider: str, message: str, *, status: int | None = None) -> None:
        super().__init__(f"{provider}: {message}")
        self.provider = provider
        self.status = status


class ProviderTimeout(ProviderError):
    code = "provider_timeout"


class ProviderRateLimited(ProviderError):
    code = "provider_rate_limited"
    retryable = True

    def __init__(
        self, provider: str, message: str, *, status: int | None = 429, retry_after: float | None = None
    ) -> None:
        super().__init__(provider, message, status=status)
        self.retry_after = retry_after


class ProviderAuthError(ProviderError):
    code = "provider_auth_error"


class ProviderUnavailable(ProviderError):
    code = "provider_unavailable"

    def __init__(self, provider: str, message: str, *, status: int | None = None, retryable: bool = True) -> None:
        super().__init__(provider, message, status=status)
        self.retryable = retryable


class ProviderBadResponse(ProviderError):
    code = "provider_bad_response"


class FetchError(SearchProxyError):
    """A result page could not be used; the message goes into the response's warnings."""

    code = "fetch_error"


class BlockedURL(FetchError):
    code = "blocked_url"

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"blocked {url}: {reason}")
        self.url = url
        self.reason = reason


class PageTooLarge(FetchError):
    code = "page_too_large"


class UnsupportedContent(FetchError):
    code = "unsupported_content"


class DecodeError(FetchError):
    """The body is not valid data of its declared Content-Encoding."""

    code = "decode_error"
