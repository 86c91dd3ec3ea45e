"""Airflow DAG ``credit_scoring_portfolio``: rescore the whole book every month.

Monthly (and on manual trigger). ``score_portfolio`` runs
:func:`credit_scoring.batch.run.score_portfolio`, the code of ``credit-scoring score``: the
registered model (``alias``, default ``production``, or ``version``) loaded as the API loads it,
the local streaming engine or Spark, every row scored or written to the rejects file with its row
and reason, and the run fails unless rows in = rows scored + rows rejected. Outputs are renamed
into place only when complete, so a retried or re-run month replaces that month's scores whole.

Params: ``data`` and ``out`` (paths; ``{month}`` is replaced by the run's month, ``YYYY-MM`` of
its logical date: the run of 1 March 2026 scores ``2026-03``), e.g.
``/data/books/month={month}`` and ``/data/scores/month={month}/scores.parquet`` (defaults
from the environment variables ``CREDIT_SCORING_PORTFOLIO_DATA`` /
``CREDIT_SCORING_PORTFOLIO_OUT``), ``engine`` (``local`` | ``spark``), ``master`` (Spark
master URL; default ``local[*]``), ``alias``, ``version``,
``reasons`` (reason codes per row), ``batch_rows``.

The Spark engine needs the ``spark`` extra (PySpark) and Java on the worker; for a cluster, run
the same job with ``spark-submit`` instead (``docs/portfolio-scoring.md``).
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import Param, dag, get_current_context, task

DAG_ID = "credit_scoring_portfolio"


def resolve_path(template: str, month: str) -> str:
    """``template`` with ``{month}`` replaced by the run's month (``YYYY-MM``)."""
    return template.replace("{month}", month)


@dag(
    dag_id=DAG_ID,
    description="Monthly portfolio scoring with the production model (local engine or Spark).",
    schedule="@monthly",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["credit-scoring", "portfolio"],
    default_args={"retries": 1, "retry_delay": timedelta(minutes=5)},
    params={
        "data": Param(
            None,
            type=["null", "string"],
            description="Input file/folder/dataset; {month} = YYYY-MM of the run.",
        ),
        "out": Param(
            None, type=["null", "string"], description="Output Parquet; {month} = YYYY-MM."
        ),
        "engine": Param("local", enum=["local", "spark"]),
        "master": Param(None, type=["null", "string"], description="Spark master URL."),
        "alias": Param("production", type="string"),
        "version": Param(None, type=["null", "integer"], description="Instead of the alias."),
        "reasons": Param(4, type="integer", minimum=0),
        "batch_rows": Param(None, type=["null", "integer"], minimum=1),
    },
    doc_md=__doc__,
)
def credit_scoring_portfolio() -> None:
    """Portfolio DAG (see the module docstring)."""

    @task(execution_timeout=timedelta(hours=6))
    def score_portfolio() -> dict[str, Any]:
        """Score the month's book; fail on bad input or counts that do not add up."""
        from credit_scoring.batch.run import score_portfolio as run
        from credit_scoring.config import Settings

        ctx = get_current_context()
        params = ctx["params"]
        when = ctx.get("logical_date") or ctx.get("data_interval_start") or pendulum.now("UTC")
        month = when.strftime("%Y-%m")
        data = params["data"] or os.environ.get("CREDIT_SCORING_PORTFOLIO_DATA")
        out = params["out"] or os.environ.get("CREDIT_SCORING_PORTFOLIO_OUT")
        if not data or not out:
            raise ValueError(
                "set the params data and out (or CREDIT_SCORING_PORTFOLIO_DATA and "
                "CREDIT_SCORING_PORTFOLIO_OUT)"
            )
        report = run(
            Settings(),
            resolve_path(data, month),
            resolve_path(out, month),
            alias=None if params["version"] is not None else params["alias"],
            version=params["version"],
            reasons=params["reasons"],
            engine=params["engine"],
            batch_rows=params["batch_rows"],
            master=params["master"],
        )
        print(
            f"{report.rows_in:,} rows in = {report.rows_scored:,} scored + "
            f"{report.rows_rejected:,} rejected ({report.model_name} v{report.model_version})"
        )
        return report.as_dict()

    score_portfolio()


credit_scoring_portfolio()
