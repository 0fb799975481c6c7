"""Typed events a ``ChatModel`` stream yields."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True, slots=True)
class ReasoningDelta:
    """A piece of the model's chain of thought (never sent back to the model)."""

    text: str
    kind: Literal["reasoning"] = "reasoning"


@dataclass(frozen=True, slots=True)
class AnswerDelta:
    """A piece of the final answer."""

    text: str
    kind: Literal["answer"] = "answer"


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts reported by the endpoint (zeros when it reports none)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    reasoning_tokens: int = 0
    kind: Literal["usage"] = "usage"


@dataclass(frozen=True, slots=True)
class StreamStart:
    """Emitted once a stream is open: which profile and model answered (after any fallback)."""

    profile: str
    model: str
    kind: Literal["start"] = "start"


ChatEvent = ReasoningDelta | AnswerDelta | Usage | StreamStart


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One turn of a conversation as sent to the model (content only, never reasoning)."""

    role: Literal["user", "assistant", "system"]
    content: str
