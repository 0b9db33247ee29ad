"""The examples under docs/examples learn for real: each runs in fast mode, its result checked.

The results asserted here are those each example's docstring (its gallery page) states for the
fast mode. Each example
runs in its own process, as a user would run it.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
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


def test_demo_compiles_before_its_progress_bar_and_writes_nothing_where_it_runs(tmp_path):
    """The bar's rate and ETA time training alone; the plot goes to a new temporary folder."""
    completed = subprocess.run(
        [sys.executable, "-m", "numrnn", "demo", "--backend", FASTEST, "--epochs", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path, check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"})
    output = completed.stdout
    assert output.index("kernels compiled, or loaded from Numba's cache") < output.index("fit:")
    plot = Path(re.search(r"plot: (.*)", output).group(1))
    try:
        assert plot.is_file() and plot.name == "numrnn_demo.png"
        assert plot.parent.parent.samefile(tempfile.gettempdir())
        assert list(tmp_path.iterdir()) == []
    finally:
        shutil.rmtree(plot.parent)


def test_fast_examples_write_into_a_new_temporary_folder(monkeypatch, tmp_path):
    monkeypatch.syspath_prepend(str(EXAMPLES))
    monkeypatch.chdir(tmp_path)
    import _common

    monkeypatch.setattr(_common, "_one_blas_thread", lambda: None)  # not for this process
    out = _common.parse_args("an example", ["--fast"]).out
    try:
        assert out.parent.samefile(tempfile.gettempdir()) and list(out.iterdir()) == []
    finally:
        out.rmdir()
    assert _common.parse_args("an example", ["--fast", "--out", "here"]).out == Path("here")
    assert _common.parse_args("an example", []).out.samefile(ROOT / "docs" / "_static")


def test_examples_are_all_tested():
    scripts = {p.stem for p in EXAMPLES.glob("*.py") if not p.stem.startswith("_")}
    assert scripts == {"adding_problem", "digits", "sunspots", "char_text", "dates"}
