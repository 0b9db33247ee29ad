"""The examples under docs/examples learn for real: each runs in fast mode, its result checked.

The results asserted here are those each example's docstring (its gallery page) states for the
fast mode. Each example
runs in its own process, as a user would run it.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from apps_backends import FASTEST

pytest.importorskip("matplotlib")

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "docs" / "examples"
BASELINE = 1 / 6


def run_example(name, out):
    subprocess.run([sys.executable, str(EXAMPLES / f"{name}.py"), "--fast", "--out", str(out),
                    "--backend", FASTEST], check=True, cwd=out,
                   env={**os.environ, "PYTHONPATH": str(ROOT)})
    results = json.loads((out / f"{name}.json").read_text())
    plot = out / results["plot"]
    assert plot.is_file() and plot.stat().st_size < 200_000
    return results


def test_adding_problem(tmp_path):
    results = run_example("adding_problem", tmp_path)
    assert results["LSTM"] < 0.05                 # learns: far below the baseline
    assert results["tanh RNN"] > 0.9 * BASELINE   # does not: no better than the baseline


def test_digits(tmp_path):
    pytest.importorskip("sklearn")
    assert run_example("digits", tmp_path)["accuracy"] > 0.9


def test_sunspots(tmp_path):
    results = run_example("sunspots", tmp_path)
    assert results["rmse"] < 0.6 * results["persistence"]


def test_char_text(tmp_path):
    results = run_example("char_text", tmp_path)
    assert results["bits"] < results["baseline"] - 1.0
    assert results["sample"].startswith("The hacker ") and len(results["sample"]) == 311


def test_dates(tmp_path):
    results = run_example("dates", tmp_path)
    assert results["greedy"] > 0.9 and results["beam"] > 0.9
    assert results["loss"][-1] < 0.2 * results["loss"][0]
    assert results["beam_less_likely"] == 0


def test_demo(tmp_path):
    plot = tmp_path / "demo.png"
    completed = subprocess.run(
        [sys.executable, "-m", "numrnn", "demo", "--backend", FASTEST, "--out", str(plot)],
        check=True, capture_output=True, text=True, cwd=ROOT)
    assert "the LSTM beat the baseline" in completed.stdout
    assert f"plot: {plot.resolve()}" in completed.stdout
    assert plot.is_file() and plot.stat().st_size < 200_000


def test_examples_are_all_tested():
    scripts = {p.stem for p in EXAMPLES.glob("*.py") if not p.stem.startswith("_")}
    assert scripts == {"adding_problem", "digits", "sunspots", "char_text", "dates"}
