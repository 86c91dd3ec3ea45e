"""Benchmark of the scoring API against ``mlflow models serve`` and a bare FastAPI endpoint.

Prints a Markdown table (paste it into benchmarks/README.md). Everything runs on 127.0.0.1 with
one uvicorn worker per server, the same registered model version and the same applicant:

* ``api``: ``POST /v1/score`` of this API (validation, reason codes, prediction log, metrics);
* ``mlflow``: ``POST /invocations`` of ``mlflow models serve --env-manager local``;
* ``bare``: a FastAPI endpoint returning a constant (the HTTP ceiling, benchmarks/api_bare_app.py).

Load: ``wrk`` (Debian package ``wrk``), keep-alive, 1 and 8 connections, ``--duration`` seconds
each. Also: cold start (process start to first 200), RSS after the load, and batch scoring
rows/s over HTTP against raw ``booster.predict`` on the same rows in-process.

Usage (from the repository root): ``.venv/bin/python benchmarks/api_bench.py [--duration 10]``.
The model is trained into a temporary embedded MLflow store (about a minute).

Before/after a change: ``--compare before=/path/to/old/checkout/src after=src --rounds 2`` serves
the same trained version from each source tree in turn (interleaved, ``--rounds`` times each, so
load from other jobs on a shared machine hits both alike) and prints ``/v1/score`` req/s only.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
API_KEY = "bench-key"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children (MiB)."""
    total = 0
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


@dataclass
class Server:
    name: str
    url: str
    body: bytes
    headers: dict[str, str]
    proc: subprocess.Popen[bytes]
    cold_start_s: float


def start_server(
    name: str,
    cmd: list[str],
    env: dict[str, str],
    url: str,
    body: bytes,
    headers: dict[str, str],
    log: Path,
    timeout: float = 300,
) -> Server:
    """Start a server and time it until the scoring request first answers 200."""
    t0 = time.perf_counter()
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [*PIN["server"], *cmd],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=ROOT,
            start_new_session=True,
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited early; see {log}")
        try:
            r = httpx.post(url, content=body, headers=headers, timeout=5)
            if r.status_code == 200:
                return Server(name, url, body, headers, proc, time.perf_counter() - t0)
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"{name} not serving within {timeout}s; see {log}")


def stop_server(server: Server) -> None:
    if server.proc.poll() is None:
        os.killpg(server.proc.pid, signal.SIGTERM)
        try:
            server.proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(server.proc.pid, signal.SIGKILL)
            server.proc.wait(10)


#: ``--pin``: the server on CPU 0, wrk on CPU 1 (``taskset``), so that neither steals the
#: other's core; the server's own children (the ledger shipper) share CPU 0 with it.
PIN: dict[str, list[str]] = {"server": [], "wrk": []}


