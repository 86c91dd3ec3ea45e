"""A ledger decision with everything needed to explain it to a person.

``GET /v1/decisions/{id}`` and the workbench's decision page show the same thing: the stored
record (inputs, PD, points, band, reason codes, model version, chain position and hash), the
reviews linked to it, the decision in force, and an explanation in words.
"""

from __future__ import annotations

from typing import Any

from credit_scoring.ledger import DecisionHistory, LedgerEntry
from credit_scoring.scoring.scaling import ScoreScaling


def _entry(entry: LedgerEntry) -> dict[str, Any]:
    return {**entry.body, "seq": entry.seq, "hash": entry.hash, "prev_hash": entry.prev_hash}


def explanation(history: DecisionHistory, scaling: ScoreScaling | None) -> dict[str, Any]:
    """The decision in words: summary, principal reasons, reviews (``scaling``: the bands)."""
    d = history.decision.body
    pd_, score = float(d["probability"]), float(d["score"])
    summary = (
        f"Model {d['model_name']} version {d['model_version']} estimated a probability of "
        f"default of {pd_:.1%}, a score of {score:.0f} points: decision band '{d['decision']}'."
    )
    bands = None
    if scaling is not None:
        bands = (
            f"Approve when the probability of default is below {scaling.approve_below_pd:.0%} "
            f"(score above {scaling.point(scaling.approve_below_pd):.0f}), decline at or above "
            f"{scaling.decline_above_pd:.0%} (score {scaling.point(scaling.decline_above_pd):.0f} "
            "or below), review in between."
        )
    reasons = [f"{r['reason']} ({float(r['points']):+.0f} points)" for r in d.get("reasons") or []]
    reviews = [
        f"{r.body['ts']}: {r.body['reviewer']} set the final decision to "
        f"'{r.body['final_decision']}' ({r.body['reason']})"
        for r in history.reviews
    ]
    final = history.final_decision
    if history.reviews:
        summary += f" After human review the decision in force is '{final}'."
    return {
        "summary": summary,
        "bands": bands,
        "principal_reasons": reasons,
        "reviews": reviews,
        "final_decision": final,
    }


def decision_view(history: DecisionHistory, scaling: ScoreScaling | None) -> dict[str, Any]:
    """The full record, its reviews (oldest first) and the explanation, as JSON."""
    return {
        "decision_id": history.decision.decision_id,
        "final_decision": history.final_decision,
        "decision": _entry(history.decision),
        "reviews": [_entry(r) for r in history.reviews],
        "explanation": explanation(history, scaling),
    }
