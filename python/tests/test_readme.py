"""The README's "From Python" block runs as written."""

import os
import re
from pathlib import Path

import pytest


def test_readme_python_tour(capsys):
    readme = Path(os.environ.get("RECKIT_README", Path(__file__).resolve().parents[2] / "README.md"))
    if not readme.is_file():
        pytest.skip(f"no README at {readme}")
    text = readme.read_text()
    m = re.search(r"<!-- python-tour:[^>]*-->\n```python\n(.*?)```", text, re.S)
    assert m, "the README has no python-tour block"
    block = m.group(1)
    assert len(block.splitlines()) <= 30
    exec(compile(block, str(readme), "exec"), {})
    assert capsys.readouterr().out.startswith(__import__("reckit").__version__)


def test_the_offline_ab_example_writes_its_report(tmp_path):
    import subprocess
    import sys
    root = Path(__file__).resolve().parents[2]
    obd = root / "data" / "obp" / "obp"
    if not (obd / "dataset" / "obd" / "random" / "all" / "all.csv").is_file():
        pytest.skip("run scripts/fetch-obp for the OBD sample")
    pytest.importorskip("pandas")
    out = tmp_path / "report.html"
    p = subprocess.run([sys.executable, str(root / "examples" / "python" / "offline_ab_report.py"), str(obd), str(out)],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert "10000 rows" in p.stdout and "Bernoulli TS (production prior)" in p.stdout
    html = out.read_text()
    assert html.startswith("<!doctype html>") and "Bernoulli TS (production prior)" in html
