"""Evidence from live traffic on a version's tags, judged at promotion to production.

``credit-scoring compare`` (:mod:`credit_scoring.monitoring.compare`, also a task of the
promotion DAG) summarises the shadow pairs of a challenger in its version tags
(``live_compare_pairs``, ``live_compare_flip_rate``, ``live_compare_min_fairness_ratio``,
``live_compare_at``). With ``CREDIT_SCORING_GATE_REQUIRE_LIVE_COMPARE`` (off by default)
:func:`credit_scoring.registry.promotion.promote` refuses a version whose tags do not show at
least ``CREDIT_SCORING_GATE_LIVE_MIN_PAIRS`` pairs, a flip rate (approve <-> decline) of at most
``CREDIT_SCORING_GATE_LIVE_MAX_FLIP_RATE`` and the four-fifths rule on live applicants
(``CREDIT_SCORING_GATE_MIN_FAIRNESS_RATIO``; not judged when no group was large enough).

Why at promotion and not in the validation gate: the gate runs when a version is trained, and
only a version that passed it gets ``staging`` and is shadowed; it cannot have live evidence yet.
"""

from __future__ import annotations

from dataclasses import dataclass

from credit_scoring.config import Settings


@dataclass(frozen=True)
class LiveCheck:
    """One requirement on the live evidence: ``passed`` None means not judged."""

    name: str
    passed: bool | None
    value: float | None
    threshold: float
    detail: str

    @property
    def failed(self) -> bool:
        return self.passed is False


def live_compare_checks(tags: dict[str, str], settings: Settings) -> list[LiveCheck]:
    """Enough pairs, few flips, four-fifths on live applicants, from the ``live_compare_*``
    tags (a version never compared fails the first two)."""
    pairs = int(tags.get("live_compare_pairs") or 0)
    flip = tags.get("live_compare_flip_rate") or ""
    ratio = tags.get("live_compare_min_fairness_ratio") or ""
    when = tags.get("live_compare_at", "never")
    min_pairs, max_flip = settings.gate_live_min_pairs, settings.gate_live_max_flip_rate
    return [
        LiveCheck(
            "live shadow pairs",
            pairs >= min_pairs,
            float(pairs),
            float(min_pairs),
            f"{pairs} pairs compared (report of {when})",
        ),
        LiveCheck(
            "live approve<->decline flip rate",
            bool(flip) and float(flip) <= max_flip,
            float(flip) if flip else None,
            max_flip,
            "no compare report" if not flip else f"flip rate {float(flip):.2%}",
        ),
        LiveCheck(
            "live four-fifths rule",
            None if not ratio else float(ratio) >= settings.gate_min_fairness_ratio,
            float(ratio) if ratio else None,
            settings.gate_min_fairness_ratio,
            "no group large enough to judge" if not ratio else f"lowest ratio {float(ratio):.3f}",
        ),
    ]
