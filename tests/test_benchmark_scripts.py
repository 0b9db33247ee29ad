"""The side-by-side comparison scripts run (in their smoke modes); nothing is timed here."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from parity import import_torch

ROOT = Path(__file__).resolve().parent.parent

import_torch()


@pytest.mark.parametrize(
    "script,args",
    [
        ("compare_torch.py", ["--quick", "--cells", "gru"]),
        ("compare_torch.py", ["--quick", "--cells", "rnn", "--runs", "2"]),
        ("compare_seq2seq_torch.py", ["--quick"]),
        ("extended_cells.py", ["--quick", "--cells", "ligru", "--torch-loop"]),
        ("step_latency.py", ["--cells", "rnn", "--threads", "1", "--budget", "0.05",
                             "--calls", "20"]),
        ("custom_cell.py", ["--quick"]),
    ],
)
def test_comparison_script_prints_a_table(script, args):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *args],
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )
    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if line.startswith("| ")]
    assert len(rows) >= 2, result.stdout  # the header and at least one measurement
    assert re.search(r"\dx( \([\d.]+-[\d.]+\))? \|", rows[-1]), rows[-1]


def test_compare_torch_float64_lengths_and_epoch():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "compare_torch.py"), "--quick", "--cells",
         "lstm", "--dtype", "float64", "--lengths", "--epoch"],
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("float64 GEMM ceiling"), result.stdout
    rows = [line for line in result.stdout.splitlines() if line.startswith("| ")]
    passes = [row.split(" | ")[2] for row in rows if row.startswith("| lstm |")]
    assert passes == ["forward", "fwd+bwd", "forward, lengths", "fwd+bwd, lengths"], rows
    assert rows[-1].startswith("| LSTM classifier |") and "x (" in rows[-1], rows


def test_ucr_script_runs_without_aeon_on_synthetic_data(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "ucr_classification.py"), "--datasets",
         "synthetic", "--no-rocket", "--params", '{"hidden_size": 4, "epochs": 5}', "--json",
         str(tmp_path / "out.json")],
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )
    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if line.startswith("| synthetic")]
    assert len(rows) == 1, result.stdout
    assert (tmp_path / "out.json").exists()


def test_dask_scaleout_script_prints_its_tables():
    pytest.importorskip("distributed")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "dask_scaleout.py"), "--quick"],
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )
    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if line.startswith("| ")]
    assert len(rows) == 2 + 6 + 1 + 3, result.stdout  # warm-up, round trips, table
    assert "DataParallel" in rows[-1]
