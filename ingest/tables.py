"""Tables as text that keeps rows and columns readable to both the embedder and the model."""

from __future__ import annotations


def html_table_to_text(html: str) -> str:
    """Render an HTML table as pipe-separated rows (one line per row); '' if it cannot be read."""
    try:
        from lxml import html as lxml_html

        root = lxml_html.fromstring(html)
    except Exception:  # malformed markup: the caller falls back to the parser's flat text
        return ""
    lines = []
    for row in root.iter("tr"):
        cells = [" ".join(cell.text_content().split()) for cell in row if cell.tag in ("td", "th")]
        if any(cells):
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
