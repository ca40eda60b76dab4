"""Words as the query engine compares them: whole words only, so "ai" never matches "said"."""

from __future__ import annotations

import re

# Letters and digits, joined by inner apostrophes, hyphens or dots ("don't", "e-commerce",
# "U.S."); never a substring of a longer word.
_WORD = re.compile(r"[^\W_]+(?:['’.\-][^\W_]+)*")

_STOP_WORDS_TEXT = """
a about above after again against all also am an and any are as at be because been before
being below between both but by can could did do does doing down during each even ever
every few for from further get gets give had has have having he her here hers herself him
himself his how i if in into is it its itself just let like made make makes me might more
most much must my myself need new no nor not now of off on once one only or other our ours
ourselves out over own please really same shall she should so some such than that the
their theirs them themselves then there these they this those through to too under until
up us very via was we were what when where which while who whom why will with within
without would write writing you your yours yourself yourselves
"""
STOP_WORDS = frozenset(_STOP_WORDS_TEXT.split())


def words(text: str) -> list[str]:
    """Every word of ``text``, lower-cased, in order."""
    return [match.group().lower() for match in _WORD.finditer(text)]


def content_words(text: str) -> list[str]:
    """The words that carry meaning: no stop words, no bare numbers, no single letters."""
    return [
        word
        for word in words(text)
        if word not in STOP_WORDS and len(word) > 1 and not word.replace(".", "").isdigit()
    ]
