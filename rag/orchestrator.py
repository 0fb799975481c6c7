"""One question to one answer: retrieve, search the web, build the prompt, stream R1, cite."""

from __future__ import annotations

import asyncio
import logging
import os
import time
import weakref
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from functools import cached_property
from typing import Any, Protocol

import anyio

from rag import metrics
from rag.citations import CitationRewriter, map_citations
from rag.errors import BadRequest, WebSearchError
from rag.events import AnswerEvent, AskEvent, DoneEvent, ReasoningEvent, SourcesEvent, WarningEvent
from rag.llm.client import ChatModel
from rag.llm.events import AnswerDelta, ChatMessage, ReasoningDelta, StreamStart, Usage
from rag.llm.reasoning import strip_reasoning
from rag.prompting import Language, PromptSource, detect_language, pack_sources, render_prompt
from rag.retrieval.base import Retrieved, Retriever
from rag.retrieval.query_batcher import QueryBatcher
from rag.settings import RagSettings
from rag.sources import kb_prompt_source, kb_source, web_prompt_source, web_source
from rag.types import AskRequest, AskResponse, HistoryTurn, Source, Timings, UsageInfo

log = logging.getLogger(__name__)

NO_MODEL_NOTICE = {
    "en": "No language model is configured: these are the most relevant passages, ranked. Set RAG_LLM__PROFILES "
    "to get written answers.",
    "zh": "未配置语言模型：以下是按相关度排序的资料段落。设置 RAG_LLM__PROFILES 后即可生成回答。",
}
NO_SOURCES_ANSWER = {
    "en": "No passage in the knowledge base matches this question, so it cannot be answered from the documents.",
    "zh": "知识库中没有与该问题相关的段落，无法根据文档回答。",
}


class WebSearcher(Protocol):
    """What the orchestrator needs from the search-proxy client."""

    async def search(self, query: str, *, k: int, lang: str | None, fetch: int, deadline_s: float) -> Any: ...


