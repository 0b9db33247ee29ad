"""The README's Python example runs as written; its commands install no multi-GB torch, and
without torch the parity tests skip saying how to get it."""

import pathlib
import re
import sys

import pytest
from parity import WITHOUT_TORCH, import_torch

ROOT = pathlib.Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
EXAMPLES = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL)
COMMANDS = "".join(re.findall(r"```bash\n(.*?)```", README.read_text(encoding="utf-8"),
                              re.DOTALL))
INSTALLS = [line for line in COMMANDS.splitlines() if "pip install" in line]


def test_readme_has_an_example():
    assert EXAMPLES


@pytest.mark.parametrize("source", EXAMPLES)
def test_readme_example_runs(source, monkeypatch):
    # The example's API usage is under test here, not a backend: the reference is quickest.
    monkeypatch.setenv("NUMRNN_BACKEND", "numpy")
    exec(compile(source, str(README), "exec"), {})


def test_readme_commands_install_no_torch_and_name_no_index():
    """On Linux, PyPI's torch is the CUDA build (GBs); CI alone installs torch, pinned."""
    assert INSTALLS and "pytest" in COMMANDS
    assert not any("torch" in line or "index-url" in line for line in INSTALLS)
    pin = re.search(r"torch==([\d.]+)", (ROOT / ".ci" / "run").read_text()).group(0)
    assert pin in WITHOUT_TORCH


def test_without_torch_a_parity_test_skips_saying_how_to_get_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # what a failed import leaves
    with pytest.raises(pytest.skip.Exception, match="pip install torch==2.13.0"):
        import_torch()


def test_every_parity_test_imports_torch_through_the_helper():
    """So that each one skips with the reason, and no test module needs torch to load."""
    for path in sorted((ROOT / "tests").rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        assert not re.search(r"importorskip\(\s*[\"']torch|^(import|from) torch", source,
                             re.MULTILINE) or path.name == "parity.py", path


def test_readme_installs_the_checkout_editable():
    """One copy of numrnn, so one cache of compiled kernels: ``python -m numrnn`` and the tests
    import the checkout's, which a plain ``pip install .`` would copy into site-packages."""
    assert all('pip install -e ".[' in line for line in INSTALLS), INSTALLS
