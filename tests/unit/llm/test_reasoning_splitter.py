"""The reasoning splitter must give the same split whatever the shape and wherever chunks break."""

from __future__ import annotations

from itertools import combinations

import pytest

from rag.llm.events import AnswerDelta, ReasoningDelta
from rag.llm.reasoning import ReasoningSplitter, strip_reasoning

pytestmark = pytest.mark.unit

REASONING = "The user asks 2+2.\nThat is 4."
ANSWER = "2 + 2 = 4. Tags like <b> stay."
THINK_TAGS = f"<think>\n{REASONING}\n</think>\n\n{ANSWER}"
CLOSING_ONLY = f"{REASONING}\n</think>\n\n{ANSWER}"

Delta = ReasoningDelta | AnswerDelta


def run(pieces: list[str], **options: object) -> list[Delta]:
    splitter = ReasoningSplitter(**options)  # type: ignore[arg-type]
    out: list[Delta] = []
    for piece in pieces:
        out += splitter.feed(content=piece)
    return out + splitter.finish()


def joined(deltas: list[Delta]) -> tuple[str, str]:
    reasoning = "".join(d.text for d in deltas if isinstance(d, ReasoningDelta))
    answer = "".join(d.text for d in deltas if isinstance(d, AnswerDelta))
    return reasoning, answer


def assert_well_formed(deltas: list[Delta]) -> None:
    assert all(d.text for d in deltas), "no empty deltas"
    kinds = [d.kind for d in deltas]
    assert kinds == sorted(kinds, key=lambda k: k == "answer"), "all reasoning comes before any answer"


