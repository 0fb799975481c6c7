"""Split an R1 stream into reasoning and answer, whatever shape the endpoint uses.

DeepSeek-R1 endpoints deliver the chain of thought in one of four shapes:

1. a ``reasoning_content`` delta field (DeepSeek API, SiliconFlow, older vLLM);
2. a ``reasoning`` delta field (vLLM >= 0.19, OpenRouter);
3. ``<think>...</think>`` inside ``content`` (Ollama, vLLM without a reasoning parser);
4. ``content`` that starts inside the reasoning and shows only the closing ``</think>``
   (chat templates that already open ``<think>`` in the prompt).

Shapes 1-3 are recognised as soon as their first characters arrive. Shape 4 cannot be told
from a plain answer until ``</think>`` shows up, so with ``starts_open=None`` (auto) content
without an opening tag is held back until either ``</think>`` is seen (everything before it
was reasoning) or ``probe_chars`` characters pass without it (it is an answer, released at
once, and later text streams through). The trade-off: a tagless answer reaches the consumer
``probe_chars`` characters late (or at the end of a short stream), and reasoning longer than
``probe_chars`` with only a closing tag would be shown as answer. An endpoint known to open
``<think>`` in its template should set ``starts_open=True``; one known never to emit tags,
``starts_open=False`` (no buffering at all).
"""

from __future__ import annotations

import re
from enum import Enum

from rag.llm.events import AnswerDelta, ReasoningDelta

OPEN_TAG = "<think>"
CLOSE_TAG = "</think>"
DEFAULT_PROBE_CHARS = 4096

Delta = ReasoningDelta | AnswerDelta


class _State(Enum):
    START = "start"  # nothing but whitespace or a prefix of <think> seen yet
    PROBE = "probe"  # tagless content: waiting for </think> or for probe_chars to pass
    REASONING = "reasoning"  # inside <think>, looking for </think>
    ANSWER = "answer"  # everything from here on is answer text
    FIELDS = "fields"  # the endpoint uses a reasoning field: content is answer


def _partial_suffix(text: str, tag: str) -> int:
    """Length of the longest suffix of ``text`` that is a proper prefix of ``tag``."""
    for size in range(min(len(text), len(tag) - 1), 0, -1):
        if tag.startswith(text[-size:]):
            return size
    return 0


