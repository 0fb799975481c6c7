"""Events of one answer as it is produced; the API turns them into SSE, the CLI into terminal output."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from rag.types import AskResponse, Source


@dataclass(frozen=True, slots=True)
class SourcesEvent:
    sources: list[Source]
    event: Literal["sources"] = "sources"


@dataclass(frozen=True, slots=True)
class ReasoningEvent:
    text: str
    event: Literal["reasoning"] = "reasoning"


@dataclass(frozen=True, slots=True)
class AnswerEvent:
    text: str
    event: Literal["answer"] = "answer"


@dataclass(frozen=True, slots=True)
class WarningEvent:
    message: str
    event: Literal["warning"] = "warning"


@dataclass(frozen=True, slots=True)
class DoneEvent:
    """The whole response, including citations, usage and timings."""

    response: AskResponse
    event: Literal["done"] = "done"


AskEvent = SourcesEvent | ReasoningEvent | AnswerEvent | WarningEvent | DoneEvent