def split_at(text: str, *cuts: int) -> list[str]:
    bounds = [0, *cuts, len(text)]
    return [text[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]


@pytest.mark.parametrize("text", [THINK_TAGS, "\n \n" + THINK_TAGS], ids=["tags", "tags-after-blank-lines"])
@pytest.mark.parametrize("starts_open", [None, True, False])
def test_think_tags_every_pair_of_split_points(text: str, starts_open: bool | None) -> None:
    # Two cuts anywhere cover a tag broken into three pieces ("<th" + "in" + "k>") as well as one.
    for i, j in combinations(range(len(text) + 1), 2):
        deltas = run(split_at(text, i, j), starts_open=starts_open)
        assert joined(deltas) == (REASONING, ANSWER), (i, j)
        assert_well_formed(deltas)


@pytest.mark.parametrize("starts_open", [None, True])
def test_closing_tag_only_every_pair_of_split_points(starts_open: bool | None) -> None:
    for i, j in combinations(range(len(CLOSING_ONLY) + 1), 2):
        deltas = run(split_at(CLOSING_ONLY, i, j), starts_open=starts_open)
        assert joined(deltas) == (REASONING, ANSWER), (i, j)
        assert_well_formed(deltas)


def test_one_character_per_chunk() -> None:
    assert joined(run(list(THINK_TAGS))) == (REASONING, ANSWER)
    assert joined(run(list(CLOSING_ONLY))) == (REASONING, ANSWER)


@pytest.mark.parametrize("starts_open", [None, False])
def test_content_without_any_tag_is_an_answer(starts_open: bool | None) -> None:
    text = "  Plain answer with </thinking> and <thin words."
    for i in range(len(text) + 1):
        deltas = run(split_at(text, i), starts_open=starts_open)
        assert joined(deltas) == ("", text.lstrip()), i


def test_partial_open_tag_alone_is_an_answer_at_the_end() -> None:
    assert joined(run(["<thi"])) == ("", "<thi")


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
def test_reasoning_field_shapes(field: str) -> None:
    # Both fields reach the splitter as ``reasoning``; the client reads either name.
    splitter = ReasoningSplitter()
    out: list[Delta] = []
    out += splitter.feed(content="", reasoning="")
    for piece in ["The user", " asks 2+2.\nThat is 4."]:
        out += splitter.feed(content=None, reasoning=piece)
    for piece in ["\n\n", "2 + 2 = 4.", " Tags like <b> stay."]:
        out += splitter.feed(content=piece, reasoning=None)
    out += splitter.finish()
    assert joined(out) == (REASONING, ANSWER)
    assert_well_formed(out)


def test_content_with_reasoning_field_present_streams_without_probing() -> None:
    splitter = ReasoningSplitter()
    assert splitter.feed(content="Hel", reasoning="") == [AnswerDelta("Hel")]


def test_answer_after_close_tag_is_released_immediately() -> None:
    splitter = ReasoningSplitter()
    assert splitter.feed("<think>a</think>\n") == [ReasoningDelta("a")]
    assert splitter.feed("\nB") == [AnswerDelta("B")]
    assert splitter.feed("<") == [AnswerDelta("<")], "no tag can follow the answer's start, so nothing is held"


def test_only_a_possible_tag_is_held_back_inside_reasoning() -> None:
    splitter = ReasoningSplitter()
    assert splitter.feed("<think>abc</th") == [ReasoningDelta("abc")]
    assert splitter.feed("ought> more") == [ReasoningDelta("</thought> more")]
    assert splitter.feed("</think>ok") == [AnswerDelta("ok")]


def test_starts_closed_holds_nothing_but_a_partial_open_tag() -> None:
    splitter = ReasoningSplitter(starts_open=False)
    assert splitter.feed("<") == []
    assert splitter.feed("p>Hi") == [AnswerDelta("<p>Hi")]
    splitter = ReasoningSplitter(starts_open=False)
    assert splitter.feed("H") == [AnswerDelta("H")]


def test_auto_mode_releases_tagless_text_once_probe_budget_passes() -> None:
    splitter = ReasoningSplitter(probe_chars=10)
    assert splitter.feed("123456789") == []
    assert splitter.feed("0ab") == [AnswerDelta("1234567890ab")]
    assert splitter.feed("c") == [AnswerDelta("c")]


def test_auto_mode_treats_late_close_tag_after_probe_as_answer_text() -> None:
    # The documented trade-off: reasoning longer than the probe budget cannot be recovered.
    _, answer = joined(run(["x" * 20, "</think>", "Hi"], probe_chars=10))
    assert answer == "x" * 20 + "</think>Hi"


def test_starts_open_keeps_long_reasoning_out_of_the_answer() -> None:
    assert joined(run(["x" * 20, "</think>", "Hi"], probe_chars=10, starts_open=True)) == ("x" * 20, "Hi")


def test_unterminated_reasoning_is_all_reasoning() -> None:
    assert joined(run(["<think>\nstill thinking when max_tokens hit\n"])) == ("still thinking when max_tokens hit", "")


def test_empty_reasoning_block() -> None:
    deltas = run(["<think>\n\n</think>\n\nDirect answer."])
    assert deltas == [AnswerDelta("Direct answer.")]


def test_whitespace_only_answer_yields_nothing() -> None:
    assert run(["<think>r</think>", "\n\n", "  "]) == [ReasoningDelta("r")]


def test_inner_whitespace_is_kept() -> None:
    reasoning, answer = joined(run(["<think>a\n\n", "b</think>line 1\n\n", "line 2\n"]))
    assert (reasoning, answer) == ("a\n\nb", "line 1\n\nline 2\n")


def test_later_think_tags_in_the_answer_are_text() -> None:
    assert joined(run(["<think>r</think>Use <think> tags.</think>"])) == ("r", "Use <think> tags.</think>")


def test_deltas_of_one_feed_are_merged() -> None:
    splitter = ReasoningSplitter()
    assert splitter.feed("<think>a</think>b") == [ReasoningDelta("a"), AnswerDelta("b")]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<think>secret plan</think>\n\nThe answer.", "The answer."),
        ("secret plan\n</think>\n\nThe answer.", "The answer."),
        ("The answer. <think>cut off", "The answer."),
        ("No reasoning here.", "No reasoning here."),
        ("A <think>x</think>B<think>y</think>", "A B"),
    ],
)
def test_strip_reasoning(text: str, expected: str) -> None:
    assert strip_reasoning(text) == expected
