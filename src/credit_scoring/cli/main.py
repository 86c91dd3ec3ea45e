"""The ``credit-scoring`` command line: demo, train, validate, promote, rollback, models, serve,
monitor, score, schema and generate.

Heavy imports (MLflow, LightGBM) happen inside the commands so that ``--help`` stays instant.
Errors the user can fix (bad data, unknown version, failed gate) print one clear message and
exit non-zero, without a traceback.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stdout
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, cast

import typer
from pydantic import SecretStr
from rich.console import Console
from rich.table import Table

from credit_scoring.config import Settings, get_settings

app = typer.Typer(
    name="credit-scoring",
    help="Train, track, gate, promote and serve credit default-risk models with MLflow.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)
out = Console()
T = TypeVar("T")

EXIT_USER_ERROR = 2
EXIT_GATE_FAILED = 3
EXIT_DRIFT = 4
EXIT_COUNTS = 5


@contextmanager
def _user_errors() -> Iterator[None]:
    """Turn expected errors into one red line and exit code 2."""
    from credit_scoring.data.io import DataFileError
    from credit_scoring.data.validation import DataValidationError
    from credit_scoring.registry.promotion import PromotionError
    from credit_scoring.validation.gate import GateError

    try:
        yield
    except (KeyError, IndexError):
        raise  # LookupErrors of a bug, not of the user's input: keep the traceback
    except (
        DataValidationError,
        DataFileError,
        PromotionError,
        GateError,
        FileNotFoundError,
        LookupError,
        ValueError,
    ) as exc:
        console.print(f"[bold red]error:[/] {exc}", highlight=False, markup=True)
        raise typer.Exit(EXIT_USER_ERROR) from None


def _settings() -> Settings:
    settings = get_settings()
    where = settings.tracking_uri or f"embedded store {settings.resolved_tracking_uri}"
    console.print(f"[dim]MLflow: {where} · model {settings.model_name!r}[/]")
    return settings


@contextmanager
def _steps() -> Iterator[Callable[[str], None]]:
    """Progress of a long command on stderr (stdout stays clean for ``--json``): a Rich spinner
    per step when stderr is a terminal, one plain line per step otherwise (CI and other logs)."""
    if not console.is_terminal:
        yield lambda text: console.print(text, markup=False, highlight=False)
        return
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:

        def finish_all() -> None:
            for task in progress.tasks:
                if not task.finished:
                    progress.update(task.id, total=1, completed=1)

        def step(text: str) -> None:
            finish_all()
            progress.add_task(text, total=None)

        yield step
        finish_all()


def _run(fn: Callable[[], T]) -> T:
    # Libraries print progress and links ("View run ... at") to stdout; keep stdout for results.
    with _user_errors(), redirect_stdout(sys.stderr):
        return fn()


@app.command()
def train(
    data: Annotated[
        Path | None, typer.Option(help="CSV or Parquet file (default: bundled German Credit).")
    ] = None,
    target: Annotated[
        str | None, typer.Option(help="Target column (needed without --schema).")
    ] = None,
    schema: Annotated[
        Path | None,
        typer.Option(
            help="Declared feature schema (YAML/JSON); inferred from the data when absent."
        ),
    ] = None,
    idempotency_key: Annotated[
        str | None, typer.Option(help="Re-runs with the same key reuse the version it created.")
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    use_column: Annotated[
        list[str] | None,
        typer.Option(
            help="Without --schema: keep this column as a feature although inference set it "
            "aside (protected-looking, id, date, constant, likely leak). Repeatable."
        ),
    ] = None,
    tune: Annotated[
        bool,
        typer.Option(
            "--tune",
            help="Tune the selected LightGBM family with Optuna inside the training part "
            "(budget: CREDIT_SCORING_TUNE_TRIALS, CREDIT_SCORING_TUNE_TIMEOUT_S).",
        ),
    ] = False,
) -> None:
    """Validate data, train and calibrate, evaluate, log to MLflow and register a new version."""
    from credit_scoring.training.pipeline import train as run_train

    settings = _settings()
    if tune:
        settings = settings.model_copy(update={"tune": True})
    with _steps() as step:
        result = _run(
            lambda: run_train(
                data,
                target,
                schema,
                settings,
                idempotency_key,
                on_step=step,
                use_columns=use_column or (),
            )
        )
    if json_output:
        out.print_json(
            json.dumps(
                {
                    "run_id": result.run_id,
                    "version": result.version,
                    "metrics": result.metrics,
                    "reused": result.reused,
                }
            )
        )
        return
    m = result.metrics
    note = " (reused: same idempotency key)" if result.reused else ""
    out.print(
        f"Registered [bold]{settings.model_name}[/] version [bold]{result.version}[/]"
        f"{note} · run {result.run_id}"
    )
    if m:
        out.print(
            f"holdout AUC {m['test_auc']:.3f} · Gini {m['test_gini']:.3f} · "
            f"KS {m['test_ks']:.3f} · Brier {m['test_brier']:.3f} · "
            f"ECE {m['test_ece']:.3f}  (scorecard AUC {m['scorecard_test_auc']:.3f})"
        )
    out.print(f"Next: credit-scoring validate --version {result.version}")


@app.command()
def validate(
    version: Annotated[
        int | None, typer.Option(help="Version to validate (default: latest).")
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Run the validation gate; on a pass set alias 'staging', else exit 3 listing failures."""
    from credit_scoring.validation.gate import validate_version

    settings = _settings()
    report = _run(lambda: validate_version(version, settings))
    if json_output:
        out.print_json(json.dumps(report.as_dict()))
    else:
        table = Table(title=f"Validation gate · {report.model_name} v{report.version}")
        for col in ("check", "result", "value", "detail"):
            table.add_column(col)
        for c in report.checks:
            result = (
                "[dim]not judged[/]"
                if c.passed is None
                else "[green]pass[/]"
                if c.passed
                else "[yellow]warning[/]"
                if not c.blocking
                else "[red]FAIL[/]"
            )
            value = "" if c.value is None else f"{c.value:.4f}"
            table.add_row(c.name, result, value, c.detail)
        out.print(table)
    if not report.passed:
        console.print(
            f"[bold red]gate failed[/] for version {report.version}: "
            + "; ".join(report.failed_checks)
        )
        raise typer.Exit(EXIT_GATE_FAILED)
    (console if json_output else out).print(
        f"[green]Passed[/]: version {report.version} now has alias 'staging'. "
        f"Next: credit-scoring promote --version {report.version}"
    )