class ReasoningSplitter:
    """Incrementally turn delta fields into ``ReasoningDelta``/``AnswerDelta``.

    Feed each chunk's ``content`` and reasoning field with :meth:`feed`, then call
    :meth:`finish` at the end of the stream. Whitespace around the tags (at the start and end of
    the reasoning, at the start of the answer) is dropped: R1 pads the tags with newlines.
    """

    def __init__(self, *, starts_open: bool | None = None, probe_chars: int = DEFAULT_PROBE_CHARS) -> None:
        self._starts_open = starts_open
        self._probe_chars = max(probe_chars, 0)
        self._state = _State.START
        self._buf = ""
        self._reasoning_started = False
        self._answer_started = False
        self._field_seen = False

    def feed(self, content: str | None = None, reasoning: str | None = None) -> list[Delta]:
        """Consume one chunk's fields and return what can be released now.

        ``reasoning`` is the chunk's ``reasoning_content``/``reasoning`` field: ``None`` when the
        chunk has no such field, ``""`` when it has one that is empty. An endpoint that sends the
        field at all parses reasoning itself, so its tagless content is an answer at once.
        """
        out: list[Delta] = []
        if reasoning is not None:
            self._field_seen = True
        if reasoning:
            if self._state in (_State.START, _State.PROBE):
                # Text seen before a reasoning field cannot be a tag-delimited reasoning.
                pending, self._buf = self._buf, ""
                self._answer(pending, out)
            self._state = _State.FIELDS
            self._reasoning(reasoning, out)
        if content:
            if self._state in (_State.FIELDS, _State.ANSWER):
                self._answer(content, out)
            else:
                self._buf += content
                self._drain(out)
        return _merge(out)

    def finish(self) -> list[Delta]:
        """Release whatever is still held back once the stream has ended."""
        out: list[Delta] = []
        pending, self._buf = self._buf, ""
        if self._state is _State.REASONING:
            self._reasoning(pending.rstrip(), out)
        else:
            # A stream that never showed </think> (or only a fragment of <think>) is an answer.
            self._answer(pending, out)
        return _merge(out)

    def _drain(self, out: list[Delta]) -> None:
        """Advance the tag state machine over ``self._buf`` as far as the text allows."""
        while True:
            if self._state is _State.START:
                stripped = self._buf.lstrip()
                if stripped.startswith(OPEN_TAG):
                    self._state, self._buf = _State.REASONING, stripped[len(OPEN_TAG) :]
                    continue
                if not stripped or OPEN_TAG.startswith(stripped):
                    return  # whitespace or a partial "<think": wait for more
                self._buf = stripped
                if self._starts_open is None and not self._field_seen:
                    self._state = _State.PROBE
                elif self._starts_open:
                    self._state = _State.REASONING
                else:
                    self._state = _State.ANSWER
                continue
            if self._state is _State.PROBE:
                idx = self._buf.find(CLOSE_TAG)
                if idx >= 0:
                    self._reasoning(self._buf[:idx].rstrip(), out)
                    self._state, self._buf = _State.ANSWER, self._buf[idx + len(CLOSE_TAG) :]
                    continue
                if len(self._buf) - _partial_suffix(self._buf, CLOSE_TAG) >= self._probe_chars:
                    self._state = _State.ANSWER
                    continue
                return
            if self._state is _State.REASONING:
                idx = self._buf.find(CLOSE_TAG)
                if idx >= 0:
                    self._reasoning(self._buf[:idx].rstrip(), out)
                    self._state, self._buf = _State.ANSWER, self._buf[idx + len(CLOSE_TAG) :]
                    continue
                # Hold a possible partial "</think>" and the whitespace before it: R1 puts a
                # newline before the tag, which is padding, not reasoning.
                ready = self._buf[: len(self._buf) - _partial_suffix(self._buf, CLOSE_TAG)].rstrip()
                self._reasoning(ready, out)
                self._buf = self._buf[len(ready) :]
                return
            # ANSWER: no tag can follow, so nothing is held back.
            pending, self._buf = self._buf, ""
            self._answer(pending, out)
            return

    def _reasoning(self, text: str, out: list[Delta]) -> None:
        if not self._reasoning_started:
            text = text.lstrip()
            self._reasoning_started = bool(text)
        if text:
            out.append(ReasoningDelta(text))

    def _answer(self, text: str, out: list[Delta]) -> None:
        if not self._answer_started:
            text = text.lstrip()
            self._answer_started = bool(text)
        if text:
            out.append(AnswerDelta(text))


def _merge(deltas: list[Delta]) -> list[Delta]:
    """Join neighbouring deltas of the same kind so consumers see fewer, larger pieces."""
    merged: list[Delta] = []
    for delta in deltas:
        if merged and type(merged[-1]) is type(delta):
            merged[-1] = type(delta)(merged[-1].text + delta.text)
        else:
            merged.append(delta)
    return merged


_THINK_BLOCK = re.compile(r"<think>.*?(?:</think>|\Z)", re.DOTALL)


def strip_reasoning(text: str) -> str:
    """Remove reasoning from an assistant turn before it is sent back to the model.

    DeepSeek's API rejects earlier reasoning in the history, and other endpoints would only
    waste context on it. Handles ``<think>...</think>`` blocks, an unterminated ``<think>``
    and a leading reasoning closed by a lone ``</think>``.
    """
    if CLOSE_TAG in text and OPEN_TAG not in text.split(CLOSE_TAG, 1)[0]:
        text = text.split(CLOSE_TAG, 1)[1]
    return _THINK_BLOCK.sub("", text).strip()
