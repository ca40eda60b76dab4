"""What the pages show, computed from the API's answers: rows for tables, labels, notices and
chart points. No Streamlit here, so each rule is tested on its own.

Answers the API grows later (the learning curve, pattern intervals, the daily digest) are
read when present and left out when not, so the app works against the API of today.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

FORMAT_LABELS = {
    "linkedin_post": "LinkedIn post",
    "x_thread": "X thread",
    "blog_outline": "Blog outline",
}
FORMATS = tuple(FORMAT_LABELS)
THIN_EVIDENCE_BELOW = 3
"""Fewer evidence articles than this and the Ask page says the evidence is thin: a draft
then rests on one or two sources, which a writer should know before posting it."""


def format_label(name: str) -> str:
    return FORMAT_LABELS.get(name, name.replace("_", " "))


def percent(value: float | None, digits: int = 1) -> str:
    """A fraction as a percentage (``0.0378`` -> ``3.8 %``); a dash when unknown."""
    return "–" if value is None else f"{value * 100:.{digits}f} %"


def parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def day(text: str | None) -> str:
    """An ISO time as its day (``2026-11-19``); a dash when unknown."""
    when = parse_time(text)
    return when.date().isoformat() if when else "–"


def minute(text: str | None) -> str:
    when = parse_time(text)
    return when.strftime("%Y-%m-%d %H:%M UTC") if when else "–"


# Ask


def analysis_summary(analysis: dict[str, Any]) -> list[tuple[str, str]]:
    """The analysis as label/value pairs: intent, domains with weights, depth, keywords."""
    domains = ", ".join(
        f"{name} {weight * 100:.0f} %" for name, weight in analysis.get("domains", {}).items()
    )
    return [
        ("Intent", format_label(str(analysis.get("intent", "–")))),
        ("Domains", domains or "none recognised"),
        ("Complexity", str(analysis.get("complexity", "–"))),
        ("Evidence level", str(analysis.get("evidence_level", "–"))),
        ("Keywords", ", ".join(analysis.get("keywords", [])) or "–"),
    ]


def evidence_rows(evidence: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per evidence article, in citation order, with its tier and date."""
    return [
        {
            "ref": item.get("ref"),
            "title": item.get("title", ""),
            "source": item.get("source_id", ""),
            "tier": item.get("tier", ""),
            "credibility": round(float(item.get("credibility") or 0.0), 2),
            "published": day(item.get("published_at")),
            "url": item.get("url", ""),
        }
        for item in sorted(evidence, key=lambda item: int(item.get("ref", 0)))
    ]


def evidence_notice(result: dict[str, Any]) -> str | None:
    """What a writer should know about the evidence before using the drafts, or None."""
    evidence = result.get("evidence") or []
    reason = result.get("degraded_reason")
    if not evidence:
        return (
            "No evidence: nothing in the article index matches this question, so there are "
            "no drafts. Try other words, or materialize more sources."
        )
    if reason:
        return f"Partial answer: {reason}."
    if len(evidence) < THIN_EVIDENCE_BELOW:
        articles = "article" if len(evidence) == 1 else "articles"
        return (
            f"Thin evidence: only {len(evidence)} {articles} support these drafts; check them "
            "before posting, or ask more broadly."
        )
    return None


def citation_links(citations: list[dict[str, Any]]) -> list[str]:
    """Markdown links, one per cited article, that open the article itself."""
    return [
        f"[{citation.get('ref')}] [{_escaped(citation.get('title', ''))}]({citation.get('url')})"
        f" · {citation.get('source_id', '')}"
        for citation in citations
    ]


def _escaped(text: str) -> str:
    return text.replace("[", "\\[").replace("]", "\\]")


def prediction_line(variant: dict[str, Any]) -> str:
    """The predicted engagement with what made it (``3.8 % · prior engagement-prior-1``)."""
    prediction = variant.get("prediction") or {}
    rate = prediction.get("rate", variant.get("predicted_engagement"))
    made_by = " ".join(
        part for part in (prediction.get("kind"), prediction.get("model_version")) if part
    ) or str(variant.get("model_version", ""))
    interval = prediction.get("interval")
    spread = ""
    if isinstance(interval, list | tuple) and len(interval) == 2:
        spread = f" (90 % interval {percent(interval[0])} to {percent(interval[1])})"
    return f"Predicted engagement {percent(rate, 2)}{spread} · {made_by}".rstrip(" ·")


