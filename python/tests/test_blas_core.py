"""OpenBLAS's core at import: where OpenBLAS would run a generic core (RECKIT_BLAS_CORE_AS stands
in for it choosing Prescott) on a CPU with AVX2+FMA, the package loads it with the better core
instead, for its own OpenBLAS only; RECKIT_BLAS_CORE=keep keeps OpenBLAS's choice."""

import json
import os
import subprocess
import sys

import pytest

import reckit

FLAGS = reckit._cpu_flags()
wide = pytest.mark.skipif(not {"avx2", "fma"} <= FLAGS or "OPENBLAS_CORETYPE" in os.environ,
                          reason="needs a CPU with AVX2+FMA and no OPENBLAS_CORETYPE set by the machine")
PROBE = ("import json, os, reckit; i = reckit.build_info(); "
         "print(json.dumps({'core': i['blas_core'], 'by': i['blas_core_chosen_by'], 'was': i['blas_core_replaced'], "
         "'leaked': 'OPENBLAS_CORETYPE' in os.environ}))")


def info(**env):
    out = subprocess.run([sys.executable, "-c", PROBE], env={**os.environ, **env}, capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout)


@wide
def test_a_generic_core_is_replaced_before_openblas_loads():
    best = "SkylakeX" if {"avx512f", "avx512bw", "avx512dq", "avx512vl"} <= FLAGS else "Haswell"
    got = info(RECKIT_BLAS_CORE_AS="Prescott")
    assert got == {"core": best, "by": "reckit", "was": "Prescott", "leaked": False}


@wide
def test_keep_and_a_fine_core_are_left_alone():
    plain = info()
    if plain["by"] == "reckit":
        # This host's OpenBLAS picks a generic core by itself (a VM whose CPU model it does not
        # know): the package replaced it; RECKIT_BLAS_CORE=keep keeps OpenBLAS's own choice.
        best = "SkylakeX" if {"avx512f", "avx512bw", "avx512dq", "avx512vl"} <= FLAGS else "Haswell"
        assert plain["core"] == best and plain["was"] is not None and not plain["leaked"]
        kept = info(RECKIT_BLAS_CORE="keep")
        assert kept == {"core": plain["was"], "by": "openblas", "was": None, "leaked": False}
        return
    assert plain["by"] == "openblas" and plain["was"] is None and not plain["leaked"]
    kept = info(RECKIT_BLAS_CORE="keep", RECKIT_BLAS_CORE_AS="Prescott")
    assert kept == plain
