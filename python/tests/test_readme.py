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