@app.command()
def promote(
    version: Annotated[
        int | None, typer.Option(help="Version (default: the 'staging' one).")
    ] = None,
    reason: Annotated[str, typer.Option(help="Why (recorded as a tag).")] = "",
    actor: Annotated[str | None, typer.Option("--by", help="Who (default: OS user).")] = None,
) -> None:
    """Move alias 'production' to a version that passed the gate (old one becomes 'previous')."""
    from credit_scoring.registry.promotion import promote as run_promote

    settings = _settings()
    v = _run(lambda: run_promote(version, reason, actor, settings))
    out.print(f"[green]Promoted[/] {settings.model_name} version {v} to 'production'.")


@app.command()
def rollback(
    reason: Annotated[str, typer.Option(help="Why (recorded as a tag).")] = "",
    actor: Annotated[str | None, typer.Option("--by", help="Who (default: OS user).")] = None,
) -> None:
    """Move alias 'production' back to the version that held it before."""
    from credit_scoring.registry.promotion import rollback as run_rollback

    settings = _settings()
    v = _run(lambda: run_rollback(reason, actor, settings))
    out.print(f"[yellow]Rolled back[/]: {settings.model_name} version {v} is 'production' again.")


@app.command()
def models(
    json_output: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """List registered versions with aliases, gate status and key metrics."""
    from credit_scoring.registry.promotion import list_versions

    settings = _settings()
    versions = _run(lambda: list_versions(settings))
    if json_output:
        out.print_json(
            json.dumps(
                [
                    {
                        "version": v.version,
                        "aliases": v.aliases,
                        "validation_status": v.validation_status,
                        "run_id": v.run_id,
                        "created": v.created.isoformat(),
                        "metrics": v.metrics,
                    }
                    for v in versions
                ]
            )
        )
        return
    if not versions:
        out.print(f"No versions of {settings.model_name!r} yet. Run: credit-scoring train")
        return
    table = Table(title=f"{settings.model_name} versions")
    for col in ("version", "aliases", "gate", "AUC", "KS", "Brier", "created", "run"):
        table.add_column(col)
    for v in versions:
        m = v.metrics
        table.add_row(
            str(v.version),
            ", ".join(v.aliases) or "-",
            v.validation_status,
            *(f"{m[k]:.3f}" if k in m else "" for k in ("test_auc", "test_ks", "test_brier")),
            v.created.strftime("%Y-%m-%d %H:%M"),
            v.run_id[:12],
        )
    out.print(table)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Bind address.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
    no_auth: Annotated[
        bool, typer.Option("--no-auth", help="Disable API keys (local use only).")
    ] = False,
) -> None:
    """Serve the model holding the serving alias (default 'production') with the scoring API."""
    settings = _settings()
    if no_auth:
        console.print("[yellow]Serving without API keys (--no-auth): local use only.[/]")
        settings = settings.model_copy(update={"auth_disabled": True})
    _serve(host, port, settings)


