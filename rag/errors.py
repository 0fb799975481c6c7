"""Errors raised while answering.

    RagError
    ├── BadRequest              the question or its options are invalid (HTTP 400/413/422)
    │   └── UnsupportedMediaType    a body sent as something other than JSON (HTTP 415)
    ├── AuthConfigError         auth settings that cannot work (refused at start-up)
    ├── Unauthorized            no key, or one that matches none configured (HTTP 401)
    ├── Forbidden               a valid key without the scope the route needs (HTTP 403)
    ├── TooManyRequests         a per-key limit was hit (HTTP 429 with Retry-After)
    ├── NotFound                a document or job that does not exist, or that the key may not see (404)
    │   ├── UnknownDocument
    │   ├── UnknownJob
    │   ├── UnknownChunk
    │   └── ModelNotFound       an OpenAI ``model`` naming no knowledge base the key may read
    ├── Gone                    it existed but cannot be given any more (HTTP 410)
    │   └── DocumentChanged     a document's original moved or changed since it was indexed
    ├── RetrievalError          the knowledge base could not be searched
    │   ├── UnknownKnowledgeBase
    │   └── RerankError         the reranker could not be loaded or called
    ├── WebSearchError          the search proxy failed (answers go on from the knowledge base)
    └── LLMError                the chat model failed
        ├── LLMRateLimited      429 from every profile
        ├── LLMTimeout          connect/read timeout or a stalled stream
        ├── LLMUnavailable      connection refused, 5xx, no profile reachable
        └── LLMBadResponse      the endpoint answered something that is not a chat completion

Each maps to one HTTP status in ``rag.api.error_handlers``.
"""

from __future__ import annotations


class RagError(Exception):
    """Base class of every answering error; ``code`` is stable for clients."""

    code = "rag_error"


class BadRequest(RagError):
    code = "bad_request"


class UnsupportedMediaType(BadRequest):
    code = "unsupported_media_type"


class NotFound(RagError):
    code = "not_found"


class UnknownDocument(NotFound):
    code = "unknown_document"

    def __init__(self, what: str) -> None:
        super().__init__(f"no document matches {what!r}")


class UnknownJob(NotFound):
    code = "unknown_job"

    def __init__(self, job_id: str) -> None:
        super().__init__(f"no job {job_id!r}")
        self.job_id = job_id


class RetrievalError(RagError):
    code = "retrieval_failed"


class UnknownKnowledgeBase(RetrievalError):
    code = "unknown_knowledge_base"

    def __init__(self, kb: str) -> None:
        super().__init__(f"knowledge base {kb!r} does not exist")
        self.kb = kb


class WebSearchError(RagError):
    code = "web_search_failed"


class LLMError(RagError):
    """``profile``: the profile that failed (or those tried), for logs; ``retry_after``: seconds
    after which trying again may help, when known (sent as ``Retry-After``)."""

    code = "llm_error"
    profile: str | None = None
    retry_after: float | None = None


class LLMRateLimited(LLMError):
    code = "llm_rate_limited"

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class LLMTimeout(LLMError):
    code = "llm_timeout"


class LLMUnavailable(LLMError):
    code = "llm_unavailable"

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class LLMBadResponse(LLMError):
    code = "llm_bad_response"


class AuthConfigError(RagError):
    """Settings that cannot work (``enabled=true`` without keys, an unreadable key file)."""

    code = "auth_config_error"


class Unauthorized(RagError):
    """No key, or a key that matches none configured (HTTP 401 with ``WWW-Authenticate: Bearer``)."""

    code = "invalid_api_key"

    def __init__(self, message: str, code: str = "invalid_api_key") -> None:
        super().__init__(message)
        self.code = code


class Forbidden(RagError):
    """A valid key without the scope the route needs (HTTP 403)."""

    code = "permission_denied"


class TooManyRequests(RagError):
    """A per-key limit was hit (HTTP 429); ``retry_after`` is in seconds."""

    code = "rate_limit_exceeded"

    def __init__(self, message: str, retry_after: float, limit: str) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.limit = limit


class ModelNotFound(NotFound):
    """An OpenAI ``model`` that names no knowledge base this key may read (HTTP 404)."""

    code = "model_not_found"

    def __init__(self, model: str) -> None:
        super().__init__(f"The model {model!r} does not exist or you do not have access to it.")
        self.model = model


class RerankError(RetrievalError):
    """The reranker could not be loaded or called."""

    code = "rerank_failed"


class UnknownChunk(NotFound):
    code = "unknown_chunk"

    def __init__(self, chunk_id: str) -> None:
        super().__init__(f"no chunk {chunk_id!r} in this knowledge base")


class Gone(RagError):
    """What a request names existed but cannot be given any more (HTTP 410)."""

    code = "gone"


class DocumentChanged(Gone):
    code = "document_changed"

    def __init__(self, name: str, why: str) -> None:
        super().__init__(f"the original of {name!r} cannot be shown: {why}")
