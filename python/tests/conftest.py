"""Fixtures for the Python package's tests (scripts/test-python runs them against the installed
wheel, with RECKIT_CLI naming the `reckit` command whose results they must equal)."""

import csv
import io
import os
import subprocess

import numpy as np
import pytest

import reckit


@pytest.fixture(scope="session")
def cli():
    path = os.environ.get("RECKIT_CLI")
    if not path:
        pytest.skip("RECKIT_CLI is not set (the reckit command to compare with)")
    return path


def run(cli, *args):
    """The CLI's stdout (it must succeed)."""
    return subprocess.run([cli, *args], check=True, capture_output=True, text=True).stdout


def read_csv(text):
    return list(csv.DictReader(io.StringIO(text)))


@pytest.fixture(scope="session")
def catalog(tmp_path_factory):
    """Items, states and bias as float32 arrays and the CSV files the CLI reads (9 significant
    digits: the same float32 values)."""
    d = tmp_path_factory.mktemp("catalog")
    rng = np.random.default_rng(1)
    arrays = {
        "items": rng.standard_normal((2000, 16)).astype(np.float32),
        "states": rng.standard_normal((7, 16)).astype(np.float32),
        "bias": (rng.standard_normal(2000) * 0.1).astype(np.float32),
    }
    out = {}
    for name, a in arrays.items():
        path = d / f"{name}.csv"
        np.savetxt(path, a.reshape(len(a), -1), delimiter=",", fmt="%.9g")
        out[name] = np.loadtxt(path, delimiter=",", dtype=np.float32)
        out[name + "_path"] = str(path)
    return out


@pytest.fixture()
def scorer(catalog):
    s = reckit.CatalogScorer(catalog["items"], bias=catalog["bias"])
    yield s
    s.close()
