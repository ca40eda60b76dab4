"""Clean text from the HTML that feeds carry: paragraphs kept, scripts and pixels gone.

Embedding, search and drafting all read this text, so it must hold what a reader sees and
nothing else: no script or style bodies, no tracking pixels, no embedded players.
"""

from __future__ import annotations

import re
import warnings

from bs4 import BeautifulSoup, MarkupResemblesLocatorWarning, Tag

_DROPPED_TAGS = (
    "script",
    "style",
    "noscript",
    "iframe",
    "object",
    "embed",
    "svg",
    "canvas",
    "form",
    "button",
    "template",
    "head",
)
_BLOCK_TAGS = frozenset(
    {
        "p",
        "div",
        "section",
        "article",
        "blockquote",
        "pre",
        "li",
        "ul",
        "ol",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "table",
        "tr",
        "figure",
        "figcaption",
        "header",
        "footer",
        "aside",
        "hr",
        "dl",
        "dt",
        "dd",
    }
)
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SPACES = re.compile(r"[ \t\r\f\v\u00a0\u200b]+")
_BLANK_LINES = re.compile(r"\n\s*\n+")


def _is_tracking_pixel(image: Tag) -> bool:
    for attribute in ("width", "height"):
        value = str(image.get(attribute, "")).strip().removesuffix("px")
        if value.isdigit() and int(value) <= 1:
            return True
    style = str(image.get("style", "")).replace(" ", "").lower()
    return "display:none" in style or "width:1px" in style or "height:1px" in style


def normalize_whitespace(text: str) -> str:
    """Collapse runs of spaces, keep single blank lines between paragraphs."""
    text = _CONTROL_CHARACTERS.sub(" ", text)
    lines = [_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def html_to_text(html: str) -> str:
    """Readable text of an HTML fragment or document; plain text passes through cleaned."""
    if not html or not html.strip():
        return ""
    if "<" not in html and "&" not in html:
        return normalize_whitespace(html)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MarkupResemblesLocatorWarning)
        soup = BeautifulSoup(html, "lxml")
    for element in soup.find_all(_DROPPED_TAGS):
        element.decompose()
    for image in soup.find_all("img"):
        if _is_tracking_pixel(image):
            image.decompose()
    for line_break in soup.find_all("br"):
        line_break.replace_with("\n")
    for block in soup.find_all(_BLOCK_TAGS):
        block.insert_before("\n\n")
        block.insert_after("\n\n")
    return normalize_whitespace(soup.get_text())


def text_to_single_line(text: str) -> str:
    """Text on one line, for titles and summaries."""
    return _SPACES.sub(" ", text.replace("\n", " ")).strip()
