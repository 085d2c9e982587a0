"""The benchmarks are not timed tests, but each must still run: every script in bench/ imports against
the code as it is (bench/ingest.py once called a token helper the sessions work had removed, and nothing
noticed until it was run) and answers --help."""

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from settlement.config import PROJECT_ROOT

SCRIPTS = sorted((PROJECT_ROOT / "bench").glob("*.py"))


def test_there_are_benchmarks():
    assert len(SCRIPTS) >= 5, SCRIPTS


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.name)
def test_each_benchmark_imports_against_the_code_as_it_is(script: Path):
    module = importlib.import_module(f"bench.{script.stem}")
    assert callable(getattr(module, "main", None)), f"{script.name} has no main()"


def test_a_benchmark_answers_help():
    outcome = subprocess.run(
        [sys.executable, "bench/run.py", "--help"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120
    )
    assert outcome.returncode == 0 and "usage:" in outcome.stdout, outcome.stderr[-2000:]
