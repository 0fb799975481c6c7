"""Plain-text files to elements, without unstructured's per-paragraph classifier.

unstructured's ``partition_text`` spends about 45 ms on a 300-word file: language detection of
the whole text (metadata nothing here reads) and, per paragraph, an English sentence and
part-of-speech heuristic that cannot read Chinese and, offline, sees no verbs at all. On two
cores that parsing takes CPU from the encoder. It also glued each heading, list and table of
fields to the text below it. Here lines are regrouped by layout (blank lines, indentation,
bullets, ``key: value`` rows, setext underlines) and a heading is a short line that does not
read like a sentence or a field. Bullet cleaning is unstructured's own.
"""

from __future__ import annotations

import re

from unstructured.cleaners.core import clean_bullets
from unstructured.nlp.patterns import UNICODE_BULLETS_RE

from ingest.types import Element

MAX_TITLE_WORDS = 12
MAX_TITLE_CHARS = 120
_SENTENCE_END = ("。", "！", "？", "；", ".", "!", "?", ";", "：", ":", "，", ",")
# A field is "key: value" with a key of at most three words ("Version: 3.4", "适用型号：NW-50").
_FIELD = re.compile(r"^[^\s:：]+(?:[ \t][^\s:：]+){0,2}\s*[:：](\s*)(\S.*)$")
_RULE = re.compile(r"^[\W_]+$")  # "=====", "-----", "***": setext underlines and separators


def reads_like_sentence(text: str) -> bool:
    """Ends like a sentence or clause, or is too long for a heading."""
    return text.endswith(_SENTENCE_END) or len(text) > MAX_TITLE_CHARS


def is_field(text: str) -> bool:
    """``Version: 3.4.0`` or ``Applies to:    NW-200`` reads as data; ``Chapter 3: Results`` as a heading."""
    match = _FIELD.match(text)
    if match is None:
        return False
    gap, value = match.groups()
    return len(gap) >= 2 or any(ch.isdigit() for ch in value) or len(re.findall("[:：]", text)) >= 2


def is_heading(text: str) -> bool:
    """A line that names a section: short, has letters, does not read as a sentence or a field."""
    if "\n" in text or reads_like_sentence(text) or is_field(text):
        return False
    if not any(ch.isalpha() for ch in text):
        return False
    return len(text.split()) <= MAX_TITLE_WORDS


_BLANK_LINES = re.compile(r"\n[^\S\n]*\n\s*")
_LIST_MARKER = re.compile(r"^(?:\(?\d{1,3}[.)、]|[a-zA-Z][.)]|[（(][一二三四五六七八九十\d]{1,3}[)）])\s*\S")
_COLUMNS = re.compile(r"^\S+(?: \S+){0,2}[^\S\n]{2,}\S")  # "FM-4412  Robots sometimes ..."
_CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uf900-\ufaff\uff00-\uffef]")


def _starts_item(line: str) -> bool:
    """A line that begins a new element inside a block: a bullet, a numbered item or a field row."""
    return any(pattern.match(line) for pattern in (UNICODE_BULLETS_RE, _LIST_MARKER, _FIELD, _COLUMNS))


def _join(left: str, right: str) -> str:
    """Rejoin a hard-wrapped line; Chinese and Japanese wrap without a space."""
    if _CJK.match(left[-1:]) and _CJK.match(right[:1]):
        return left + right
    return f"{left} {right}"


def paragraphs(text: str) -> list[tuple[str, bool]]:
    """``(paragraph, is_setext_heading)`` pairs.

    Blank lines separate blocks. Inside a block, an indented line or a line that does not start
    an item continues the one above (hard-wrapped text); bullets, numbered items and
    ``key: value`` or column rows each start their own paragraph; a line underlined with
    ``===`` or ``---`` is a heading.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    out: list[tuple[str, bool]] = []
    for block in _BLANK_LINES.split(text.strip("\n")):
        current: list[tuple[str, bool]] = []
        lines = [line.rstrip() for line in block.split("\n") if line.strip()]
        for index, raw in enumerate(lines):
            line = raw.strip()
            if _RULE.match(line):
                continue
            underlined = index + 1 < len(lines) and _RULE.match(lines[index + 1].strip()) is not None
            continues = bool(current) and not underlined and (raw[:1].isspace() or not _starts_item(line))
            if continues and not current[-1][1]:
                current[-1] = (_join(current[-1][0], line), False)
            else:
                current.append((line, underlined))
        out.extend(current)
    return out


def plain_text_elements(text: str) -> list[Element]:
    """Elements of a plain-text document, each with the nearest heading above it as its section."""
    elements: list[Element] = []
    section: str | None = None
    for paragraph, underlined in paragraphs(text):
        if UNICODE_BULLETS_RE.match(paragraph):
            item = clean_bullets(paragraph)
            if item:
                elements.append(Element(text=item, category="ListItem", section=section))
            continue
        if underlined or is_heading(paragraph):
            section = paragraph
            elements.append(Element(text=paragraph, category="Title", section=section))
            continue
        elements.append(Element(text=paragraph, category="NarrativeText", section=section))
    return elements
