"""Why: search and drafts read this text; scripts, styles and pixels must never reach them."""

from __future__ import annotations

from prosora_pipelines.lib.articles.html_text import html_to_text


def test_scripts_styles_iframes_and_pixels_dropped_paragraphs_kept() -> None:
    html = (
        "<style>.x{color:red}</style><p>First <b>para</b>graph.</p>"
        "<script>track('secret')</script><iframe src='x'>player</iframe>"
        "<img src='https://pixel.example/t.gif' width='1' height='1'>"
        "<ul><li>one</li><li>two</li></ul><p>Last&nbsp;one &amp; done.</p>"
    )
    text = html_to_text(html)
    assert text == "First paragraph.\n\none\n\ntwo\n\nLast one & done."
    for junk in ("color", "track", "secret", "player", "pixel"):
        assert junk not in text


def test_plain_text_and_entities() -> None:
    assert html_to_text("Plain   text\n\n\nhere") == "Plain text\n\nhere"
    assert html_to_text("AT&amp;T &lt;3 caf&eacute;") == "AT&T <3 café"
    assert html_to_text("") == ""


def test_control_characters_removed() -> None:
    assert html_to_text("<p>a\x02b\x03c</p>") == "a b c"