class Orchestrator:
    """Answers questions over a knowledge base, optionally with web results.

    ``chat`` is ``None`` when no model is configured: answers are then retrieval-only and say so.
    ``web`` is ``None`` when no search proxy is configured.
    """

    def __init__(
        self, settings: RagSettings, retriever: Retriever, chat: ChatModel | None, web: WebSearcher | None = None
    ) -> None:
        self.settings = settings
        self.retriever = retriever
        self.chat = chat
        self.web = web
        self._search_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, anyio.CapacityLimiter] = (
            weakref.WeakKeyDictionary()
        )

    def search_slots(self) -> anyio.CapacityLimiter:
        """Threads that may search at once, per event loop.

        A search holds the GIL for most of its few milliseconds; forty of them at once (anyio's
        default pool) gained no throughput on two cores and starved the event loop of the GIL,
        so streams and health checks waited behind them. Questions beyond the limit queue.
        """
        loop = asyncio.get_running_loop()
        slots = self._search_slots.get(loop)
        if slots is None:
            threads = self.settings.retrieval.threads or 2 * (os.cpu_count() or 1)
            slots = self._search_slots[loop] = anyio.CapacityLimiter(threads)
        return slots

    @cached_property
    def questions(self) -> QueryBatcher:
        """Questions asked at the same moment are embedded in one forward pass (built on first use)."""
        retrieval = self.settings.retrieval
        return QueryBatcher(
            self.retriever.embedder.embed_queries,
            window_s=retrieval.query_batch_window_ms / 1000,
            max_batch=retrieval.query_batch_max,
        )

    # -- validation -------------------------------------------------------------------------
    def validate(self, request: AskRequest) -> int:
        """Check the request against the limits; return the ``top_k`` to use."""
        api = self.settings.api
        question = request.question.strip()
        if not question:
            raise BadRequest("question must not be empty")
        if len(question) > api.max_question_chars:
            raise BadRequest(f"question is {len(question)} characters; the limit is {api.max_question_chars}")
        top_k = request.top_k if request.top_k is not None else self.settings.retrieval.top_k
        if not 1 <= top_k <= self.settings.retrieval.max_top_k:
            raise BadRequest(f"top_k must be between 1 and {self.settings.retrieval.max_top_k}, got {top_k}")
        return top_k

    def fit_history(self, history: list[HistoryTurn]) -> tuple[list[ChatMessage], str | None]:
        """The turns the model sees, without reasoning; the oldest are dropped to fit the limits
        (chat clients resend the whole conversation, which should not start failing at turn 21)."""
        api = self.settings.api
        turns = [
            ChatMessage(role=t.role, content=strip_reasoning(t.content) if t.role == "assistant" else t.content)
            for t in history
        ]
        turns = [t for t in turns if t.content.strip()]
        kept = turns[-api.max_history_turns :] if api.max_history_turns else []
        while kept and sum(len(t.content) for t in kept) > api.max_history_chars:
            kept.pop(0)
        dropped = len(turns) - len(kept)
        if not dropped:
            return kept, None
        return kept, (
            f"the {dropped} oldest of {len(turns)} history turns were left out to fit the limits "
            f"({api.max_history_turns} turns, {api.max_history_chars} characters)"
        )

    # -- the answer -------------------------------------------------------------------------
    async def ask(self, request: AskRequest) -> AskResponse:
        """The whole answer at once (built on ``stream``)."""
        async with aclosing(self.stream(request)) as events:
            async for event in events:
                if isinstance(event, DoneEvent):
                    return event.response
        raise RuntimeError("answer stream ended without a result")  # pragma: no cover - stream always ends in Done

    async def stream(self, request: AskRequest) -> AsyncGenerator[AskEvent, None]:
        """Sources first, then reasoning and answer deltas, then ``DoneEvent``.

        Raises ``RagError`` subclasses (bad request, unknown knowledge base, LLM failures);
        closing the iterator closes the upstream model request.
        """
        started = time.perf_counter()
        top_k = self.validate(request)
        question = request.question.strip()
        lang = detect_language(question)
        timings = Timings()
        warnings: list[str] = []
        history, trimmed = self.fit_history(request.history)
        if trimmed:
            warnings.append(trimmed)

        retrieved, web_results = await self._gather_evidence(request, question, lang, top_k, timings, warnings)
        sources, prompt_sources = self._number_sources(retrieved, web_results, lang, warnings)
        yield SourcesEvent(sources=sources)
        for message in warnings:
            yield WarningEvent(message)
        reported = len(warnings)

        response = AskResponse(answer="", sources=sources, citations=[], warnings=warnings, timings=timings)
        if self.chat is None:
            response.mode = "retrieval_only"
            response.notice = NO_MODEL_NOTICE[lang]
        elif not sources:
            response.answer = NO_SOURCES_ANSWER[lang]
            yield AnswerEvent(response.answer)
        else:
            written: list[str] = []  # the answer as the model wrote it, for the citation map
            async for event in self._generate(request, history, question, lang, prompt_sources, response, written):
                yield event
            citations, citation_warnings = map_citations("".join(written), sources)
            response.citations = citations
            warnings.extend(citation_warnings)
        for message in warnings[reported:]:
            yield WarningEvent(message)
        timings.total_ms = _ms_since(started)
        response.warnings = warnings  # the model copied the list at construction
        yield DoneEvent(response=response)

    async def _gather_evidence(
        self, request: AskRequest, question: str, lang: Language, top_k: int, timings: Timings, warnings: list[str]
    ) -> tuple[Retrieved, list[Any]]:
        async def retrieve() -> Retrieved:
            began = time.perf_counter()
            try:
                vector = await self.questions.embed(question) if self.retriever.embeds_questions else None

                def checked_retrieve() -> Retrieved:
                    # Checked in the search's own thread: a hop of its own before the embedding
                    # cost more on every question than an embedding costs an unknown knowledge base.
                    self.retriever.check_kb(request.kb)
                    return self.retriever.retrieve(question, request.kb, top_k, vector=vector)

                return await anyio.to_thread.run_sync(checked_retrieve, limiter=self.search_slots())
            finally:
                timings.retrieval_ms = _ms_since(began)
                metrics.observe_stage("retrieval", timings.retrieval_ms / 1000)

        if request.web is True:
            kb_task = asyncio.ensure_future(retrieve())
            try:
                web_results = await self._search_web(question, lang, timings, warnings)
            except BaseException:
                kb_task.cancel()
                raise
            return await kb_task, web_results
        retrieved = await retrieve()
        if request.web == "auto":
            best = retrieved.best_score
            if best is None or best < self.settings.web.auto_min_score:
                return retrieved, await self._search_web(question, lang, timings, warnings)
        return retrieved, []

    async def _search_web(self, question: str, lang: Language, timings: Timings, warnings: list[str]) -> list[Any]:
        """Web results, or none with a warning: a failing proxy never fails the answer."""
        if self.web is None:
            warnings.append("web search was requested but no search proxy is configured (RAG_WEB__PROXY_URL)")
            return []
        web = self.settings.web
        began = time.perf_counter()
        try:
            response = await self.web.search(
                question, k=web.results, lang=lang, fetch=web.fetch_pages, deadline_s=web.deadline_s
            )
        except WebSearchError as exc:
            warnings.append(f"web search failed, answering from the knowledge base only: {exc}")
            return []
        finally:
            timings.web_ms = _ms_since(began)
            metrics.observe_stage("web_search", timings.web_ms / 1000)
        warnings.extend(f"web search: {w}" for w in getattr(response, "warnings", []) or [])
        results = list(getattr(response, "results", []) or [])
        if not results:
            warnings.append("web search returned no results")
        return results

    def _number_sources(
        self, retrieved: Retrieved, web_results: list[Any], lang: Language, warnings: list[str]
    ) -> tuple[list[Source], list[PromptSource]]:
        """Pack knowledge-base and web sources into one numbered citation space."""
        kb_candidates = [kb_prompt_source(i, hit, lang) for i, hit in enumerate(retrieved.hits, start=1)]
        web_candidates = [web_prompt_source(i, result) for i, result in enumerate(web_results, start=1)]
        web_candidates = [c for c in web_candidates if c.text]
        prompt = self.settings.prompt
        packed, pack_warnings = pack_sources(kb_candidates, web_candidates, prompt.context_tokens, prompt.web_share)
        warnings.extend(pack_warnings)
        hits = {hit.chunk_id: hit for hit in retrieved.hits}
        results = {str(result.url): result for result in web_results}
        sources = [
            kb_source(p.id, hits[p.key]) if p.origin == "kb" else web_source(p.id, results[p.key], p.text)
            for p in packed
        ]
        return sources, packed

    async def _generate(
        self,
        request: AskRequest,
        history: list[ChatMessage],
        question: str,
        lang: Language,
        prompt_sources: list[PromptSource],
        response: AskResponse,
        written: list[str],
    ) -> AsyncIterator[AskEvent]:
        """Stream the model's reasoning and answer; the answer's citations in their canonical form,
        those of no source removed (``written`` receives the answer as the model wrote it)."""
        assert self.chat is not None
        citations = CitationRewriter({s.id for s in response.sources})
        messages = list(history)
        prompt = render_prompt(question, prompt_sources, lang, self.settings.prompt.prompts_dir)
        messages.append(ChatMessage(role="user", content=prompt))
        answer: list[str] = []
        reasoning: list[str] = []
        began = time.perf_counter()
        stream = metrics.instrument_chat(
            self.chat.stream(messages, max_tokens=self.settings.prompt.max_answer_tokens), self.chat
        )
        async with aclosing(stream):  # type: ignore[type-var]
            async for event in stream:
                if isinstance(event, StreamStart):
                    response.model = f"{event.profile}:{event.model}"
                elif isinstance(event, ReasoningDelta | AnswerDelta):
                    if response.timings.llm_ttft_ms is None:
                        response.timings.llm_ttft_ms = _ms_since(began)
                    if isinstance(event, ReasoningDelta):
                        reasoning.append(event.text)
                        if request.include_reasoning:
                            yield ReasoningEvent(event.text)
                    else:
                        written.append(event.text)
                        text = citations.feed(event.text)
                        answer.append(text)
                        if text:
                            yield AnswerEvent(text)
                elif isinstance(event, Usage):
                    response.usage = UsageInfo(
                        prompt_tokens=event.prompt_tokens,
                        completion_tokens=event.completion_tokens,
                        reasoning_tokens=event.reasoning_tokens,
                    )
        tail = citations.flush()
        if tail:
            answer.append(tail)
            yield AnswerEvent(tail)
        response.answer = "".join(answer).strip()
        response.reasoning = "".join(reasoning).strip() if request.include_reasoning else None


def _ms_since(began: float) -> float:
    return round((time.perf_counter() - began) * 1000, 1)