def _serve(host: str, port: int, settings: Settings) -> None:
    from credit_scoring.api.auth import AuthConfigError
    from credit_scoring.api.server import serve as run_serve

    try:
        run_serve(host, port, settings)
    except AuthConfigError as exc:
        console.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(EXIT_USER_ERROR) from None


@app.command()
def monitor(
    start: Annotated[
        datetime | None,
        typer.Option(help="Window start (UTC); default: end minus the monitoring window."),
    ] = None,
    end: Annotated[datetime | None, typer.Option(help="Window end (UTC); default: now.")] = None,
    source: Annotated[
        str,
        typer.Option(help="Decision ledger: auto (database if configured), postgres, embedded."),
    ] = "auto",
    alias: Annotated[str, typer.Option(help="Model whose training data is the reference.")] = (
        "production"
    ),
    no_log: Annotated[
        bool, typer.Option("--no-log", help="Do not log the report to MLflow.")
    ] = False,
) -> None:
    """Drift of the prediction log against the training reference; exit 4 when drift is found."""
    from credit_scoring.monitoring.run import run_monitoring

    if source not in ("auto", "postgres", "embedded"):
        console.print(
            f"[bold red]error:[/] --source must be auto, postgres or embedded, not {source!r}"
        )
        raise typer.Exit(EXIT_USER_ERROR)
    settings = _settings()
    chosen = cast(Literal["auto", "postgres", "embedded"], source)
    report = _run(
        lambda: run_monitoring(
            settings, start, end, source=chosen, alias=alias, log_to_mlflow=not no_log
        )
    )
    out.print_json(report.to_json())
    console.print(f"drift status: [bold]{report.status}[/] · {report.message}")
    if report.drift_detected:
        raise typer.Exit(EXIT_DRIFT)


