"""Labelled prototype queries the offline analysis compares a query with, by meaning.

Intent prototypes say what kind of output a request asks for without naming a topic, so a
topic-only query resembles none of them and gets the ``comprehensive`` intent. Domain
prototypes are typical questions of each catalog domain (the names match the ``domains``
of the bundled catalogs, so the analysis can steer the search by them).
"""

from __future__ import annotations

INTENT_PROTOTYPES: dict[str, tuple[str, ...]] = {
    "linkedin_post": (
        "write a linkedin post about this",
        "draft a post for my professional network",
        "a short post for linkedin with a strong hook",
        "help me post about this on linkedin",
        "a post my followers on linkedin will engage with",
    ),
    "x_thread": (
        "write a twitter thread about this",
        "a thread of short tweets",
        "turn this into an x thread",
        "a tweetstorm explaining this",
        "short numbered posts for x",
    ),
    "blog_outline": (
        "outline a blog post about this",
        "a long-form article structure with sections",
        "draft the outline of an essay",
        "give me a blog article plan with headings",
        "structure for a newsletter deep dive",
    ),
    "comprehensive": (
        "give me everything on this topic",
        "content for all my channels",
        "a full content package: post, thread and outline",
        "cover this across linkedin, x and my blog",
    ),
}

DOMAIN_PROTOTYPES: dict[str, tuple[str, ...]] = {
    "ai": (
        "large language models and generative ai",
        "machine learning model training and inference",
        "ai agents, foundation models and benchmarks",
        "artificial intelligence safety and alignment",
        "how ai changes software and work",
    ),
    "tech": (
        "software engineering, cloud infrastructure and chips",
        "developer tools, open source and platforms",
        "semiconductors, data centers and computing hardware",
        "cybersecurity, privacy and technical architecture",
    ),
    "product": (
        "product management, roadmaps and prioritization",
        "user research, onboarding and retention",
        "product-led growth, pricing and packaging",
        "shipping features customers actually use",
    ),
    "finance": (
        "interest rates, inflation and central banks",
        "markets, investors, earnings and valuations",
        "banking, credit and capital markets",
        "venture capital funding rounds and startups raising money",
    ),
    "fintech": (
        "fintech, digital payments and neobanks",
        "open banking, embedded finance and payment rails",
        "stablecoins, crypto and digital wallets",
        "lending platforms, buy now pay later and card issuing",
    ),
    "policy": (
        "government policy, elections and public institutions",
        "trade policy, tariffs and geopolitics",
        "public spending, taxation and policy makers",
        "antitrust action against big technology companies",
    ),
    "regulation": (
        "regulation, compliance and regulators",
        "new rules, supervision and enforcement actions",
        "ai act, data protection law and licensing requirements",
        "financial regulation, capital requirements and consumer protection",
    ),
    "business-strategy": (
        "business strategy, competition and market positioning",
        "mergers, acquisitions and corporate restructuring",
        "go-to-market, partnerships and business models",
        "leadership decisions, organizational design and execution",
    ),
}

# Words that name a domain outright; matched as whole words only.
DOMAIN_TERMS: dict[str, frozenset[str]] = {
    "ai": frozenset({"ai", "llm", "llms", "genai", "gpt", "machine-learning", "ml"}),
    "tech": frozenset({"software", "cloud", "chips", "semiconductor", "semiconductors"}),
    "product": frozenset({"product", "products", "roadmap", "pm", "ux"}),
    "finance": frozenset({"finance", "financial", "banking", "banks", "markets", "investors"}),
    "fintech": frozenset({"fintech", "payments", "neobank", "neobanks", "stablecoin"}),
    "policy": frozenset({"policy", "policies", "government", "geopolitics", "tariffs"}),
    "regulation": frozenset(
        {"regulation", "regulations", "regulatory", "regulators", "compliance"}
    ),
    "business-strategy": frozenset({"strategy", "strategic", "competition", "m&a", "acquisition"}),
}

FORMAT_TERMS: dict[str, frozenset[str]] = {
    "linkedin_post": frozenset({"linkedin"}),
    "x_thread": frozenset({"thread", "tweet", "tweets", "twitter", "tweetstorm"}),
    "blog_outline": frozenset({"blog", "outline", "essay", "newsletter", "long-form"}),
}
