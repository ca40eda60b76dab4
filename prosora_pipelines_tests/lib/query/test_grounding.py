"""Why: the grounding check is what stands between a user and an invented statistic; it
must catch numbers and quotations the evidence lacks, and not trip on the renderers'
own scaffolding (markers, thread numbering, URLs, evidence lines)."""

from __future__ import annotations

from prosora_pipelines.lib.query.grounding import ungrounded_facts

EVIDENCE = [
    "Sandbox report\nOf 46 applications, 29 involved AI, up from 7 of 38.",
    'The minister said the rules "protect people, not incumbents" and cost 1,200 jobs.',
]


def test_numbers_in_the_evidence_pass() -> None:
    assert ungrounded_facts("29 of 46 applications involved AI [1]", EVIDENCE) == []
    assert ungrounded_facts("It cost 1200 jobs.", EVIDENCE) == []


def test_invented_numbers_are_caught() -> None:
    assert ungrounded_facts("Applications rose 45% [1]", EVIDENCE) == [
        "number 45 is not in the evidence"
    ]
    assert ungrounded_facts("A 2.5x jump", EVIDENCE) == ["number 2.5 is not in the evidence"]


def test_quotations_must_appear_word_for_word() -> None:
    assert ungrounded_facts("He said “Protect people, not  incumbents”.", EVIDENCE) == []
    assert ungrounded_facts('She called it "a historic win".', EVIDENCE) == [
        "quotation “a historic win” is not in the evidence"
    ]


def test_scaffolding_is_not_a_claim() -> None:
    thread = "1/12 Of 46 applications, 29 involved AI [1][2]\n\n12/12 Read more https://x.example/2031/77"
    assert ungrounded_facts(thread, EVIDENCE) == []
    outline = "# Title\n\n## Part\n- 29 involved AI [1]\nEvidence: [1] Report 2031 (source-9)"
    assert ungrounded_facts(outline, EVIDENCE) == []