def prediction_reasons(variant: dict[str, Any]) -> list[str]:
    prediction = variant.get("prediction") or {}
    reasons = prediction.get("reasons", variant.get("prediction_reasons", []))
    return [str(reason) for reason in reasons]


def pattern_text(pattern: dict[str, Any]) -> str:
    """One learning pattern in a sentence: the feature and value, its lift on engagement
    (the API's multiplicative lift, 1.3 = 30 % more) and its 90 % interval."""
    subject = f"{pattern.get('pattern_type', 'pattern')}={pattern.get('value') or '?'}"
    lift = pattern.get("lift")
    if not isinstance(lift, int | float):
        return subject
    low, high = pattern_interval(pattern)
    spread = f" (90 % interval {_interval_text(low, high)})" if low is not None else ""
    return f"{subject}: {lift - 1:+.0%} engagement{spread}"


def pattern_interval(pattern: dict[str, Any]) -> tuple[float | None, float | None]:
    """A pattern's 90 % interval on its lift; (None, None) when it has none."""
    pair = pattern.get("interval")
    if isinstance(pair, list | tuple) and len(pair) == 2:
        return float(pair[0]), float(pair[1])
    return None, None


def _interval_text(low: float | None, high: float | None) -> str:
    """An interval on a multiplicative lift, as changes in engagement."""
    return "–" if low is None or high is None else f"{low - 1:+.0%} to {high - 1:+.0%}"


def patterns_for_draft(
    variant: dict[str, Any], applied: list[str], patterns: list[dict[str, Any]]
) -> list[str]:
    """The patterns that shaped a draft: its own list when the API gives one per draft,
    else those applied to the whole query, described from the caller's patterns."""
    ids = variant.get("patterns_applied", applied) or []
    by_id = {str(pattern.get("id")): pattern for pattern in patterns}
    return [pattern_text(by_id[key]) if key in by_id else f"pattern {key}" for key in map(str, ids)]


def draft_heading(variant: dict[str, Any], number: int) -> str:
    hook = variant.get("hook_type") or "plain"
    return f"{format_label(str(variant.get('format', '')))} #{number} · {hook} hook"


