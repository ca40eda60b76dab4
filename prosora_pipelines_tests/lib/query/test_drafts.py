"""Why: the format rules (lengths, hooks, hashtags, numbering, cited sections) are enforced
in one place for every generator; these cases prove each rule refuses what breaks it."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from prosora_pipelines.lib.query.drafts import (
    BlogOutlineContent,
    BlogSection,
    Claim,
    DraftError,
    Hook,
    LinkedInPostContent,
    XThreadContent,
    build_draft,
    format_violations,
)
from prosora_pipelines.lib.query.evidence import Evidence

EVIDENCE = [
    Evidence(
        ref=n,
        article_id=f"a{n}",
        title=f"Title {n}",
        url=f"https://e.example/{n}",
        source_id=f"s{n}",
        tier="premium",
        credibility=0.9,
        domains=(),
        published_at=None,
        snippet="",
        passage="Text.",
        chunk_id=f"a{n}:0",
        score=1.0,
        components={},
    )
    for n in (1, 2)
]


def _post(body: list[Claim], hashtags: list[str] | None = None) -> LinkedInPostContent:
    return LinkedInPostContent(
        hook=Hook(text="Why this matters now?"),
        body=body,
        takeaway="Decide with the sources.",
        hashtags=hashtags or ["#AI"],
    )


def test_a_valid_post_renders_with_markers_and_citations() -> None:
    draft = build_draft(
        "linkedin_post", "question", "q", _post([Claim(text="A fact.", refs=[2, 1])]), EVIDENCE
    )
    assert (
        draft.text == "Why this matters now?\n\nA fact. [1][2]\n\nDecide with the sources.\n\n#AI"
    )
    assert draft.refs == (1, 2)
    assert format_violations("linkedin_post", draft.text) == []


def test_a_post_over_3000_characters_is_refused() -> None:
    text = "Hook?\n\n" + "x" * 2983 + "\n\nTakeaway."
    assert format_violations("linkedin_post", text) == ["3001 characters, over 3000"]


def test_hashtags_are_capped_at_five() -> None:
    with pytest.raises(ValidationError):
        _post([Claim(text="A fact.", refs=[1])], hashtags=[f"#T{n}" for n in range(6)])
    text = "Hook\n\nBody\n\nTakeaway\n\n#a #b #c #d #e #f"
    assert format_violations("linkedin_post", text) == ["6 hashtags, over 5"]


def test_thread_posts_are_numbered_and_short() -> None:
    content = XThreadContent(
        hook=Hook(text="Hook post"), posts=[Claim(text="y" * 275, refs=[1])], closing="Bye"
    )
    with pytest.raises(DraftError, match="post 2 has 283 characters, over 280"):
        build_draft("x_thread", "question", "q", content, EVIDENCE)
    assert format_violations("x_thread", "1/2 a\n\n3/2 b") == ["post 2 is not numbered 2/2"]


def test_outline_sections_name_their_evidence() -> None:
    content = BlogOutlineContent(
        title="T",
        sections=[
            BlogSection(heading="One", points=[Claim(text="A.", refs=[1])]),
            BlogSection(heading="Two", points=[Claim(text="B.", refs=[2])]),
        ],
    )
    draft = build_draft("blog_outline", "story", "s", content, EVIDENCE)
    assert "Evidence: [2] Title 2 (s2)" in draft.text
    assert format_violations("blog_outline", "# T\n\n## One\n- A. [1]") == [
        "fewer than two sections",
        "section 1 names no evidence",
    ]


def test_citing_missing_evidence_is_refused() -> None:
    with pytest.raises(DraftError, match=r"does not exist: \[7\]"):
        build_draft("linkedin_post", "data", "d", _post([Claim(text="A.", refs=[7])]), EVIDENCE)


def test_content_of_another_format_is_refused() -> None:
    with pytest.raises(DraftError, match="x_thread content expected"):
        build_draft("x_thread", "data", "d", _post([Claim(text="A.", refs=[1])]), EVIDENCE)
