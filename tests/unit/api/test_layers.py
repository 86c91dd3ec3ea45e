"""Layering: the API does not import monitoring; the decision-record contract is light."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

PACKAGE = Path(__file__).resolve().parents[3] / "src" / "credit_scoring"


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_api_does_not_import_monitoring() -> None:
    offenders = {
        str(path.relative_to(PACKAGE)): sorted(
            n for n in _imports(path) if n.startswith("credit_scoring.monitoring")
        )
        for path in (PACKAGE / "api").rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_prediction_contract_is_shared_and_light() -> None:
    record = "credit_scoring.predictions.record"
    assert record in _imports(PACKAGE / "api" / "service.py")
    assert record in _imports(PACKAGE / "ledger" / "records.py")
    code = (
        f"import sys, {record}; "
        "heavy = [m for m in ('pandas', 'numpy', 'psycopg2') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
