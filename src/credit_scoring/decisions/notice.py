"""The adverse action notice of a declined application: printable HTML (print CSS).

Content follows Reg B's model notice (12 CFR 1002, appendix C, form C-1 with the credit score
disclosure) and the EU AI Act's right to an explanation (Art. 86): the action taken, the
principal reasons (at most four, the specific texts of the schema's reason-text catalogue, the
reviewer's own reason first when a person declined), the score with the range of the scale, the
dates, the model version and the applicant's rights. A PDF is the browser's "Save as PDF" of
this page: no PDF library is needed (the print CSS sets A4 pages and hides the navigation).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from credit_scoring.ledger import DecisionHistory
from credit_scoring.ledger.records import parse_ts
from credit_scoring.scoring.scaling import ScoreScaling

MAX_REASONS = 4
#: The scale's range is quoted between these probabilities of default.
_PD_RANGE = (0.999, 0.001)


class NoticeUnavailable(ValueError):
    """The decision in force is not a decline: there is no adverse action to notify."""


def notice_context(
    history: DecisionHistory, scaling: ScoreScaling, lender: str, today: datetime | None = None
) -> dict[str, Any]:
    """What the notice says (also the JSON of the notice for other renderers)."""
    if history.final_decision != "decline":
        raise NoticeUnavailable(
            f"decision {history.decision.decision_id} is '{history.final_decision}', "
            "not a decline: no adverse action notice"
        )
    d = history.decision.body
    reasons: list[str] = []
    declined_by = None
    if history.reviews:
        last = history.reviews[-1].body
        declined_by = last["reviewer"]
        reasons.append(last["reason"])
    reasons += [r["reason"] for r in d.get("reasons") or [] if r["reason"] not in reasons]
    return {
        "decision_id": d["decision_id"],
        "lender": lender,
        "date": (today or datetime.now(UTC)).date().isoformat(),
        "applied": parse_ts(d["ts"]).date().isoformat(),
        "reasons": reasons[:MAX_REASONS],
        "score": round(float(d["score"])),
        "score_low": round(scaling.point(_PD_RANGE[0])),
        "score_high": round(scaling.point(_PD_RANGE[1])),
        "model": f"{d['model_name']} version {d['model_version']}",
        "declined_by": declined_by,
    }


def render_notice(
    history: DecisionHistory, scaling: ScoreScaling, lender: str, today: datetime | None = None
) -> str:
    """The notice as a standalone HTML page (raises :class:`NoticeUnavailable`)."""
    env = Environment(
        loader=PackageLoader("credit_scoring.decisions", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
    )
    context = notice_context(history, scaling, lender, today)
    return env.get_template("notice.html.j2").render(n=context)