@app.command()
def outcomes(
    data: Annotated[
        Path,
        typer.Option(
            help="CSV or Parquet: decision_id, defaulted, observation_date (see docs/evidence.md)."
        ),
    ],
    json_output: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Record realised outcomes of logged decisions; rejected rows are listed with a reason."""
    from credit_scoring.outcomes.intake import read_outcomes_file, record_outcomes

    settings = _settings()
    report = _run(lambda: record_outcomes(settings, read_outcomes_file(data), source=data.name))
    if json_output:
        out.print_json(json.dumps(report.as_dict()))
        return
    console.print(
        f"{report.received} received · [green]{report.recorded} recorded[/] · "
        f"{report.rejected_count} rejected ({report.store})"
    )
    for reason, ids in report.rejected.items():
        if ids:
            shown = ", ".join(ids[:10]) + (" ..." if len(ids) > 10 else "")
            console.print(f"  [yellow]{reason}[/]: {len(ids)} ({shown})", highlight=False)


def _date_range(text: str, what: str) -> tuple[date, date]:
    """``FROM..TO`` (ISO dates) as a pair of dates."""
    parts = text.split("..")
    try:
        if len(parts) != 2:
            raise ValueError
        first, second = date.fromisoformat(parts[0]), date.fromisoformat(parts[1])
    except ValueError:
        raise ValueError(f"{what} must be FROM..TO with ISO dates, got {text!r}") from None
    if second <= first:
        raise ValueError(f"{what}: {second} is not after {first}")
    return first, second


def _window(text: str | None) -> tuple[datetime | None, datetime | None]:
    """``--window``: ``<N>d`` (the last N days) or ``FROM..TO`` (decision dates, TO exclusive)."""
    if not text:
        return None, None
    if text.endswith("d") and text[:-1].isdigit():
        end = datetime.now(UTC)
        return end - timedelta(days=int(text[:-1])), end
    first, second = _date_range(text, "--window")
    return (
        datetime.combine(first, datetime.min.time(), UTC),
        datetime.combine(second, datetime.min.time(), UTC),
    )


@app.command()
def backtest(
    version: Annotated[
        int | None, typer.Option(help="Version (default: the one holding --alias).")
    ] = None,
    window: Annotated[
        str | None,
        typer.Option(
            help="Decisions backtested: '<N>d' (last N days) or 'YYYY-MM-DD..YYYY-MM-DD' "
            "(default: the last two performance windows)."
        ),
    ] = None,
    migration: Annotated[
        str | None,
        typer.Option(help="Grade migration matrix between two dates: 'YYYY-MM-DD..YYYY-MM-DD'."),
    ] = None,
    alias: Annotated[str, typer.Option(help="Alias used without --version.")] = "production",
    no_log: Annotated[
        bool, typer.Option("--no-log", help="Do not log the report to MLflow.")
    ] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """PD backtest per rating grade on realised outcomes; exit 4 when red."""
    from credit_scoring.monitoring.backtest import run_backtest

    settings = _settings()

    def go() -> Any:
        start, end = _window(window)
        pair = _date_range(migration, "--migration") if migration else None
        return run_backtest(
            settings,
            version=str(version) if version is not None else None,
            window_start=start,
            window_end=end,
            migration=pair,
            alias=alias,
            log_to_mlflow=not no_log,
        )

    report = _run(go)
    if json_output:
        out.print_json(report.to_json())
    else:
        table = Table(title=f"PD backtest {report.model_name} v{report.model_version}")
        for col in ("grade", "n", "defaults", "observed", "mean PD", "Jeffreys p", "light"):
            table.add_column(col, justify="right")
        for g in report.grades:
            if g["n"]:
                table.add_row(
                    g["grade"],
                    str(g["n"]),
                    str(g["defaults"]),
                    f"{g['observed_default_rate']:.2%}",
                    f"{g['mean_pd']:.2%}",
                    f"{g['jeffreys_p']:.3g}",
                    g["light"],
                )
        out.print(table)
        if report.realised and report.realised.auc:
            auc = report.realised.auc
            out.print(f"realised AUC {auc.estimate:.3f} [{auc.lower:.3f}, {auc.upper:.3f}]")
        if report.estimated_pending and report.estimated_pending.expected_auc:
            out.print(
                f"estimated AUC of {report.n_pending} pending decisions "
                f"{report.estimated_pending.expected_auc:.3f}"
            )
        if report.migration:
            m = report.migration
            out.print(
                f"grade migration {m.date_from}..{m.date_to}: {m.n} application keys at both "
                f"dates, {m.only_from + m.only_to} at one only, {m.without_key} decisions "
                "without a key; matrix in the report"
            )
    for alert in report.alerts:
        console.print(f"[yellow]alert:[/] {alert}", highlight=False)
    console.print(
        f"backtest status: [bold]{report.status}[/]"
        + (f" · MLflow run {report.mlflow_run_id}" if report.mlflow_run_id else "")
    )
    if report.red:
        raise typer.Exit(EXIT_DRIFT)


@app.command()
def compare(
    champion: Annotated[str, typer.Option(help="Alias of the served champion.")] = "production",
    challenger: Annotated[str, typer.Option(help="Alias of the shadow challenger.")] = "staging",
    since: Annotated[
        datetime | None,
        typer.Option(help="Pairs logged from (UTC); default: the last monitoring window."),
    ] = None,
    until: Annotated[datetime | None, typer.Option(help="Pairs logged until (UTC).")] = None,
    no_log: Annotated[
        bool, typer.Option("--no-log", help="Do not log the report to MLflow.")
    ] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Challenger report from the shadow pairs of live traffic (agreement, swaps, fairness)."""
    from credit_scoring.monitoring.compare import run_compare

    settings = _settings()
    report = _run(
        lambda: run_compare(
            settings, champion, challenger, since=since, until=until, log_to_mlflow=not no_log
        )
    )
    if json_output:
        out.print_json(report.to_json())
        return
    out.print(
        f"{report.n_pairs} pairs · v{report.champion_version} ({champion}) vs "
        f"v{report.challenger_version} ({challenger})"
    )
    if report.n_pairs:
        out.print(
            f"agreement {report.agreement_rate:.1%} · flips {report.flip_rate:.2%} · swap-in "
            f"{report.swap_in} · swap-out {report.swap_out} · approval delta "
            f"{report.approval_rate_delta:+.1%} · PD PSI {report.pd_psi:.3f}"
        )
    for f in report.fairness:
        out.print(f"four-fifths {f.attribute}: challenger ratio {f.challenger_ratio} ({f.passes})")
    for note in report.notes:
        console.print(f"[yellow]note:[/] {note}", highlight=False)


@app.command()
def demo(
    serve_after: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Start the API on 127.0.0.1:8000 at the end.")
    ] = False,
    port: Annotated[int, typer.Option(help="API port with --serve.")] = 8000,
) -> None:
    """Whole flow on the embedded store: data -> train -> validate -> promote (-> serve)."""
    from credit_scoring.registry.promotion import promote as run_promote
    from credit_scoring.training.pipeline import train as run_train
    from credit_scoring.validation.gate import validate_version

    settings = _settings()
    out.rule("1/3 train on the bundled German Credit data")
    with _steps() as step:
        result = _run(lambda: run_train(settings=settings, on_step=step))
    out.print(
        f"version {result.version}: holdout AUC {result.metrics['test_auc']:.3f}, "
        f"KS {result.metrics['test_ks']:.3f}"
    )
    out.rule("2/3 validation gate")
    report = _run(lambda: validate_version(result.version, settings))
    for c in report.checks:
        mark = "·" if c.passed is None else "✔" if c.passed else "!" if not c.blocking else "✘"
        out.print(f" {mark} {c.name}: {c.detail}")
    if not report.passed:
        console.print("[bold red]gate failed[/]: " + "; ".join(report.failed_checks))
        raise typer.Exit(EXIT_GATE_FAILED)
    out.rule("3/3 promotion")
    v = _run(lambda: run_promote(result.version, "demo", None, settings))
    out.print(f"[green]version {v} is in production[/]")
    out.print(
        "\nNext:\n"
        "  credit-scoring models                      # versions, aliases, gate status\n"
        "  credit-scoring serve --no-auth             # API on http://127.0.0.1:8000/docs\n"
        f"  mlflow ui --backend-store-uri {settings.resolved_tracking_uri}"
    )
    if serve_after:
        keys = _demo_workbench_keys(settings)
        console.print(
            f"[yellow]Serving version {v} on http://127.0.0.1:{port} without API keys (local "
            "demo). Ctrl-C stops it.[/]\n"
            f"[bold]Workbench: http://127.0.0.1:{port}/ui[/] — sign in with the officer key "
            f"[bold]{keys['officer']}[/] or the auditor key [bold]{keys['auditor']}[/] "
            f"(kept in {settings.home / _DEMO_KEYS}).\n"
            f"API docs: http://127.0.0.1:{port}/docs"
        )
        demo_settings = settings.model_copy(
            update={
                "auth_disabled": True,
                "officer_api_keys": settings.officer_api_keys or SecretStr(keys["officer"]),
                "auditor_api_keys": settings.auditor_api_keys or SecretStr(keys["auditor"]),
            }
        )
        _serve("127.0.0.1", port, demo_settings)


