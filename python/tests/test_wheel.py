"""The installed wheel: where it loads from, what it needs, which build it chose, its version."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

import reckit
from conftest import run

WHEEL = os.environ.get("RECKIT_EXPECT_WHEEL") == "1"
wheel_only = pytest.mark.skipif(not WHEEL, reason="runs against the installed wheel (scripts/test-python)")


def test_one_version_for_package_library_and_cli(cli):
    assert reckit.__version__ == reckit.build_info()["version"]
    assert run(cli, "--version").strip() == reckit.__version__


@wheel_only
def test_loaded_from_the_installed_wheel():
    info = reckit.build_info()
    assert "site-packages" in reckit.__file__
    assert Path(info["library"]).parent == Path(reckit.__file__).parent / "_lib"
    assert info["build"] in ("x86-64", "x86-64-v3", "x86-64-v4")


@wheel_only
def test_no_toolchain_needed():
    """The process has no Swift toolchain on PATH or LD_LIBRARY_PATH, and every library the
    wheel's builds load resolves inside the wheel or to the system's C runtime."""
    for var in ("PATH", "LD_LIBRARY_PATH"):
        assert "swift" not in os.environ.get(var, ""), os.environ.get(var)
    libs = sorted((Path(reckit.__file__).parent / "_lib").glob("*.so"))
    assert len(libs) == 3
    for lib in libs:
        out = subprocess.run(["ldd", str(lib)], check=True, capture_output=True, text=True).stdout
        assert "not found" not in out, out
        for line in out.splitlines():
            if "=>" in line:
                target = line.split("=>")[1].split("(")[0].strip()
                assert "swift" not in target, line
                assert "reckit.libs" in target or target.startswith(("/lib", "/usr/lib")), line
                if "openblas" in target or "lapack" in target or "yaml" in target:
                    assert "reckit.libs" in target, line


def flags():
    for line in open("/proc/cpuinfo"):
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


@wheel_only
def test_the_best_build_this_cpu_runs_is_chosen():
    f = flags()
    best = "x86-64-v4" if {"avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512cd"} <= f else (
        "x86-64-v3" if {"avx2", "fma", "bmi2", "movbe"} <= f else "x86-64")
    info = reckit.build_info()
    if os.environ.get("RECKIT_ISA"):
        pytest.skip("RECKIT_ISA chooses the build")
    assert info["build"] == best
    want = {"x86-64": [], "x86-64-v3": ["AVX2", "FMA"], "x86-64-v4": ["AVX2", "FMA", "AVX-512F"]}[best]
    assert info["compiled"] == want


@wheel_only
@pytest.mark.parametrize("isa", ["x86-64", "x86-64-v3", "x86-64-v4"])
def test_every_build_gives_the_same_top_k(isa):
    """Each build the CPU runs gives the same items and score bits (canonical scores)."""
    code = (
        "import numpy as np, reckit; r = np.random.default_rng(5); "
        "i, s = reckit.topk(r.standard_normal((5000, 24), dtype=np.float32), "
        "r.standard_normal((3, 24), dtype=np.float32), 7); "
        "print(reckit.build_info()['build'], i.tobytes().hex(), s.tobytes().hex())"
    )
    env = dict(os.environ, RECKIT_ISA=isa)
    p = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    if p.returncode != 0:
        assert "lacks its instructions" in p.stderr, p.stderr
        pytest.skip(f"this CPU does not run {isa}")
    base = subprocess.run([sys.executable, "-c", code], env=dict(os.environ, RECKIT_ISA="x86-64"),
                          capture_output=True, text=True, check=True).stdout.split()
    got = p.stdout.split()
    assert got[0] == isa and got[1:] == base[1:]


@wheel_only
def test_an_unknown_isa_is_refused():
    p = subprocess.run([sys.executable, "-c", "import reckit"], env=dict(os.environ, RECKIT_ISA="avx9000"),
                       capture_output=True, text=True)
    assert p.returncode != 0 and "RECKIT_ISA='avx9000' is not one of" in p.stderr
