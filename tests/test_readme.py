"""The README's Python example runs as written."""

import pathlib
import re

import pytest

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"
EXAMPLES = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL)


def test_readme_has_an_example():
    assert EXAMPLES


@pytest.mark.parametrize("source", EXAMPLES)
def test_readme_example_runs(source, monkeypatch):
    # The example's API usage is under test here, not a backend: the reference is quickest.
    monkeypatch.setenv("NUMRNN_BACKEND", "numpy")
    exec(compile(source, str(README), "exec"), {})