_DEMO_KEYS = "workbench-demo-keys.json"


def _demo_workbench_keys(settings: Settings) -> dict[str, str]:
    """Officer and auditor keys of the local demo: drawn once, kept (mode 600) under home."""
    import secrets

    path = settings.home / _DEMO_KEYS
    if path.is_file():
        return cast(dict[str, str], json.loads(path.read_text(encoding="utf-8")))
    keys = {role: f"{role}-{secrets.token_urlsafe(9)}" for role in ("officer", "auditor")}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(json.dumps(keys), encoding="utf-8")
    return keys


@app.command("schema")
def schema_cmd(
    data: Annotated[Path, typer.Option(help="CSV or Parquet file.")],
    target: Annotated[str, typer.Option(help="Target column.")],
    output: Annotated[Path, typer.Option("--out", help="Schema file to write (.yaml/.json).")],
    use_column: Annotated[
        list[str] | None,
        typer.Option(help="Keep this column as a feature although inference set it aside."),
    ] = None,
) -> None:
    """Infer a feature schema from a data file, to review and declare."""
    from credit_scoring.data.inference import infer
    from credit_scoring.data.io import read_table

    inference = _run(lambda: infer(read_table(data), target, use=use_column or ()))
    if inference.findings:
        console.print(inference.notice(), markup=False)
    schema = inference.schema
    schema.dump(output)
    out.print(f"Wrote {output} ({len(schema.features)} features, target {target!r}).")