def drafts_by_format(variants: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Drafts grouped by format, in the order the formats first appear."""
    grouped: dict[str, list[dict[str, Any]]] = {}
    for variant in variants:
        grouped.setdefault(str(variant.get("format", "")), []).append(variant)
    return grouped


def stored_as_result(stored: dict[str, Any]) -> dict[str, Any]:
    """A query as ``GET /queries/{id}`` stores it, in the shape the Ask page shows answers
    in (the evidence and notes under ``results``, predictions flattened on each variant)."""
    results = stored.get("results") or {}
    return {
        "query_id": stored.get("id"),
        "text": stored.get("text", ""),
        "status": stored.get("status"),
        "degraded_reason": results.get("degraded_reason"),
        "analysis": stored.get("analysis") or {},
        "evidence": results.get("evidence") or [],
        "variants": [
            {
                **variant,
                "prediction": {
                    "rate": variant.get("predicted_engagement"),
                    "model_version": variant.get("model_version"),
                    "reasons": variant.get("prediction_reasons", []),
                },
            }
            for variant in stored.get("variants", [])
        ],
        "patterns_applied": results.get("patterns_applied") or [],
        "created_at": stored.get("created_at"),
    }


def posted_feedback(platform: str, posted_at: datetime) -> dict[str, Any]:
    """The feedback that marks a draft posted: no figures yet (zero impressions give no
    engagement rate, so analytics leave it out); the figures recorded later for the same
    platform and time replace it, as platforms report cumulative numbers."""
    return {
        "platform": platform,
        "posted_at": posted_at.astimezone(UTC).isoformat(),
        "impressions": 0,
        "reactions": 0,
        "comments": 0,
        "shares": 0,
    }


# History


def history_rows(queries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "asked": minute(query.get("created_at")),
            "question": query.get("text", ""),
            "formats": ", ".join(
                sorted({format_label(str(v.get("format"))) for v in query.get("variants", [])})
            ),
            "drafts": len(query.get("variants", [])),
            "status": query.get("status", ""),
            "id": str(query.get("id", "")),
        }
        for query in queries
    ]


def history_params(
    format_name: str | None, since: date | None, until: date | None, limit: int
) -> dict[str, Any]:
    """The history route's query parameters for the page's filters (days as whole UTC days,
    ``until`` inclusive)."""
    params: dict[str, Any] = {"limit": limit, "format": format_name}
    if since is not None:
        params["since"] = datetime(since.year, since.month, since.day, tzinfo=UTC).isoformat()
    if until is not None:
        end = datetime(until.year, until.month, until.day, tzinfo=UTC)
        params["until"] = end.replace(hour=23, minute=59, second=59).isoformat()
    return params


# Feedback


def draft_choices(queries: list[dict[str, Any]]) -> dict[str, str]:
    """Variant id -> a label naming the question, the format and the draft's opening."""
    choices = {}
    for query in queries:
        for variant in query.get("variants", []):
            opening = " ".join(str(variant.get("text", "")).split())[:60]
            label = (
                f"{day(query.get('created_at'))} · {format_label(str(variant.get('format')))}"
                f" · {opening}…  ({str(query.get('text', ''))[:40]})"
            )
            choices[str(variant["id"])] = label
    return choices


def import_summary(answer: dict[str, Any]) -> str:
    created, updated = answer.get("created", 0), answer.get("updated", 0)
    return f"Imported: {created} new, {updated} updated."


# Performance


def accuracy_rows(groups: dict[str, dict[str, Any]], label: str) -> list[dict[str, Any]]:
    """One row per group (format or model version): how far predictions were from actual."""
    return [
        {
            label: format_label(name) if label == "format" else name,
            "posts": accuracy.get("count", 0),
            "mean absolute error": percent(accuracy.get("mean_absolute_error"), 2),
            "bias": percent(accuracy.get("bias"), 2),
            "rmse": percent(accuracy.get("rmse"), 2),
        }
        for name, accuracy in sorted(groups.items())
    ]


def calibration_points(accuracy: dict[str, Any]) -> list[dict[str, float]]:
    """Calibration bins as points (mean predicted, mean actual, posts), in percent."""
    return [
        {
            "predicted %": round(bin_["mean_predicted"] * 100, 3),
            "actual %": round(bin_["mean_actual"] * 100, 3),
            "posts": bin_["count"],
        }
        for bin_ in accuracy.get("calibration", [])
    ]


SHOWN_PERFORMANCE = {"overall", "by_format", "by_predictor", "model", "latest_candidate"}


def other_figures(performance: dict[str, Any]) -> dict[str, Any]:
    """What the performance answer holds beyond the parts the page lays out, shown as the
    API gives it (so a figure added to the API is never hidden)."""
    return {
        name: value
        for name, value in performance.items()
        if name not in SHOWN_PERFORMANCE and value not in (None, {}, [])
    }


def engagement_model(performance: dict[str, Any]) -> dict[str, Any] | None:
    """The promoted engagement model's report, else the newest candidate's; None before
    any model was trained."""
    model = performance.get("model") or performance.get("latest_candidate")
    return model if isinstance(model, dict) else None


def model_summary(model: dict[str, Any]) -> str:
    state = "promoted" if model.get("promoted") else "not promoted"
    return (
        f"{model.get('version')}: {state}, {model.get('reason')} "
        f"(trained on {model.get('training_size')} posts, judged on the newest "
        f"{model.get('holdout_size')})"
    )


def model_score_rows(model: dict[str, Any]) -> list[dict[str, Any]]:
    """The model and every baseline on the hold-out, one row each."""
    names = {
        "linear": "learned model",
        "user_mean": "your mean rate",
        "prior": "prior",
        "knn": "similar past posts",
        "current": "model it replaced",
    }
    return [
        {
            "predictor": names.get(name, name),
            "MAE": percent(scores.get("mae"), 2),
            "pairwise accuracy": percent(scores.get("pairwise_accuracy"), 0),
            "Spearman": "–"
            if scores.get("spearman") is None
            else f"{float(scores['spearman']):.2f}",
        }
        for name, scores in (model.get("scores") or {}).items()
    ]


def learning_curve(performance: dict[str, Any]) -> list[dict[str, float]]:
    """The engagement model's learning curve, hold-out error (in percent) against training
    observations, beside the user-mean baseline; empty before any model."""
    model = engagement_model(performance)
    if model is None:
        return []
    return [
        {
            "observations": float(point["observations"]),
            "model MAE %": float(point["model_mae"]) * 100,
            "your mean MAE %": float(point["user_mean_mae"]) * 100,
        }
        for point in model.get("learning_curve") or []
    ]


def pattern_rows(patterns: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for pattern in patterns:
        low, high = pattern_interval(pattern)
        lift = pattern.get("lift")
        rows.append(
            {
                "pattern": f"{pattern.get('pattern_type')}={pattern.get('value') or '?'}",
                "scope": pattern.get("scope", ""),
                "lift": f"{lift - 1:+.0%}" if isinstance(lift, int | float) else "–",
                "90 % interval": _interval_text(low, high),
                "samples": pattern.get("samples") if pattern.get("samples") is not None else "–",
                "active": "yes" if pattern.get("active") else "no",
            }
        )
    return rows


# Trends and digest


def topic_rows(trends: dict[str, Any]) -> list[dict[str, Any]]:
    """Topics, fastest growing first (a topic new in this window, with no growth figure,
    comes after those with one)."""
    topics = sorted(
        trends.get("topics", []),
        key=lambda topic: (topic.get("growth") is None, -(topic.get("growth") or 0.0)),
    )
    return [
        {
            "topic": topic.get("label", ""),
            "recent articles": topic.get("recent_articles", 0),
            "before": topic.get("previous_articles", 0),
            "growth": "new" if topic.get("growth") is None else f"{topic['growth']:+.0%}",
            "domains": ", ".join(d["domain"] for d in topic.get("top_domains", [])),
            "examples": " · ".join(topic.get("example_titles", [])[:2]),
        }
        for topic in topics
    ]


def megatrend_rows(trends: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "megatrend": trend.get("name", ""),
            "recent matches": trend.get("recent_matches", 0),
            "share now": percent(trend.get("recent_share")),
            "share before": percent(trend.get("previous_share")),
            "change": (
                "–"
                if trend.get("share_change") is None
                else f"{trend['share_change'] * 100:+.1f} points"
            ),
        }
        for trend in trends.get("megatrends", [])
    ]


def trend_window(trends: dict[str, Any]) -> str:
    start, end = trends.get("recent_from"), trends.get("recent_until")
    if not start or not end:
        return "No trend window yet."
    return f"Recent window: {day(start)} to {day(end)}, compared with the window before it."


def digest_markdown(digest: dict[str, Any] | None) -> str:
    """Today's digest as markdown: the API's own rendering when it sends one, else built
    from its stories grouped by topic, each with its summary and citations."""
    if digest is None:
        return "No digest: the API has none for this day (the daily digest is not built yet)."
    when = digest.get("date", "today")
    if isinstance(digest.get("markdown"), str) and digest["markdown"].strip():
        return str(digest["markdown"])
    groups = digest.get("topics") or digest.get("groups")
    if groups is None:
        groups = [{"topic": None, "stories": digest.get("stories", [])}]
    lines: list[str] = []
    for group in groups:
        stories = group.get("stories", [])
        if not stories:
            continue
        title = group.get("topic") or group.get("label")
        if title:
            lines.append(f"### {title}")
        for story in stories:
            lines.append(f"**{story.get('title', '')}**")
            if story.get("summary"):
                lines.append(str(story["summary"]))
            links = citation_links(
                [{"ref": n, **c} for n, c in enumerate(story.get("citations", []), start=1)]
            )
            lines.extend(f"- {link}" for link in links)
            lines.append("")
    if not lines:
        return f"The digest for {when} is empty: no stories that matter to your domains that day."
    return "\n".join([f"Digest for {when}", "", *lines]).strip()


# Sources


def source_health(source: dict[str, Any]) -> str:
    if not source.get("enabled", True):
        return "disabled"
    if not source.get("fetches"):
        return "never fetched"
    failing = int(source.get("consecutive_failures") or 0)
    if failing:
        return f"failing ({failing} in a row)"
    return "healthy"


def source_rows(sources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The catalog with its health, failing sources first (the longest failing at the top),
    then never fetched, healthy, and disabled ones."""
    order = {"failing": 0, "never fetched": 1, "healthy": 2, "disabled": 3}

    def rank(source: dict[str, Any]) -> tuple[int, int, str]:
        health = source_health(source).split(" (")[0]
        return (order[health], -int(source.get("consecutive_failures") or 0), source["name"])

    return [
        {
            "health": source_health(source),
            "source": source.get("name", ""),
            "tier": source.get("tier", ""),
            "credibility": source.get("credibility"),
            "domains": ", ".join(source.get("domains", [])),
            "last success": minute(source.get("last_success_at")),
            "last error": source.get("last_error") or "",
            "items per fetch": source.get("items_per_fetch"),
            "id": source.get("id", ""),
        }
        for source in sorted(sources, key=rank)
    ]


# Profile


def phrases_from_text(text: str) -> list[str]:
    """A profile list as typed in a text box: one entry a line, blanks dropped."""
    return [line.strip() for line in text.splitlines() if line.strip()]
