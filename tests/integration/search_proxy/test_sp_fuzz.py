"""Schemathesis over the search proxy's own OpenAPI schema, against the proxy under a real uvicorn.

Every operation gets a bounded, derandomized run of schema-valid (positive) and schema-violating
(negative) requests, with the providers pointing at the HTTPS fakes and result pages at the local
site. Each response must pass all of Schemathesis' checks (no 5xx, documented status, body that
matches its schema, invalid data rejected, valid data accepted) and no log record may carry a
traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck
from schemathesis import GenerationMode

from search_proxy.app import create_app
from search_proxy.settings import HttpSettings, Settings
from tests.integration.search_proxy.sp_fakes import Reply, searxng_ok
from tests.integration.search_proxy.sp_servers import LOCAL, MapResolver, ServerThread

pytestmark = [pytest.mark.integration, pytest.mark.slow]

KEY = "fuzzing-shared-secret-0d9e"
AUTH = {"X-Search-Proxy-Key": KEY}
EXAMPLES = 40  # per operation and mode


@pytest.fixture
def proxy_url(providers: Any, providers_url: str, pages: Any, pages_url: str, fast_http: HttpSettings) -> Iterator[str]:
    fast = {"rate_per_s": 1000, "burst": 1000}
    providers.defaults["searxng"] = Reply(body=searxng_ok([("Crane checklist", f"{pages_url}/article", "cranes")]))
    settings = Settings(
        server={"api_key": KEY},
        http=fast_http,
        providers={
            "order": ["searxng", "bocha"],
            "searxng": {"base_url": f"{providers_url}/searxng", **fast},
            "bocha": {"base_url": f"{providers_url}/bocha", "api_key": "sk-bocha-fuzz", **fast},
        },
        fetch={"allow_networks": LOCAL, "page_timeout_s": 2.0, "deadline_s": 3.0},
    )
    # Page hosts never reach the system resolver: only the local site's address is known.
    app = create_app(settings, resolver=MapResolver({"127.0.0.1": ["127.0.0.1"]}))
    with ServerThread(app) as server:
        yield server.base_url


def test_every_operation_holds_under_generated_requests(proxy_url: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    schema = schemathesis.openapi.from_url(f"{proxy_url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    counts: dict[str, int] = {}
    for operation in operations:
        # Negative data needs an input to break: /healthz and /readyz take none.
        modes = [GenerationMode.POSITIVE] + ([GenerationMode.NEGATIVE] if operation.path == "/search" else [])
        for mode in modes:
            label = f"{operation.label} {mode.value}"
            counts[label] = 0
            _fuzz(operation, mode, proxy_url, lambda label=label: counts.__setitem__(label, counts[label] + 1))()
    print(f"fuzzed {len(operations)} operations, {sum(counts.values())} requests: {counts}")
    assert len(operations) == 4 and len(counts) == 6
    assert all(counts.values()), counts
    tracebacks = [record for record in caplog.records if record.exc_info or "Traceback" in record.getMessage()]
    assert tracebacks == []


def _fuzz(operation: Any, mode: GenerationMode, base_url: str, count: Any) -> Any:
    @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
    @hypothesis.settings(
        max_examples=EXAMPLES, derandomize=True, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    def run(case: Any) -> None:
        count()
        case.call_and_validate(base_url=base_url, headers=AUTH)

    return run