@app.command()
def generate(
    rows: Annotated[int, typer.Option(help="Number of applications.")],
    output: Annotated[Path, typer.Option("--out", help="Output file (.csv or .parquet).")],
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    schema_out: Annotated[
        Path | None,
        typer.Option(help="Where to write the declared schema (default: <out>.schema.yaml)."),
    ] = None,
    drift: Annotated[
        str, typer.Option(help="Population drift: none, income or product_mix.")
    ] = "none",
    drift_strength: Annotated[
        float, typer.Option(help="Income drift: share by which incomes fall.")
    ] = 0.2,
) -> None:
    """Write seeded synthetic applications with a known true PD (column true_pd) and their
    declared schema next to them."""
    from credit_scoring.data.synthetic import DRIFTS, ground_truth_auc, synthetic_schema
    from credit_scoring.data.synthetic import generate as run_generate

    if drift not in DRIFTS:
        raise typer.BadParameter(f"--drift must be one of {', '.join(DRIFTS)}, got {drift!r}")
    frame = _run(
        lambda: run_generate(rows, seed, drift=drift, drift_strength=drift_strength)  # type: ignore[arg-type]
    )
    if output.suffix == ".parquet":
        frame.to_parquet(output, index=False)
    else:
        frame.to_csv(output, index=False)
    schema_file = schema_out or output.with_name(f"{output.stem}.schema.yaml")
    synthetic_schema().dump(schema_file)
    out.print(
        f"Wrote {rows:,} rows to {output} (default rate {frame['default'].mean():.3f}, "
        f"ground-truth AUC {ground_truth_auc(frame):.3f}) and the schema to {schema_file}."
    )


