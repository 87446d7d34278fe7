"""The house rules of STYLE.md: the import-linter contracts in pyproject.toml hold,
they catch a wrong import, no package imports by string (the linter could not see it),
and nothing imports tests/, notebooks/ or benchmarks/."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("features", "training", "serving")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=root,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def _modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def test_the_layer_contracts_hold() -> None:
    result = _lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "bad_import", "contract"),
    [
        ("features/frames.py", "from training.forecast import metrics", "floors"),
        ("serving/answers.py", "import training.jobs", "floors"),
        ("training/forecast/backtest.py", "from training.jobs import tracking", "training: rooms"),
        ("training/forecast/splits.py", "import training.incentives.uplift", "training: rooms"),
        ("features/families/panel.py", "from features.frames import build_features", "features"),
        ("training/reports/scorecard.py", "import serving.schemas", "through the CLI"),
        ("features/scoring/quantiles.py", "import features.scoring.forecaster", "scoring"),
        ("features/data/dataset.py", "from features.data import loader", "features.data"),
    ],
)
def test_a_wrong_import_breaks_a_contract(
    tmp_path: Path, module: str, bad_import: str, contract: str
) -> None:
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    target = tmp_path / module
    target.write_text(target.read_text(encoding="utf-8") + f"\n{bad_import}\n", encoding="utf-8")
    result = _lint_imports(tmp_path)
    assert result.returncode == 1, result.stdout
    broken = result.stdout.split("Broken contracts")[-1]
    assert contract in broken, result.stdout


def _string_imports(path: Path) -> list[int]:
    """Lines that import by name at run time (importlib.import_module, __import__)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in {"import_module", "__import__"}:
                lines.append(node.lineno)
    return lines


@pytest.mark.parametrize("package", PACKAGES)
def test_no_import_by_string(package: str) -> None:
    found = {str(p.relative_to(ROOT)): _string_imports(p) for p in _modules(package)}
    assert {k: v for k, v in found.items() if v} == {}


def test_the_string_check_sees_one(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import importlib\nimportlib.import_module('training.cli')\n")
    assert _string_imports(bad) == [2]


def _imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", PACKAGES)
def test_nothing_imports_tests_notebooks_or_benchmarks(package: str) -> None:
    upper = {"tests", "notebooks", "benchmarks"}
    offenders = {
        str(p.relative_to(ROOT)): sorted(_imported_packages(p) & upper) for p in _modules(package)
    }
    assert {k: v for k, v in offenders.items() if v} == {}
