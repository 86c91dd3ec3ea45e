"""Render the credit-scoring Helm chart offline with the Helm SDK (no helm binary, no cluster).

Writes one file per template and environment under ``OUTDIR/<env>/`` (NOTES.txt and templates that
render empty are left out), for policy scanners such as checkov::

    .venv/bin/python infra/helm/render_chart.py /tmp/rendered            # default, staging, prod
    .venv/bin/python infra/helm/render_chart.py /tmp/rendered --env prod
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import helm_python as helm
import yaml

CHART_DIR = Path(__file__).resolve().parent / "credit-scoring-chart"
# Environment -> (values file or None for the chart defaults, release name, namespace).
ENVIRONMENTS: dict[str, tuple[str | None, str, str]] = {
    "default": (None, "credit-scoring", "credit-scoring"),
    "platform": ("values-platform.yaml", "credit-scoring-platform", "mlops-platform"),
    "staging": ("values-staging.yaml", "credit-scoring-staging", "staging-mlops"),
    "prod": ("values-prod.yaml", "credit-scoring-prod", "prod-mlops"),
}


def environment_values(env: str) -> dict[str, Any] | None:
    """User values of an environment (None: chart defaults only)."""
    values_file = ENVIRONMENTS[env][0]
    if values_file is None:
        return None
    loaded = yaml.safe_load((CHART_DIR / values_file).read_text(encoding="utf-8"))
    if not isinstance(loaded, dict):
        raise TypeError(f"{CHART_DIR / values_file}: expected a mapping of values")
    return loaded


def render(
    env: str, values: dict[str, Any] | None = None, *, is_upgrade: bool = False
) -> dict[str, str]:
    """Render the chart for ``env``; ``values`` (when given) replace the environment's file."""
    _, release, namespace = ENVIRONMENTS[env]
    with helm.Chart.load(CHART_DIR) as chart:
        return chart.render(
            values if values is not None else environment_values(env),
            name=release,
            namespace=namespace,
            is_install=not is_upgrade,
            is_upgrade=is_upgrade,
        )


def write_rendered(out_dir: Path, envs: list[str]) -> list[Path]:
    """Render ``envs`` into ``out_dir/<env>/``; returns the files written."""
    written: list[Path] = []
    for env in envs:
        for template, text in render(env).items():
            if template.endswith("NOTES.txt") or not text.strip():
                continue
            target = out_dir / env / template.replace("/", "_")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
            written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--env", action="append", choices=sorted(ENVIRONMENTS))
    args = parser.parse_args(argv)
    files = write_rendered(args.out_dir, args.env or list(ENVIRONMENTS))
    print(f"rendered {len(files)} manifests into {args.out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