@app.command("score")
def score_cmd(
    data: Annotated[
        str, typer.Option(help="CSV/Parquet file, folder or partitioned Parquet dataset.")
    ],
    output: Annotated[
        str,
        typer.Option(
            "--out", help="Output Parquet (a file; a directory of parts with --engine spark)."
        ),
    ],
    alias: Annotated[str, typer.Option(help="Registered alias to score with.")] = "production",
    version: Annotated[
        int | None, typer.Option(help="Registered version (instead of --alias).")
    ] = None,
    reasons: Annotated[int, typer.Option(help="Adverse reason codes per row (0: none).")] = 4,
    engine: Annotated[str, typer.Option(help="local (streaming) or spark.")] = "local",
    batch_rows: Annotated[
        int | None, typer.Option(help="Rows per record batch (default 131072).")
    ] = None,
    master: Annotated[
        str | None, typer.Option(help="Spark master URL with --engine spark (local[*]).")
    ] = None,
    rejects: Annotated[
        str | None, typer.Option(help="Rejects CSV (default: <out>.rejects.csv beside --out).")
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Score a portfolio file or dataset with the registered model: PD, points, decision,
    reasons; invalid rows go to a rejects file and rows in = scored + rejected."""
    import signal

    from credit_scoring.batch.report import CountMismatchError
    from credit_scoring.batch.run import score_portfolio
    from credit_scoring.scoring.model import ModelLoadError

    settings = _settings()
    # A Kubernetes Job or Airflow stops with SIGTERM: unwind so no temporary output is left.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    chosen = cast(Literal["local", "spark"], engine)
    try:
        with _progress() as progress:
            report = _run(
                lambda: score_portfolio(
                    settings,
                    data,
                    output,
                    alias=None if version is not None else alias,
                    version=version,
                    reasons=reasons,
                    engine=chosen,
                    batch_rows=batch_rows,
                    master=master,
                    rejects=rejects,
                    progress=progress,
                )
            )
    except CountMismatchError as exc:
        console.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(EXIT_COUNTS) from None
    except ModelLoadError as exc:
        console.print(f"[bold red]error:[/] the model cannot score: {exc}")
        raise typer.Exit(EXIT_USER_ERROR) from None
    if json_output:
        out.print_json(json.dumps(report.as_dict()))
        return
    out.print(
        f"Scored [bold]{report.rows_scored:,}[/] of {report.rows_in:,} rows with "
        f"{report.model_name} v{report.model_version} ({report.engine}, "
        f"{report.rows_per_second:,.0f} rows/s); rejected {report.rows_rejected:,}: "
        f"rows in = scored + rejected ✔\n  output:  {report.output}\n  rejects: {report.rejects}"
    )


@contextmanager
def _progress() -> Iterator[Callable[[int | None], Callable[[int], None]] | None]:
    """A Rich progress bar (rows, rows/s, ETA) when stderr is a terminal, else nothing."""
    if not console.is_terminal:
        yield None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    bar = Progress(
        TextColumn("scoring"),
        BarColumn(),
        TaskProgressColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]} rows/s"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
    )

    def start(total: int | None) -> Callable[[int], None]:
        task = bar.add_task("scoring", total=total, rate="-")

        def advance(rows: int) -> None:
            bar.advance(task, rows)
            speed = bar.tasks[task].speed
            bar.update(task, rate=f"{speed:,.0f}" if speed else "-")

        return advance

    with bar:
        yield start


def _secret(value: str | None, file: Path | None, what: str) -> str:
    if file is not None:
        if not file.is_file():
            raise ValueError(f"{what}: secret file {str(file)!r} does not exist")
        return file.read_text(encoding="utf-8").strip()
    if not value:
        raise ValueError(f"{what}: give the password or a file holding it")
    return value


@app.command("registry-access")
def registry_access(
    admin_user: Annotated[str, typer.Option(envvar="MLFLOW_AUTH_ADMIN_USERNAME")] = "admin",
    admin_password: Annotated[
        str | None, typer.Option(envvar="MLFLOW_AUTH_ADMIN_PASSWORD", show_default=False)
    ] = None,
    admin_password_file: Annotated[
        Path | None, typer.Option(envvar="MLFLOW_AUTH_ADMIN_PASSWORD_FILE")
    ] = None,
    writer_user: Annotated[
        str, typer.Option(envvar="CREDIT_SCORING_REGISTRY_WRITER_USERNAME")
    ] = "credit-scoring-writer",
    writer_password: Annotated[
        str | None,
        typer.Option(envvar="CREDIT_SCORING_REGISTRY_WRITER_PASSWORD", show_default=False),
    ] = None,
    writer_password_file: Annotated[
        Path | None, typer.Option(envvar="CREDIT_SCORING_REGISTRY_WRITER_PASSWORD_FILE")
    ] = None,
    reader_user: Annotated[
        str, typer.Option(envvar="CREDIT_SCORING_REGISTRY_READER_USERNAME")
    ] = "credit-scoring-reader",
    reader_password: Annotated[
        str | None,
        typer.Option(envvar="CREDIT_SCORING_REGISTRY_READER_PASSWORD", show_default=False),
    ] = None,
    reader_password_file: Annotated[
        Path | None, typer.Option(envvar="CREDIT_SCORING_REGISTRY_READER_PASSWORD_FILE")
    ] = None,
) -> None:
    """Set up MLflow basic-auth identities: a writer (training, promotion) and a read-only
    identity for the APIs (403 on alias changes). Idempotent; passwords from secret files."""
    from credit_scoring.registry.access import Identity, RegistryAccessError, ensure_registry_access

    settings = get_settings()
    with _user_errors():
        if settings.embedded:
            raise ValueError("registry-access needs MLFLOW_TRACKING_URI (a tracking server)")
        try:
            actions = ensure_registry_access(
                settings.resolved_tracking_uri,
                admin=Identity(admin_user, _secret(admin_password, admin_password_file, "admin")),
                writer=Identity(
                    writer_user, _secret(writer_password, writer_password_file, "writer")
                ),
                reader=Identity(
                    reader_user, _secret(reader_password, reader_password_file, "reader")
                ),
                model_name=settings.model_name,
                experiment_name=settings.experiment_name,
            )
        except RegistryAccessError as exc:
            raise ValueError(str(exc)) from None
    for action in actions:
        out.print(action, highlight=False)


@app.command("registry-ready")
def registry_ready(
    permission: Annotated[
        str, typer.Option(help="READ, EDIT or MANAGE (the writer's grant: MANAGE).")
    ] = "MANAGE",
    timeout: Annotated[float, typer.Option(help="Seconds to wait.")] = 600.0,
) -> None:
    """Wait until the configured registry identity holds PERMISSION on the registered model
    (a training pod started next to the `registry-access` job). Exit 1 at the timeout."""
    from pydantic import SecretStr

    from credit_scoring.registry.access import Identity, RegistryAccessError, wait_for_grant

    settings = get_settings()
    with _user_errors():
        if settings.embedded:
            raise ValueError("registry-ready needs MLFLOW_TRACKING_URI (a tracking server)")
        username = settings.registry_username or os.environ.get("MLFLOW_TRACKING_USERNAME")
        password = settings.registry_password or SecretStr(
            os.environ.get("MLFLOW_TRACKING_PASSWORD", "")
        )
        if not username or not password.get_secret_value():
            raise ValueError(
                "registry-ready needs the registry identity: CREDIT_SCORING_REGISTRY_USERNAME and "
                "CREDIT_SCORING_REGISTRY_PASSWORD[_FILE] (or MLFLOW_TRACKING_USERNAME/_PASSWORD)"
            )
        try:
            waited = wait_for_grant(
                settings.resolved_tracking_uri,
                Identity(username, password.get_secret_value()),
                model_name=settings.model_name,
                permission=permission.upper(),
                timeout_s=timeout,
            )
        except RegistryAccessError as exc:
            raise ValueError(str(exc)) from None
    out.print(
        f"{username}: {permission.upper()} on registered model {settings.model_name} "
        f"(waited {waited:.0f} s)",
        highlight=False,
    )


ledger_app = typer.Typer(
    help="The decision ledger (every scored application and review): verify, purge.",
    no_args_is_help=True,
)
app.add_typer(ledger_app, name="ledger")


@ledger_app.command("verify")
def ledger_verify() -> None:
    """Re-hash the whole chain; exit 1 naming every edited, deleted or reordered entry."""
    from credit_scoring.ledger import LedgerError, open_ledger

    settings = get_settings()
    store = open_ledger(settings)
    try:
        with _user_errors():
            try:
                result = store.verify()
            except LedgerError as exc:
                raise ValueError(str(exc)) from None
    finally:
        store.close()
    for problem in result.problems:
        console.print(f"[bold red]tampered:[/] {problem}", highlight=False)
    status = "ok" if result.ok else f"{len(result.problems)} problem(s)"
    out.print(
        f"ledger {store.describe()}: {result.entries} entries, head seq {result.head_seq} "
        f"hash {result.head_hash}: {status}",
        highlight=False,
        soft_wrap=True,
    )
    if not result.ok:
        raise typer.Exit(1)


@ledger_app.command("purge")
def ledger_purge(
    days: Annotated[
        int | None,
        typer.Option(help="Keep this many days (default: CREDIT_SCORING_LEDGER_RETENTION_DAYS)."),
    ] = None,
) -> None:
    """Delete entries older than the retention period (never below 183 days)."""
    from datetime import UTC, timedelta

    from credit_scoring.ledger import LedgerError, open_ledger

    settings = get_settings()
    keep = settings.ledger_retention_days if days is None else days
    with _user_errors():
        if keep < 183:
            raise ValueError(f"--days {keep}: the ledger is kept at least 183 days (6 months)")
        store = open_ledger(settings)
        try:
            deleted = store.purge(datetime.now(UTC) - timedelta(days=keep))
        except LedgerError as exc:
            raise ValueError(str(exc)) from None
        finally:
            store.close()
    out.print(f"deleted {deleted} ledger entries older than {keep} days")


def main() -> Any:  # pragma: no cover - console entry point
    """Console script entry point."""
    os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")  # MLflow probes git; keep it silent
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    return app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
