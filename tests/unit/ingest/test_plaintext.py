"""Plain text: paragraphs, headings, fields and bullets, and each element's section."""

from __future__ import annotations

import pytest

from ingest.plaintext import is_field, is_heading, plain_text_elements

RELEASE_NOTES = """FLEET MANAGER 3.4.0 - RELEASE NOTES
===================================

Product:       Northwind Fleet Manager
Version:       3.4.0 (build 3.4.0.2291)

SUMMARY
-------
Fleet Manager 3.4.0 adds elevator integration for multi-floor sites and fixes 23 issues
reported since 3.3.2.

NEW FEATURES
------------
* Elevator integration. Robots can now call and ride goods elevators.
* Traffic heat map. The Analytics page shows where robots wait.
"""


def test_headings_become_sections_of_what_follows() -> None:
    elements = plain_text_elements(RELEASE_NOTES)
    titles = [e.text for e in elements if e.category == "Title"]
    assert titles == ["FLEET MANAGER 3.4.0 - RELEASE NOTES", "SUMMARY", "NEW FEATURES"]
    summary = next(e for e in elements if e.text.startswith("Fleet Manager 3.4.0 adds"))
    assert summary.section == "SUMMARY"
    # a paragraph broken over two lines is one paragraph again
    assert summary.text.endswith("fixes 23 issues reported since 3.3.2.")
    items = [e for e in elements if e.category == "ListItem"]
    assert [e.text[:20] for e in items] == ["Elevator integration", "Traffic heat map. Th"]
    assert {e.section for e in items} == {"NEW FEATURES"}


def test_underlines_and_separators_are_not_text() -> None:
    texts = [e.text for e in plain_text_elements(RELEASE_NOTES)]
    assert not any(set(t) <= set("=-*_ ") for t in texts)


def test_key_value_lines_are_text_not_headings() -> None:
    elements = plain_text_elements(RELEASE_NOTES)
    version = next(e for e in elements if e.text.startswith("Version:"))
    assert version.category == "NarrativeText"
    assert version.section == "FLEET MANAGER 3.4.0 - RELEASE NOTES"


@pytest.mark.parametrize(
    ("line", "heading"),
    [
        ("Installation", True),
        ("一、产品概述", True),
        ("Chapter 3: Results", True),
        ("Impact of low alcohol verbal descriptors on perceived strength: An experimental study", True),
        ("Robots charge overnight.", False),
        ("问：NW-50 是什么样的机器人？", False),
        ("适用型号：NW-50 Inspector 全系列\u3000\u3000文档版本：2.3", False),
        ("Release date:  14 March 2025", False),
        ("2025", False),
        ("红外热像仪、拾音器和气体传感器，能够按照预设路线自动巡检，", False),
        ("one two three four five six seven eight nine ten eleven twelve thirteen", False),
    ],
)
def test_is_heading(line: str, heading: bool) -> None:
    assert is_heading(line) is heading


def test_fields_need_a_short_key_and_a_data_like_value() -> None:
    assert is_field("Version: 3.4.0")
    assert is_field("Applies to:    NW-200 Carrier")
    assert is_field("编写部门：客户服务部　　文档版本：2.3")
    assert not is_field("Floral dip: a simplified method for transformation")
    assert not is_field("Part one: Setup")


def test_chinese_faq_keeps_questions_and_answers_as_text() -> None:
    text = "NW-50 常见问题\n\n一、产品概述\n\n问：NW-50 是什么样的机器人？\n答：NW-50 是轮式巡检机器人。\n"
    elements = plain_text_elements(text)
    assert [(e.category, e.section) for e in elements] == [
        ("Title", "NW-50 常见问题"),
        ("Title", "一、产品概述"),
        ("NarrativeText", "一、产品概述"),
        ("NarrativeText", "一、产品概述"),
    ]


def test_hard_wrapped_lines_rejoin_and_rows_stay_apart() -> None:
    text = (
        "KNOWN ISSUES\n------------\n"
        "FM-4502  The heat map does not yet include inspection routes.\n"
        "         Workaround: use the route report.\n"
        "FM-4510  Chart labels keep the old language until the\n"
        "         page is reloaded.\n\n"
        "答：NW-50 搭载可见光摄像机、\n红外热像仪和气体传感器。\n问：适合室外使用吗？\n"
    )
    texts = [e.text for e in plain_text_elements(text)]
    assert texts == [
        "KNOWN ISSUES",
        "FM-4502  The heat map does not yet include inspection routes. Workaround: use the route report.",
        "FM-4510  Chart labels keep the old language until the page is reloaded.",
        "答：NW-50 搭载可见光摄像机、红外热像仪和气体传感器。",
        "问：适合室外使用吗？",
    ]


def test_numbered_items_start_new_paragraphs() -> None:
    text = "UPGRADE NOTES\n1. Back up the database\n   before upgrading.\n2. Robot agents update themselves.\n"
    assert [e.text for e in plain_text_elements(text)][1:] == [
        "1. Back up the database before upgrading.",
        "2. Robot agents update themselves.",
    ]


def test_windows_line_endings_and_blank_text() -> None:
    elements = plain_text_elements("Intro\r\n\r\nThe robot stops when the bumper is pressed.\r\n")
    assert [e.text for e in elements] == ["Intro", "The robot stops when the bumper is pressed."]
    assert plain_text_elements("  \n\n \n") == []