def wrk(server: Server, connections: int, duration: int, workdir: Path) -> dict[str, float]:
    """Run wrk with keep-alive connections; return req/s, p50/p99 (ms) and errors."""
    script = workdir / f"{server.name}.lua"
    hdrs = "\n".join(f'wrk.headers["{k}"] = "{v}"' for k, v in server.headers.items())
    script.write_text(
        f'wrk.method = "POST"\nwrk.body = {json.dumps(server.body.decode())}\n{hdrs}\n',
        encoding="utf-8",
    )
    threads = min(connections, 2)
    out = subprocess.run(
        [
            *PIN["wrk"],
            "wrk",
            "-t",
            str(threads),
            "-c",
            str(connections),
            "-d",
            f"{duration}s",
            "--latency",
            "-s",
            str(script),
            server.url,
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=duration + 60,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _latency(out, "50%")
    p99 = _latency(out, "99%")
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    errors = 0
    if m := re.search(r"Non-2xx or 3xx responses: (\d+)", out):
        errors += int(m.group(1))
    if m := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out):
        errors += sum(int(g) for g in m.groups())
    return {"rps": rps, "p50": p50, "p99": p99, "errors": errors, "requests": total}


def _latency(out: str, pct: str) -> float:
    m = re.search(rf"\s{re.escape(pct)}\s+([\d.]+)(us|ms|s)\b", out)
    if not m:
        return float("nan")
    value, unit = float(m.group(1)), m.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


def train_model(home: Path) -> tuple[str, dict[str, Any], list[dict[str, Any]]]:
    """Train and promote one version in an embedded store; return version, applicant, rows."""
    from credit_scoring.config import Settings
    from credit_scoring.data.io import load_german_credit
    from credit_scoring.registry.tracking import client
    from credit_scoring.training.pipeline import train

    settings = Settings(home=home, cv_folds=2, cv_repeats=1)
    result = train(settings=settings)
    version = str(result.version)
    mc = client(settings)
    mc.set_registered_model_alias(settings.model_name, "production", version)
    import credit_scoring
    from credit_scoring.data.schema import FeatureSchema

    # The schema of the tree that trains (with --train-with, another checkout's).
    schema_path = Path(credit_scoring.__file__).parent / "data/bundled/german_credit.schema.yaml"
    names = FeatureSchema.load(schema_path).feature_names
    frame = load_german_credit()[names]
    rows = [
        {str(k): (v.item() if hasattr(v, "item") else v) for k, v in r.items()}
        for r in frame.to_dict(orient="records")
    ]
    return version, rows[1], rows


def raw_booster_rows_per_s(home: Path, version: str, rows: list[dict[str, Any]]) -> float:
    """Rows/s of plain ``booster.predict`` on the encoded rows (in-process, best of 5)."""
    import mlflow.artifacts

    from credit_scoring.scoring.model import CreditModel

    local = mlflow.artifacts.download_artifacts(
        artifact_uri=f"models:/credit-scoring/{version}",
        dst_path=str(home / "raw"),
        tracking_uri=f"sqlite:///{home / 'mlflow.db'}",
        registry_uri=f"sqlite:///{home / 'mlflow.db'}",
    )
    model = CreditModel.from_dir(local)
    x = model.encoder.encode_records(rows)
    best = 0.0
    for _ in range(5):
        t = time.perf_counter()
        model.booster.predict(x)
        best = max(best, len(rows) / (time.perf_counter() - t))
    return best


def http_batch_rows_per_s(url: str, rows: list[dict[str, Any]]) -> float:
    """Rows/s of ``POST /v1/score/batch`` with all rows in one request (best of 5)."""
    body = json.dumps({"applications": rows}).encode()
    best = 0.0
    with httpx.Client(
        headers={"X-API-Key": API_KEY, "content-type": "application/json"}, timeout=60
    ) as client:
        for _ in range(5):
            t = time.perf_counter()
            r = client.post(url, content=body)
            r.raise_for_status()
            best = max(best, len(rows) / (time.perf_counter() - t))
    return best


def _stat(path: Path) -> tuple[int, float]:
    """(parent pid, user + system CPU seconds) of the process whose /proc stat is ``path``."""
    fields = path.read_text().rsplit(")", 1)[1].split()
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (from /proc, clock ticks)."""
    return _stat(Path(f"/proc/{pid}/stat"))[1]


def _children_cpu_seconds(pid: int) -> float:
    """CPU seconds of the live child processes of ``pid`` (the API's ledger shipper)."""
    total = 0.0
    for path in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent, cpu = _stat(path)
        except OSError:  # exited meanwhile
            continue
        if parent == pid:
            total += cpu
    return total


def shadow_cost(args: argparse.Namespace, work: Path, spec: tuple[Any, ...]) -> None:
    """``/v1/score`` at 8 connections with the shadow challenger off and on (100% sampled; the
    ``staging`` alias on the same version). Both servers run side by side; ``--rounds`` short
    wrk runs alternate between them (the order flips every round) so that load from other jobs
    on a shared machine hits both alike. Reports medians, the median of the per-round ratios and
    the server CPU per request (process CPU time / requests: far less sensitive to the
    machine's load than req/s). Also checks the shadow really ran (pairs logged)."""
    cmd, env, path, body, headers = spec
    servers: dict[str, Server] = {}
    homes: dict[str, Path] = {}
    try:
        for mode in ("off", "on"):
            port = free_port()
            homes[mode] = work / f"shadow-{mode}"
            run_env = {**env, "CREDIT_SCORING_HOME": str(homes[mode])}
            if mode == "on":
                run_env.update(
                    CREDIT_SCORING_SHADOW_ALIAS="staging", CREDIT_SCORING_SHADOW_FRACTION="1"
                )
            print(f"# starting the api with the shadow {mode}...", file=sys.stderr)
            servers[mode] = start_server(
                f"api-shadow-{mode}",
                [*cmd, "--port", str(port)],
                run_env,
                f"http://127.0.0.1:{port}{path}",
                body,
                headers,
                work / f"shadow-{mode}.log",
            )
        metrics_url = servers["on"].url.replace(path, "/metrics")
        deadline = time.monotonic() + 120
        while "credit_scoring_shadow_model_info{" not in httpx.get(metrics_url).text:
            if time.monotonic() > deadline:
                raise TimeoutError("shadow version not loaded")
            time.sleep(0.2)
        for server in servers.values():
            wrk(server, 2, 2, work)
        runs: dict[str, list[dict[str, float]]] = {"off": [], "on": []}
        for r in range(args.rounds):
            order = ("off", "on") if r % 2 == 0 else ("on", "off")
            for mode in order:
                server = servers[mode]
                cpu0 = _cpu_seconds(server.proc.pid)
                res = wrk(server, 8, args.duration, work)
                res["cpu_ms_per_request"] = (
                    1000 * (_cpu_seconds(server.proc.pid) - cpu0) / max(res["requests"], 1)
                )
                runs[mode].append(res)
        time.sleep(1)  # the shadow worker writes every 0.2 s
        shadow_rows = sum(
            len(f.read_text().splitlines())
            for f in (homes["on"] / "shadow-log").glob("shadow-*.jsonl")
        )
    finally:
        for server in servers.values():
            stop_server(server)

    def median(values: list[float]) -> float:
        values = sorted(values)
        mid = len(values) // 2
        return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2

    def col(mode: str, key: str) -> list[float]:
        return [x[key] for x in runs[mode]]

    print(
        f"Shadow challenger cost: /v1/score, 8 connections, {args.rounds} alternating rounds of "
        f"{args.duration}s per server, both servers up side by side, same version, shadow 100%.\n"
    )
    print("| shadow | median req/s | median p99 ms | median CPU ms/request | req/s per round |")
    print("|---|---|---|---|---|")
    for mode in ("off", "on"):
        per_round = ", ".join(f"{x:.0f}" for x in col(mode, "rps"))
        print(
            f"| {mode} | {median(col(mode, 'rps')):.0f} | {median(col(mode, 'p99')):.2f} "
            f"| {median(col(mode, 'cpu_ms_per_request')):.3f} | {per_round} |"
        )
    rps_ratio = median([b / a for a, b in zip(col("off", "rps"), col("on", "rps"), strict=True)])
    p99_ratio = median([b / a for a, b in zip(col("off", "p99"), col("on", "p99"), strict=True)])
    cpu_ratio = median(col("on", "cpu_ms_per_request")) / median(col("off", "cpu_ms_per_request"))
    print(
        f"\nper-round ratios on/off (median): throughput {rps_ratio:.2f}x (goal >= 0.85x), "
        f"p99 {p99_ratio:.2f}x (goal <= 1.15x); CPU per request {cpu_ratio:.2f}x; "
        f"shadow pairs logged: {shadow_rows} of {sum(col('on', 'requests')):.0f} requests "
        "(+ warm-up)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument(
        "--compare",
        nargs="+",
        metavar="LABEL=SRC",
        help="only the api, from each source tree (a checkout's src/), interleaved",
    )
    parser.add_argument("--rounds", type=int, default=2, help="rounds of --compare / --shadow")
    parser.add_argument(
        "--train-with",
        metavar="SRC",
        help="train the model with this source tree (e.g. the 'before' checkout's src/ when it "
        "refuses models trained by newer code); default: this tree",
    )
    parser.add_argument(
        "--pin",
        action="store_true",
        help="server on CPU 0 and wrk on CPU 1 (taskset): steadier figures on a 2-core host",
    )
    parser.add_argument("--train-only", metavar="HOME", help=argparse.SUPPRESS)
    parser.add_argument(
        "--shadow",
        action="store_true",
        help="only the api, shadow challenger off vs on (100%%), interleaved: the shadow's cost",
    )
    args = parser.parse_args()
    if args.train_only:  # child of --train-with: train with the tree on PYTHONPATH
        print(json.dumps(train_model(Path(args.train_only))))
        return
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (Debian: apt-get install -y wrk)")
    if args.pin:
        PIN.update(server=["taskset", "-c", "0"], wrk=["taskset", "-c", "1"])
    work = Path(tempfile.mkdtemp(prefix="api-bench-"))
    home = work / "home"
    print(f"# working in {work}; training the model...", file=sys.stderr)
    if args.train_with:
        tree = f"{Path(args.train_with).resolve()}{os.pathsep}{ROOT}"
        proc = subprocess.run(
            [sys.executable, __file__, "--train-only", str(home)],
            env={**os.environ, "PYTHONPATH": tree},
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            sys.exit(f"training with {args.train_with} failed:\n{proc.stderr[-3000:]}")
        version, applicant, rows = json.loads(proc.stdout.strip().splitlines()[-1])
    else:
        version, applicant, rows = train_model(home)
    tracking = f"sqlite:///{home / 'mlflow.db'}"
    base_env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": tracking,
        "PYTHONPATH": str(ROOT),
        # `mlflow models serve` starts `uvicorn` from PATH.
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    one = json.dumps(applicant).encode()
    servers_spec = {
        "api": (
            [
                str(BIN / "python"),
                "-m",
                "uvicorn",
                "--factory",
                "credit_scoring.api.app:create_app",
                "--host",
                "127.0.0.1",
                "--no-access-log",
            ],
            {
                **base_env,
                "CREDIT_SCORING_HOME": str(work / "api-home"),
                "CREDIT_SCORING_API_KEYS": API_KEY,
                "CREDIT_SCORING_API_LOG_LEVEL": "WARNING",
            },
            "/v1/score",
            one,
            {"X-API-Key": API_KEY, "Content-Type": "application/json"},
        ),
        "mlflow": (
            [
                str(BIN / "mlflow"),
                "models",
                "serve",
                "-m",
                f"models:/credit-scoring/{version}",
                "--env-manager",
                "local",
                "-w",
                "1",
                "-h",
                "127.0.0.1",
            ],
            base_env,
            "/invocations",
            json.dumps({"dataframe_records": [applicant]}).encode(),
            {"Content-Type": "application/json"},
        ),
        "bare": (
            [
                str(BIN / "python"),
                "-m",
                "uvicorn",
                "--factory",
                "benchmarks.api_bare_app:create_app",
                "--host",
                "127.0.0.1",
                "--no-access-log",
            ],
            base_env,
            "/score",
            one,
            {"Content-Type": "application/json"},
        ),
    }
    if args.compare:
        compare(args, work, servers_spec["api"])
        return
    if args.shadow:
        from credit_scoring.config import Settings
        from credit_scoring.registry.tracking import client

        client(Settings(home=home)).set_registered_model_alias("credit-scoring", "staging", version)
        shadow_cost(args, work, servers_spec["api"])
        return
    results: dict[str, dict[Any, Any]] = {}
    batch: dict[str, float] = {}
    for name, (cmd, env, path, body, headers) in servers_spec.items():
        port = free_port()
        full = [*cmd, "--port" if name != "mlflow" else "-p", str(port)]
        print(f"# starting {name}...", file=sys.stderr)
        server = start_server(
            name, full, env, f"http://127.0.0.1:{port}{path}", body, headers, work / f"{name}.log"
        )
        try:
            # Warm-up, then the measured runs.
            wrk(server, 2, 2, work)
            res: dict[Any, Any] = {"cold_start_s": server.cold_start_s}
            for c in (1, 8):
                res[c] = wrk(server, c, args.duration, work)
            res["rss_mb"] = rss_mb(server.proc.pid)
            if name == "api":
                url = f"http://127.0.0.1:{port}/v1/score/batch"
                batch["api_http"] = http_batch_rows_per_s(url, rows)
                batch["api_http_no_reasons"] = http_batch_rows_per_s(url + "?max_reasons=0", rows)
            results[name] = res
        finally:
            stop_server(server)
    batch["raw_booster"] = raw_booster_rows_per_s(work, version, rows)
    print(render(results, batch, len(rows), args.duration))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


def compare(args: argparse.Namespace, work: Path, spec: tuple[Any, ...]) -> None:
    """``POST /v1/score`` req/s of the same version served from several source trees."""
    cmd, env, path, body, headers = spec
    trees = [item.split("=", 1) for item in args.compare]
    lines = [
        "| round | code | req/s 1 conn | req/s 8 conns | p99 ms 8 conns "
        "| server CPU us/req 8 conns | its children's CPU us/req 8 conns |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    runs: dict[str, list[tuple[float, ...]]] = {}
    for rnd in range(1, args.rounds + 1):
        for label, src in trees:
            port = free_port()
            tree_env = {**env, "PYTHONPATH": f"{Path(src).resolve()}{os.pathsep}{ROOT}"}
            print(f"# round {rnd}: {label} ({src})...", file=sys.stderr)
            server = start_server(
                label,
                [*cmd, "--port", str(port)],
                tree_env,
                f"http://127.0.0.1:{port}{path}",
                body,
                headers,
                work / f"{label}.log",
            )
            try:
                wrk(server, 2, 2, work)
                one = wrk(server, 1, args.duration, work)
                pid = server.proc.pid
                cpu0, kids0 = _cpu_seconds(pid), _children_cpu_seconds(pid)
                eight = wrk(server, 8, args.duration, work)
                served = max(eight["requests"], 1)
                cpu = 1e6 * (_cpu_seconds(pid) - cpu0) / served
                kids = 1e6 * (_children_cpu_seconds(pid) - kids0) / served
            finally:
                stop_server(server)
            lines.append(
                f"| {rnd} | {label} | {one['rps']:.0f} | {eight['rps']:.0f} | {eight['p99']:.2f} "
                f"| {cpu:.0f} | {kids:.0f} |"
            )
            runs.setdefault(label, []).append((one["rps"], eight["rps"], eight["p99"], cpu, kids))
    lines += compare_summary(runs)
    print("\n".join(lines))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


def compare_summary(runs: dict[str, list[tuple[float, ...]]]) -> list[str]:
    """Median rows per tree and each tree's medians over the first tree's (the baseline):
    on a shared host single rounds swing by tens of percent, medians of interleaved rounds
    much less. A round is (req/s 1 conn, req/s 8 conns, p99 ms 8 conns, then optionally the
    server's and its children's CPU us per request at 8 conns)."""
    labels = list(runs)
    width = min(len(r) for rows in runs.values() for r in rows)
    medians = {
        label: [statistics.median(r[i] for r in rows) for i in range(width)]
        for label, rows in runs.items()
    }
    out = []
    for label, m in medians.items():
        cpu = "".join(f" {v:.0f} |" for v in m[3:])
        out.append(f"| median | {label} | {m[0]:.0f} | {m[1]:.0f} | {m[2]:.2f} |{cpu}")
    base = medians[labels[0]]
    for label, m in list(medians.items())[1:]:
        cpu = "".join(
            f" {v / b:.0%} |" if b else " |" for v, b in zip(m[3:], base[3:], strict=True)
        )
        ratios = f"{m[0] / base[0]:.0%} | {m[1] / base[1]:.0%}"
        out.append(f"| median | {label} / {labels[0]} | {ratios} | |{cpu}")
    return out


def render(
    results: dict[str, dict[Any, Any]], batch: dict[str, float], n_rows: int, duration: int
) -> str:
    """The Markdown table and the ratios the issue asks for."""
    lines = [
        "| server | conns | req/s | p50 ms | p99 ms | errors | RSS MiB | cold start s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, res in results.items():
        for c in (1, 8):
            r = res[c]
            lines.append(
                f"| {name} | {c} | {r['rps']:.0f} | {r['p50']:.2f} | {r['p99']:.2f} | "
                f"{r['errors']}/{r['requests']} | {res['rss_mb']:.0f} | {res['cold_start_s']:.1f} |"
            )
    api, mlf, bare = results["api"], results["mlflow"], results["bare"]
    lines += [
        "",
        f"wrk: keep-alive, {duration}s per run, 1 uvicorn worker per server, 127.0.0.1.",
        "",
        "| ratio | 1 conn | 8 conns | goal |",
        "|---|---:|---:|---|",
        f"| api req/s / mlflow req/s | {api[1]['rps'] / mlf[1]['rps']:.1f}x | "
        f"{api[8]['rps'] / mlf[8]['rps']:.1f}x | >= 20x |",
        f"| api req/s / bare req/s | {api[1]['rps'] / bare[1]['rps']:.0%} | "
        f"{api[8]['rps'] / bare[8]['rps']:.0%} | >= 60% |",
        f"| api p99 / mlflow p99 | {api[1]['p99'] / mlf[1]['p99']:.3f} | "
        f"{api[8]['p99'] / mlf[8]['p99']:.3f} | < 0.1 at 8 conns |",
        "",
        f"Batch ({n_rows} rows in one request, best of 5): raw `booster.predict` in-process "
        f"{batch['raw_booster']:.0f} rows/s; API over HTTP with 4 reason codes per row "
        f"{batch['api_http']:.0f} rows/s ({batch['api_http'] / batch['raw_booster']:.0%}); "
        f"API with `?max_reasons=0` {batch['api_http_no_reasons']:.0f} rows/s "
        f"({batch['api_http_no_reasons'] / batch['raw_booster']:.0%}; goal >= 50%).",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
