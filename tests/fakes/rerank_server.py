"""A fake rerank endpoint (SiliconFlow/Jina/TEI shape) on 127.0.0.1, over real HTTP.

``POST /v1/rerank`` with ``{model, query, documents, top_n}`` answers
``{"id", "results": [{"index", "relevance_score"}], "meta"}``; the score is the share of query
words found in the document, so tests can predict the order. ``fail_with`` scripts an error
status and ``body`` replaces the answer (for malformed responses).

    with FakeRerankServer() as server:
        reranker = APIReranker(server.base_url, "BAAI/bge-reranker-v2-m3")
"""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def overlap_score(query: str, document: str) -> float:
    words = set(re.findall(r"\w+", query.lower()))
    found = set(re.findall(r"\w+", document.lower()))
    return len(words & found) / len(words) if words else 0.0


class FakeRerankServer:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.fail_with: int | None = None
        self.body: Any = None
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.path != "/v1/rerank":
                    return self._send(404, {"error": {"message": "unknown route"}})
                request = json.loads(raw)
                server.requests.append(request)
                server.headers.append(dict(self.headers))
                if server.fail_with is not None:
                    return self._send(server.fail_with, {"error": {"message": "scripted failure"}})
                if server.body is not None:
                    return self._send(200, server.body)
                scored = [
                    {"index": i, "relevance_score": overlap_score(request["query"], d)}
                    for i, d in enumerate(request["documents"])
                ]
                scored.sort(key=lambda r: -r["relevance_score"])
                top_n = request.get("top_n") or len(scored)
                self._send(200, {"id": "rerank-1", "results": scored[:top_n], "meta": {"tokens": {"input_tokens": 1}}})

            def _send(self, status: int, payload: Any) -> None:
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def __enter__(self) -> FakeRerankServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)
