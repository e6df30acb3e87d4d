"""RecKit from Python: fast catalog scoring and rank marginals over RecKit's C ABI.

The functions take numpy arrays (anything ``numpy.asarray`` accepts) and return numpy arrays.
Bad input raises an exception naming the argument (``TypeError``/``ValueError`` for types and
shapes, ``ReckitError`` subclasses for what RecKit refuses); nothing crashes the interpreter.
The calls release the GIL (ctypes does) while RecKit works.

The shared library is ``$RECKIT_LIBRARY`` when set; else the build inside the wheel that this CPU
runs fastest (``x86-64-v4``: AVX-512; ``x86-64-v3``: AVX2 and FMA; ``x86-64``: any x86-64), which
``$RECKIT_ISA`` may name instead; else a RecKit checkout's ``.build/release/libRecKitC.so``.
``reckit.build_info()`` says which was loaded.
"""

from __future__ import annotations

import ctypes
import json
import math
import os
from pathlib import Path

import numpy as np

__all__ = [
    "ReckitError",
    "ReckitValueError",
    "ReckitIOError",
    "ReckitUnsupportedError",
    "ReckitMemoryError",
    "CatalogScorer",
    "topk",
    "merge_topk",
    "rank_marginals",
    "set_threads",
    "build_info",
    "offline_ab",
    "log_columns",
    "merge",
    "OfflineABReport",
    "Model",
    "train",
    "load_model",
    "evaluate",
    "__version__",
]


class ReckitError(Exception):
    """An error RecKit reported; ``status`` is the C ABI's code."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


class ReckitValueError(ReckitError, ValueError):
    """An argument RecKit refused (a value out of range, a malformed spec)."""


class ReckitIOError(ReckitError, OSError):
    """A file RecKit could not read or write."""


class ReckitUnsupportedError(ReckitError):
    """The operation does not exist for this input (for example exact marginals beyond range)."""


class ReckitMemoryError(ReckitError, MemoryError):
    """The result would not fit in memory."""


_ERRORS = {1: ReckitValueError, 2: ReckitIOError, 3: ReckitUnsupportedError, 4: ReckitMemoryError}


# The builds a wheel holds, best first, and the CPU flags (/proc/cpuinfo names) each needs: the
# x86-64-v4 and -v3 levels, as the compiler targets skylake-avx512 and haswell use them.
_ISA_LEVELS = [
    ("x86-64-v4", {"avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl", "avx2", "fma", "bmi1", "bmi2",
                   "f16c", "movbe", "abm", "popcnt"}),
    ("x86-64-v3", {"avx", "avx2", "fma", "bmi1", "bmi2", "f16c", "movbe", "abm", "popcnt"}),
    ("x86-64", set()),
]


def _cpu_flags() -> set:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def _find_library() -> tuple:
    if os.environ.get("RECKIT_LIBRARY"):
        path = Path(os.environ["RECKIT_LIBRARY"])
        if not path.is_file():
            raise ImportError(f"reckit: RECKIT_LIBRARY={path} is not a file")
        return str(path), "RECKIT_LIBRARY"
    here = Path(__file__).resolve().parent
    builds = {isa: here / "_lib" / f"libreckit-{isa}.so" for isa, _ in _ISA_LEVELS}
    if any(p.is_file() for p in builds.values()):
        flags = _cpu_flags()
        runnable = [isa for isa, need in _ISA_LEVELS if need <= flags and builds[isa].is_file()]
        wanted = os.environ.get("RECKIT_ISA")
        if wanted:
            if wanted not in builds:
                raise ImportError(f"reckit: RECKIT_ISA={wanted!r} is not one of {', '.join(builds)}")
            if wanted not in runnable:
                raise ImportError(f"reckit: RECKIT_ISA={wanted}: this CPU lacks its instructions (or the build is missing)")
            return str(builds[wanted]), wanted
        if not runnable:
            raise ImportError("reckit: no build in this package runs on this CPU")
        return str(builds[runnable[0]]), runnable[0]
    checkout = here.parent.parent / ".build" / "release" / "libRecKitC.so"
    if checkout.is_file():
        return str(checkout), "checkout"
    raise ImportError(
        f"reckit: no RecKit library found (looked in {here / '_lib'} and at {checkout}); build it with "
        "`swift build -c release --product RecKitC` or set RECKIT_LIBRARY")


def _blas_core_choice(path: str):
    """(OpenBLAS's own core, the core to load instead) when the OpenBLAS this library loads would
    run a generic core (Prescott, ...) on a CPU with AVX2+FMA or AVX-512, else None. OpenBLAS
    picks its core when it loads, so a throwaway process loads it and asks RecKit
    (``reckit_blas_recommended_core``). Never when ``OPENBLAS_CORETYPE`` is set (the user's or the
    machine's choice stands) or ``RECKIT_BLAS_CORE=keep``."""
    if os.environ.get("OPENBLAS_CORETYPE") or os.environ.get("RECKIT_BLAS_CORE", "").lower() == "keep":
        return None
    if not {"avx2", "fma"} <= _cpu_flags():
        return None
    import subprocess
    import sys
    probe = ("import ctypes, sys\n"
             "lib = ctypes.CDLL(sys.argv[1])\n"
             "for f in (lib.reckit_blas_core, lib.reckit_blas_recommended_core): f.restype = ctypes.c_char_p\n"
             "print(lib.reckit_blas_core().decode(), lib.reckit_blas_recommended_core().decode())\n")
    try:
        out = subprocess.run([sys.executable, "-S", "-c", probe, path], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    words = out.stdout.split() if out.returncode == 0 else []
    if len(words) != 2:
        return None
    # RECKIT_BLAS_CORE_AS (tests) stands in for OpenBLAS's choice, as in the library.
    return os.environ.get("RECKIT_BLAS_CORE_AS") or words[0], words[1]


_library_path, _library_build = _find_library()
_blas_switch = _blas_core_choice(_library_path)
if _blas_switch is not None:
    # Set for OpenBLAS's load only: numpy's OpenBLAS and child processes keep their own choice.
    os.environ["OPENBLAS_CORETYPE"] = _blas_switch[1]
    try:
        _lib = ctypes.CDLL(_library_path)
    finally:
        del os.environ["OPENBLAS_CORETYPE"]
else:
    _lib = ctypes.CDLL(_library_path)
_i64, _i32, _u64 = ctypes.c_int64, ctypes.c_int32, ctypes.c_uint64
_fp, _dp, _ip = ctypes.POINTER(ctypes.c_float), ctypes.POINTER(ctypes.c_double), ctypes.POINTER(ctypes.c_int64)
_lib.reckit_abi_version.restype = _i32
_lib.reckit_last_error.restype = ctypes.c_char_p
_lib.reckit_version.restype = ctypes.c_char_p
_lib.reckit_blas_core.restype = ctypes.c_char_p
_lib.reckit_blas_recommended_core.restype = ctypes.c_char_p
_lib.reckit_build_features.argtypes = [ctypes.POINTER(_i32), ctypes.POINTER(_i32)]
_lib.reckit_build_features.restype = None
_lib.reckit_build_advice.restype = ctypes.c_char_p
_lib.reckit_set_threads.argtypes = [_i64]
_lib.reckit_set_threads.restype = _i32
_lib.reckit_scorer_create.argtypes = [_fp, _i64, _i64, _fp, ctypes.POINTER(ctypes.c_void_p)]
_lib.reckit_scorer_create.restype = _i32
_lib.reckit_scorer_create_shard.argtypes = [_fp, _i64, _i64, _fp, _i64, _i64, ctypes.POINTER(ctypes.c_void_p)]
_lib.reckit_scorer_create_shard.restype = _i32
_lib.reckit_topk_merge.argtypes = [_i64, _i64, _i64, _ip, _fp, _i64, _ip, _fp, _ip]
_lib.reckit_topk_merge.restype = _i32
_lib.reckit_scorer_free.argtypes = [ctypes.c_void_p]
_lib.reckit_scorer_free.restype = None
_lib.reckit_scorer_topk.argtypes = [ctypes.c_void_p, _fp, _i64, _i64, _i64, _ip, _ip, _i64, _ip, _fp, _ip]
_lib.reckit_scorer_topk.restype = _i32
_lib.reckit_rank_marginals.argtypes = [
    ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, _i64, _i32, _i64, _u64, _dp, _i64, _ip]
_lib.reckit_rank_marginals.restype = _i32
if _lib.reckit_abi_version() != 2:
    raise ImportError(f"reckit: the library's ABI is version {_lib.reckit_abi_version()}, this package needs 2")
# Asked once here, so that the library does not log it to stdout from inside a notebook:
# build_info()["advice"] carries it.
_advice = _lib.reckit_build_advice()
_advice = _advice.decode() if _advice else None


__version__ = _lib.reckit_version().decode()


def build_info() -> dict:
    """What was loaded: ``version``, ``library`` (its path), ``build`` (the wheel's ISA level,
    ``RECKIT_LIBRARY`` or ``checkout``), the vector features it was ``compiled`` for and the
    ``host`` has, the ``cpu``'s model, ``blas_core``, the kernel set OpenBLAS runs, and
    ``blas_core_chosen_by``: "openblas", "environment" (``OPENBLAS_CORETYPE``) or "reckit"
    (OpenBLAS chose the generic ``blas_core_replaced``; see ``RECKIT_BLAS_CORE`` in the docs), and
    ``advice``: None, or what the library leaves of the CPU's vector features unused and what that
    costs per kernel."""
    compiled, host = _i32(0), _i32(0)
    _lib.reckit_build_features(ctypes.byref(compiled), ctypes.byref(host))

    def names(bits: int) -> list:
        return [n for b, n in ((1, "AVX2"), (2, "FMA"), (4, "AVX-512F")) if bits & b]

    return {
        "version": __version__,
        "library": _library_path,
        "build": _library_build,
        "compiled": names(compiled.value),
        "host": names(host.value),
        "blas_core": _lib.reckit_blas_core().decode(),
        "blas_core_chosen_by": "reckit" if _blas_switch else
                               ("environment" if os.environ.get("OPENBLAS_CORETYPE") else "openblas"),
        "blas_core_replaced": _blas_switch[0] if _blas_switch else None,
        "cpu": _cpu_model(),
        "advice": _advice,
    }


def _check(status: int) -> None:
    if status != 0:
        message = _lib.reckit_last_error().decode("utf-8", "replace")
        raise _ERRORS.get(status, ReckitError)(message, status)


def _ptr(a: np.ndarray, kind):
    return a.ctypes.data_as(kind)


def _matrix(value, name: str, dtype=np.float32) -> np.ndarray:
    try:
        a = np.asarray(value)
    except Exception as e:  # noqa: BLE001 - any conversion failure is the caller's argument
        raise TypeError(f"{name}: cannot be read as an array ({e})") from None
    if a.dtype.kind not in "biuf":
        raise TypeError(f"{name}: expected numbers, got an array of dtype {a.dtype}")
    if a.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D array, got shape {a.shape}")
    if a.shape[0] < 1 or a.shape[1] < 1:
        raise ValueError(f"{name}: expected at least one row and one column, got shape {a.shape}")
    return np.ascontiguousarray(a, dtype=dtype)


def set_threads(n: int) -> None:
    """Sets the threads of RecKit and OpenBLAS (1...1024) for every later call."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"threads: expected an int, got {type(n).__name__}")
    _check(_lib.reckit_set_threads(int(n)))


class CatalogScorer:
    """A catalog of items (an ``[N, d]`` array, optional ``bias`` of ``N``) kept packed between
    calls; ``topk`` scores states against it with RecKit's canonical scores (the same bits as the
    Swift ``CatalogScorer`` for any thread count).

    A shard of a larger catalog: ``first_item`` (its first row's global id) and ``catalog_size``
    (the whole catalog's items). ``topk`` then reports global ids and the scores a scorer over the
    whole catalog gives, and ``merge_topk`` of the shards' results is the whole catalog's top-k."""

    def __init__(self, items, bias=None, *, first_item: int = 0, catalog_size=None):
        self._handle = None
        it = _matrix(items, "items")
        self.items, self.dim = it.shape
        for name, v in (("first_item", first_item), ("catalog_size", catalog_size)):
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, np.integer))):
                raise TypeError(f"{name}: expected an int, got {type(v).__name__}")
        self.first_item = int(first_item)
        self.catalog_size = self.first_item + self.items if catalog_size is None else int(catalog_size)
        if self.first_item < 0 or self.first_item + self.items > self.catalog_size:
            raise ValueError(f"first_item: items {self.first_item}..{self.first_item + self.items - 1} do not fit a "
                             f"catalog_size {self.catalog_size} catalog")
        b = None
        if bias is not None:
            b = np.ascontiguousarray(np.asarray(bias), dtype=np.float32)
            if b.shape != (self.items,):
                raise ValueError(f"bias: expected shape ({self.items},), got {b.shape}")
        handle = ctypes.c_void_p()
        _check(_lib.reckit_scorer_create_shard(
            _ptr(it, _fp), self.items, self.dim, None if b is None else _ptr(b, _fp), self.first_item,
            self.catalog_size, ctypes.byref(handle)))
        self._handle = handle

    def topk(self, states, k: int, *, exclude=None, threads=None):
        """The top ``k`` items of each state (a ``[B, d]`` array): ``(indices int64 [B, k],
        scores float32 [B, k])``, best first; slots beyond the items found hold -1 and NaN.
        ``exclude``: one list of item ids per state, left out of its top-k."""
        if self._handle is None:
            raise ValueError("scorer: it has been closed")
        s = _matrix(states, "states")
        if s.shape[1] != self.dim:
            raise ValueError(f"states: expected {self.dim} columns (the items' dimension), got {s.shape[1]}")
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
            raise TypeError(f"k: expected an int, got {type(k).__name__}")
        if k < 1:
            raise ValueError(f"k: must be at least 1, got {k}")
        if threads is not None:
            set_threads(threads)
        b = s.shape[0]
        offsets = ids = None
        count = 0
        if exclude is not None:
            if len(exclude) != b:
                raise ValueError(f"exclude: expected one list per state ({b}), got {len(exclude)}")
            lists = [np.asarray(e, dtype=np.int64).ravel() for e in exclude]
            offsets = np.zeros(b + 1, dtype=np.int64)
            offsets[1:] = np.cumsum([len(e) for e in lists])
            ids = np.ascontiguousarray(np.concatenate(lists) if lists else np.zeros(0, np.int64), dtype=np.int64)
            count = int(offsets[-1])
        indices = np.empty((b, k), dtype=np.int64)
        scores = np.empty((b, k), dtype=np.float32)
        _check(_lib.reckit_scorer_topk(
            self._handle, _ptr(s, _fp), b, self.dim, int(k),
            None if offsets is None else _ptr(offsets, _ip), None if ids is None else _ptr(ids, _ip), count,
            _ptr(indices, _ip), _ptr(scores, _fp), None))
        return indices, scores

    def close(self) -> None:
        """Frees the packed catalog (also done when the scorer is collected)."""
        if self._handle is not None:
            _lib.reckit_scorer_free(self._handle)
            self._handle = None

    def __del__(self):
        self.close()


def topk(items, states, k: int, *, bias=None, exclude=None, threads=None):
    """The top ``k`` items of ``items`` (``[N, d]``) for each of ``states`` (``[B, d]``):
    ``(indices int64 [B, k], scores float32 [B, k])`` (see ``CatalogScorer.topk``)."""
    scorer = CatalogScorer(items, bias=bias)
    try:
        return scorer.topk(states, k, exclude=exclude, threads=threads)
    finally:
        scorer.close()


def merge_topk(parts, k: int):
    """The top ``k`` of the union of ``parts``, each ``(indices, scores)`` (``[B, k_i]``, unused
    slots -1 and NaN) for the same states over disjoint items (a catalog's shards, e.g. from
    ``CatalogScorer(..., first_item=, catalog_size=)``): ``(indices int64 [B, k], scores float32
    [B, k])``, exactly one scorer's top-k over the whole catalog (same items, same score bits, ties
    to the lower id, NaN last)."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise TypeError(f"k: expected an int, got {type(k).__name__}")
    if k < 1:
        raise ValueError(f"k: must be at least 1, got {k}")
    if isinstance(parts, tuple) or not hasattr(parts, "__len__") or len(parts) == 0:
        raise ValueError("parts: expected a non-empty list of (indices, scores) pairs")
    pairs = []
    for i, part in enumerate(parts):
        if not isinstance(part, (tuple, list)) or len(part) != 2:
            raise TypeError(f"parts[{i}]: expected an (indices, scores) pair")
        ids, sc = np.asarray(part[0]), np.asarray(part[1])
        if ids.ndim != 2 or sc.shape != ids.shape:
            raise ValueError(f"parts[{i}]: indices and scores must be 2-D of one shape, got {ids.shape} and {sc.shape}")
        if ids.dtype.kind not in "iu":
            raise TypeError(f"parts[{i}]: indices must be integers, got dtype {ids.dtype}")
        pairs.append((ids, sc))
    b = pairs[0][0].shape[0]
    if any(ids.shape[0] != b for ids, _ in pairs):
        raise ValueError(f"parts: every part must hold the same states; rows {[ids.shape[0] for ids, _ in pairs]}")
    kp = max(ids.shape[1] for ids, _ in pairs)
    if b == 0 or kp == 0:
        raise ValueError("parts: expected at least one state and one slot")
    indices = np.full((len(pairs), b, kp), -1, dtype=np.int64)
    scores = np.full((len(pairs), b, kp), np.nan, dtype=np.float32)
    for i, (ids, sc) in enumerate(pairs):
        indices[i, :, :ids.shape[1]] = ids
        scores[i, :, :ids.shape[1]] = sc
    out_i = np.empty((b, int(k)), dtype=np.int64)
    out_s = np.empty((b, int(k)), dtype=np.float32)
    _check(_lib.reckit_topk_merge(len(pairs), b, kp, _ptr(indices, _ip), _ptr(scores, _fp), int(k),
                                  _ptr(out_i, _ip), _ptr(out_s, _fp), None))
    return out_i, out_s


def rank_marginals(policy, k: int, *, method: str = "exact", simulations: int = 100_000, seed: int = 1):
    """``P(item at rank)`` as an ``[items, k]`` array for a ranking policy given as a spec dict
    (the keys of ``reckit``'s JSON spec files) or a spec file's path; ``method`` is ``"exact"``
    or ``"mc"`` (Monte Carlo with ``simulations`` rankings from ``seed``)."""
    if isinstance(policy, dict):
        text, base, source = json.dumps(policy), None, None
    elif isinstance(policy, (str, os.PathLike)):
        path = Path(policy)
        try:
            text = path.read_text()
        except OSError as e:
            raise ReckitIOError(f"policy: {path}: {e.strerror or e}", 2) from None
        base = str(path.resolve().parent).encode()
        source = str(path).encode()
    else:
        raise TypeError(f"policy: expected a spec dict or a path, got {type(policy).__name__}")
    if method not in ("exact", "mc"):
        raise ValueError(f"method: expected 'exact' or 'mc', got {method!r}")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise TypeError(f"k: expected an int, got {type(k).__name__}")
    code = 0 if method == "exact" else 1
    n = ctypes.c_int64(0)
    status = _lib.reckit_rank_marginals(text.encode(), base, source, int(k), code, int(simulations), int(seed), None, 0,
                                        ctypes.byref(n))
    if status != 5:  # the size query: anything else is the spec's or k's error
        _check(status if status != 0 else 5)
    out = np.empty((n.value, int(k)), dtype=np.float64)
    _check(_lib.reckit_rank_marginals(text.encode(), base, source, int(k), code, int(simulations), int(seed),
                                      _ptr(out, _dp), out.size, ctypes.byref(n)))
    return out


# Offline A/B tests ---------------------------------------------------------------------------

_lib.reckit_offline_ab.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_void_p,
                                   ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(_i64),
                                   ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(_i64)]
_lib.reckit_offline_ab.restype = _i32
_lib.reckit_offline_ab_partial.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_void_p,
                                           ctypes.c_char_p, _i64, ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(_i64)]
_lib.reckit_log_create.argtypes = [ctypes.c_char_p, _i64, _ip, _ip, _dp, _dp, ctypes.POINTER(ctypes.c_void_p)]
_lib.reckit_log_create.restype = _i32
_lib.reckit_log_add_column.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(_i32), _i64,
                                       ctypes.c_char_p, _ip, _i64]
_lib.reckit_log_add_column.restype = _i32
_lib.reckit_log_add_int_column.argtypes = [ctypes.c_void_p, ctypes.c_char_p, _ip, _i64, ctypes.POINTER(ctypes.c_uint8)]
_lib.reckit_log_add_int_column.restype = _i32
_lib.reckit_log_add_number_column.argtypes = [ctypes.c_void_p, ctypes.c_char_p, _dp, _i64]
_lib.reckit_log_add_number_column.restype = _i32
_lib.reckit_log_free.argtypes = [ctypes.c_void_p]
_lib.reckit_log_free.restype = None
_lib.reckit_offline_ab_partial.restype = _i32
_lib.reckit_offline_ab_merge.argtypes = [ctypes.POINTER(ctypes.c_char_p), ctypes.POINTER(_i64), _i64,
                                         ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(_i64),
                                         ctypes.POINTER(_i32), ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(_i64)]
_lib.reckit_offline_ab_merge.restype = _i32
_lib.reckit_free.argtypes = [ctypes.c_void_p]
_lib.reckit_free.restype = None


def _take(p: ctypes.c_void_p, n: ctypes.c_int64) -> bytes:
    try:
        return ctypes.string_at(p.value, n.value)
    finally:
        _lib.reckit_free(p)


class OfflineABReport:
    """An offline A/B report: ``rows``, ``logged_mean``, ``policies``, ``warnings``,
    ``estimates`` (a pandas DataFrame: policy, estimator, cap, grouping, model, value, low, high,
    method, normal_low, normal_high, tuning), ``diagnostics(policy)``, ``to_dict()``, ``to_json()``,
    ``to_html(path)``."""

    def __init__(self, report: dict, html: str = ""):
        self._report = report
        self._html = html
        self.rows = report["rows"]
        self.logged_mean = report["logged_mean"]
        self.warnings = list(report.get("warnings", []))
        self.policies = [e["policy"] for e in report["evaluations"]]

    def records(self) -> list:
        """The estimates as a list of dicts (the rows of ``estimates``)."""
        out = []
        for e in self._report["evaluations"]:
            for s in e["estimates"]:
                nan = float("nan")
                out.append({
                    "policy": s["policy"], "estimator": s["estimator"],
                    "cap": nan if s.get("cap") is None else s["cap"],
                    "grouping": s.get("grouping"), "model": s.get("model"),
                    "value": nan if s.get("value") is None else s["value"],
                    "low": nan if s["interval"].get("low") is None else s["interval"]["low"],
                    "high": nan if s["interval"].get("high") is None else s["interval"]["high"],
                    "method": s["method"],
                    "normal_low": nan if s["normal"].get("low") is None else s["normal"]["low"],
                    "normal_high": nan if s["normal"].get("high") is None else s["normal"]["high"],
                    "tuning": s.get("tuning"),
                    "likelihood_low": nan if s.get("likelihood") is None else s["likelihood"]["low"],
                    "likelihood_high": nan if s.get("likelihood") is None else s["likelihood"]["high"],
                })
        return out

    @property
    def estimates(self):
        """Every estimate as a pandas DataFrame (pandas is needed for this property only)."""
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("reckit: OfflineABReport.estimates needs pandas (pip install pandas); "
                              "records() gives the same rows as dicts") from None
        return pd.DataFrame.from_records(self.records(), columns=[
            "policy", "estimator", "cap", "grouping", "model", "value", "low", "high", "method", "normal_low",
            "normal_high", "tuning", "likelihood_low", "likelihood_high"])

    def estimate(self, policy: str, estimator: str, *, cap=None, grouping=None, model=None, tuning=None) -> dict:
        """The first estimate of ``policy`` by ``estimator`` (and ``cap``, ``grouping``, ``model``
        when given; ``tuning="slope"`` for a SLOPE-tuned one, whose ``cap`` is its choice), as a
        dict; KeyError when there is none."""
        for r in self.records():
            if (r["policy"] == policy and r["estimator"] == estimator and (cap is None or r["cap"] == cap)
                    and (grouping is None or r["grouping"] == grouping) and (model is None or r["model"] == model)
                    and r["tuning"] == tuning):
                return r
        raise KeyError(f"no {estimator} estimate for policy {policy!r}")

    def diagnostics(self, policy: str) -> dict:
        """The weight diagnostics of one policy (ESS, max and mean weight, cap table, ...)."""
        for e in self._report["evaluations"]:
            if e["policy"] == policy:
                return e["diagnostics"]
        raise KeyError(f"no policy {policy!r} (the report has {', '.join(self.policies)})")

    def to_dict(self) -> dict:
        """The report as the dict ``reckit offline-ab --json`` writes."""
        return json.loads(json.dumps(self._report))

    def to_json(self, path=None, *, indent=2):
        """The report as JSON text, or written to ``path`` when given."""
        text = json.dumps(self._report, indent=indent)
        if path is None:
            return text
        tmp = Path(str(path) + ".tmp")
        tmp.write_text(text)
        os.replace(tmp, path)
        return None

    def to_html(self, path=None):
        """The HTML report (``reckit offline-ab --html``'s page: interval charts, cap curves, weight
        histograms, tables; self-contained), as text, or written atomically to ``path``."""
        if path is None:
            return self._html
        tmp = Path(str(path) + ".tmp")
        tmp.write_text(self._html, encoding="utf-8")
        os.replace(tmp, path)
        return None

    def _repr_html_(self):
        return self._html

    def __repr__(self):
        return f"OfflineABReport({self.rows} rows, policies {self.policies})"


def _spec_value(spec, what: str):
    if isinstance(spec, dict):
        return spec
    if isinstance(spec, (str, os.PathLike)):
        return str(Path(spec).resolve())
    raise TypeError(f"{what}: expected a spec dict or a spec file's path, got {type(spec).__name__}")


def _columns_text(columns) -> str:
    if isinstance(columns, str):
        return columns
    if isinstance(columns, dict):
        parts = []
        for key, value in columns.items():
            if key == "context" and isinstance(value, (list, tuple)):
                value = "+".join(value)
            parts.append(f"{key}={value}")
        return ",".join(parts)
    raise TypeError(f"columns: expected a dict (item=..., position=..., reward=...) or the CLI's text, "
                    f"got {type(columns).__name__}")


def _write_table(table, directory: str, name: str, what: str) -> str:
    """A DataFrame or pyarrow Table as a CSV file in ``directory`` (item features, event logs for
    training; its name is fixed, so that what hashes the file name is the same on every run)."""
    path = os.path.join(directory, name)
    if hasattr(table, "to_pandas") and not hasattr(table, "to_csv"):  # a pyarrow Table
        table = table.to_pandas()
    if not hasattr(table, "to_csv"):
        raise TypeError(f"{what}: expected a path, a pandas DataFrame or a pyarrow Table, got {type(table).__name__}")
    table.to_csv(path, index=False)
    return path


_SLATE_PROBABILITIES = ("slate_propensity", "cascade_propensity", "target_propensity", "target_slate_propensity",
                        "target_cascade_propensity")


def _roles(format: str, columns_text, row_key) -> dict:
    """The columns an offline A/B run reads, by role: item, position, reward, propensity,
    context (a list), row_key, and a slate log's slate and probability columns (``reckit
    offline-ab``'s --columns)."""
    if format == "obd":
        roles = {"item": "item_id", "position": "position", "reward": "click", "propensity": "propensity_score",
                 "context": ["user_feature_0", "user_feature_1", "user_feature_2", "user_feature_3"]}
    else:
        roles = {"context": []}
        for part in (columns_text or "").split(","):
            role, _, value = part.partition("=")
            role, value = role.strip(), value.strip()
            if role == "context":
                roles["context"] = [v.strip() for v in value.split("+") if v.strip()]
            elif role in ("item", "position", "reward", "propensity", "row_key", "slate") + _SLATE_PROBABILITIES:
                roles[role] = value
    if row_key:
        roles["row_key"] = str(row_key)
    return roles


def _csv_text(values) -> list:
    """Values as a CSV file written by pandas holds them (the text RecKit's reader sees)."""
    out = []
    for v in values:
        if v is None or (isinstance(v, float) and v != v):
            out.append("")
        elif isinstance(v, (bool, np.bool_)):
            out.append("True" if v else "False")
        else:
            out.append(str(v))
    return out


def _integer_column(col):
    """(int64 values, uint8 missing flags or None) for an integer column (numpy or pandas'
    nullable integers), else None (the column goes as text)."""
    dtype = col.dtype
    if isinstance(dtype, np.dtype):
        if dtype.kind == "i" or (dtype.kind == "u" and dtype.itemsize < 8):
            return np.ascontiguousarray(col.to_numpy(), dtype=np.int64), None
        if dtype.kind == "u":
            a = col.to_numpy()
            if a.size == 0 or a.max() <= np.iinfo(np.int64).max:
                return np.ascontiguousarray(a, dtype=np.int64), None
        return None
    kind = getattr(getattr(dtype, "numpy_dtype", None), "kind", None)
    if kind == "i" or (kind == "u" and dtype.numpy_dtype.itemsize < 8):  # pandas Int64 & co.
        missing = np.ascontiguousarray(col.isna().to_numpy(), dtype=np.uint8)
        values = np.ascontiguousarray(col.to_numpy(dtype=np.int64, na_value=0), dtype=np.int64)
        return values, (missing if missing.any() else None)
    return None


def _table_columns(table, names, what):
    """(rows, {name: pandas Series}) for the named columns present in a DataFrame or a pyarrow
    Table, without copying numpy-backed columns (a DataFrame's, or an Arrow column without nulls
    in one chunk)."""
    import pandas as pd
    if hasattr(table, "to_csv"):  # a DataFrame: its columns are views
        return len(table), {n: table[n] for n in names if n in table.columns}
    if not hasattr(table, "column_names"):
        raise TypeError(f"{what}: expected a path, a pandas DataFrame or a pyarrow Table, got {type(table).__name__}")
    import pyarrow as pa
    cols = {}
    for n in names:
        if n not in table.column_names:
            continue
        c = table.column(n)
        t = c.type
        if c.null_count == 0 and (pa.types.is_integer(t) or pa.types.is_floating(t)):
            cols[n] = pd.Series(c.to_numpy(), copy=False)  # zero-copy for one chunk
        else:
            cols[n] = c.to_pandas()
    return table.num_rows, cols


class _Log:
    """A table's columns as a RecKit log (no CSV text): numbers as arrays RecKit reads in place
    (int64 and float64 columns are not copied; other dtypes are converted once), integer
    contexts and row keys as integers, other contexts as codes into their distinct values. Keeps
    the arrays it lends alive until ``close``."""

    def __init__(self, table, source: str, roles: dict, what: str = "logs"):
        import pandas as pd
        self.handle = None
        self._keep = []
        n, cols = _table_columns(table, _role_columns(roles), what)

        def column(role):
            name = roles.get(role)
            if not name:
                raise ValueError(f"columns: no column is mapped to {role!r}")
            if name not in cols:
                raise ValueError(f"{what}: missing column {name!r} (the {role} column)")
            return name, cols[name]

        def integers(role):
            name, col = column(role)
            a = col.to_numpy()
            if a.dtype.kind in "iu":
                return self._lend(np.ascontiguousarray(a, dtype=np.int64))
            if a.dtype.kind == "f" and np.all(np.isfinite(a)) and np.all(a == np.round(a)):
                return self._lend(np.ascontiguousarray(a, dtype=np.int64))
            raise ValueError(f"{what}: column {name!r} ({role}): expected integers, got dtype {a.dtype}")

        def numbers(role):
            name, col = column(role)
            a = col.to_numpy()
            if a.dtype.kind not in "biuf":
                raise ValueError(f"{what}: column {name!r} ({role}): expected numbers, got dtype {a.dtype}")
            return self._lend(np.ascontiguousarray(a, dtype=np.float64))

        item, position, reward = integers("item"), integers("position"), numbers("reward")
        propensity = numbers("propensity") if roles.get("propensity") else None
        handle = ctypes.c_void_p()
        _check(_lib.reckit_log_create(source.encode(), n, _ptr(item, _ip), _ptr(position, _ip), _ptr(reward, _dp),
                                      None if propensity is None else _ptr(propensity, _dp), ctypes.byref(handle)))
        self.handle = handle
        try:
            for role in _SLATE_PROBABILITIES:  # a slate log's probability columns, read in place
                if roles.get(role):
                    values = numbers(role)
                    _check(_lib.reckit_log_add_number_column(handle, roles[role].encode(), _ptr(values, _dp), n))
            coded = list(roles.get("context", [])) + [roles[k] for k in ("row_key", "slate") if roles.get(k)]
            for name in dict.fromkeys(coded):
                if name not in cols:
                    raise ValueError(f"{what}: missing column {name!r}")
                ints = _integer_column(cols[name])
                if ints is not None:  # integers go as integers: RecKit reads their decimal text
                    values, missing = self._lend(ints[0]), self._lend(ints[1])
                    _check(_lib.reckit_log_add_int_column(
                        handle, name.encode(), _ptr(values, _ip), n,
                        None if missing is None else missing.ctypes.data_as(ctypes.POINTER(ctypes.c_uint8))))
                    continue
                codes, uniques = pd.factorize(cols[name], use_na_sentinel=True)
                texts = _csv_text(list(uniques))
                if (codes < 0).any():  # missing values: an empty field in a CSV file
                    codes = np.where(codes < 0, len(texts), codes)
                    texts.append("")
                blobs = [t.encode("utf-8") for t in texts]
                offsets = np.zeros(len(blobs) + 1, dtype=np.int64)
                offsets[1:] = np.cumsum([len(b) for b in blobs])
                codes32 = self._lend(np.ascontiguousarray(codes, dtype=np.int32))
                _check(_lib.reckit_log_add_column(handle, name.encode(), codes32.ctypes.data_as(ctypes.POINTER(_i32)),
                                                  n, b"".join(blobs), _ptr(offsets, _ip), len(blobs)))
        except BaseException:
            self.close()
            raise

    def _lend(self, a):
        if a is not None:
            self._keep.append(a)
        return a

    def close(self):
        if self.handle is not None:
            _lib.reckit_log_free(self.handle)
            self.handle = None
        self._keep = []


def _prepare_logs(logs, directory: str, what: str = "logs") -> str:
    if isinstance(logs, (str, os.PathLike)):
        path = Path(logs)
        if path.suffix.lower() == ".parquet":
            try:
                import pyarrow.parquet as pq
            except ImportError:
                raise ImportError(f"{what}: reading Parquet needs pyarrow (pip install pyarrow)") from None
            return _write_table(pq.read_table(path), directory, path.stem + ".csv", what)
        return str(path.resolve())
    return _write_table(logs, directory, "logs.csv", what)


def _offline_ab_config(directory, *, format, columns, targets, logging, caps, bootstrap, seed,
                       item_features, row_key, k, method, simulations, piece_groups, reward_models,
                       shrinkage=(), sub_gaussian=(), slope=False, slope_delta=0.1, mips_embeddings=None,
                       interval="auto", weight_bound=None, balanced_ipw=None) -> dict:
    if format not in ("obd", "csv"):
        raise ValueError(f"format: expected 'obd' or 'csv', got {format!r}")
    if method not in ("exact", "mc"):
        raise ValueError(f"method: expected 'exact' or 'mc', got {method!r}")
    columns_text = None if columns is None else _columns_text(columns)
    slates = _is_slate_log(format, columns_text)
    if slates and any(part.partition("=")[0].strip().startswith("target_") for part in columns_text.split(",")):
        if logging is not None:
            raise ValueError("logging: with a slate log, logging adds PI, which needs targets as policy specs "
                             "(the log's target_* columns are its target here); leave out logging")
        if targets is not None and len(targets) > 0:
            raise ValueError("targets: the slate log's target_* columns are its target; leave out targets "
                             "(or the columns)")
        targets = []
    if targets is None:
        raise ValueError("targets: give at least one target policy (or a slate log's target_* columns)")
    if isinstance(targets, dict) and "kind" not in targets:
        target_list = [{"name": str(n), "spec": _spec_value(s, f"targets[{n!r}]")} for n, s in targets.items()]
    elif isinstance(targets, (list, tuple)):
        target_list = [_spec_value(s, f"targets[{i}]") for i, s in enumerate(targets)]
    else:
        raise TypeError("targets: expected a list of specs (dicts or paths) or a dict of names to specs, "
                        f"got {type(targets).__name__}")
    if not target_list and not (slates and targets == []):
        raise ValueError("targets: give at least one target policy")
    config = {"format": format, "targets": target_list,
              "caps": [float(c) for c in caps], "bootstrap": int(bootstrap), "seed": int(seed),
              "reward_models": bool(reward_models), "method": method}
    if columns_text is not None:
        config["columns"] = columns_text
    if logging is not None:
        config["logging"] = _spec_value(logging, "logging")
    if item_features is not None:
        config["item_features"] = _prepare_logs(item_features, directory, "item_features") \
            if not isinstance(item_features, (str, os.PathLike)) else str(Path(item_features).resolve())
    if mips_embeddings is not None:
        config["mips_embeddings"] = _prepare_logs(mips_embeddings, directory, "mips_embeddings") \
            if not isinstance(mips_embeddings, (str, os.PathLike)) else str(Path(mips_embeddings).resolve())
    if row_key is not None:
        config["row_key"] = str(row_key)
    if k is not None:
        config["k"] = int(k)
    if method == "mc":
        config["simulations"] = int(simulations)
    if piece_groups is not None:
        config["piece_groups"] = piece_groups if isinstance(piece_groups, str) else ",".join(piece_groups)
    for key, values in (("shrinkage", shrinkage), ("sub_gaussian", sub_gaussian)):
        try:
            numbers = [float(v) for v in values]
        except (TypeError, ValueError):
            raise TypeError(f"{key}: expected a list of numbers, got {values!r}") from None
        if any(math.isnan(v) or v == -math.inf for v in numbers):
            raise ValueError(f"{key}: expected numbers (inf allowed), got {values!r}")
        if numbers:
            config[key] = ["inf" if math.isinf(v) else v for v in numbers]
    if not isinstance(slope, bool):
        raise TypeError(f"slope: expected True or False, got {slope!r}")
    if slope:
        config["slope"] = True
        if not isinstance(slope_delta, (int, float)) or not 0 < slope_delta < 1:
            raise ValueError(f"slope_delta: expected a number in (0, 1), got {slope_delta!r}")
        config["slope_delta"] = float(slope_delta)
    if interval not in ("auto", "empirical-likelihood"):
        raise ValueError(f"interval: expected 'auto' or 'empirical-likelihood', got {interval!r}")
    if interval != "auto":
        config["interval"] = interval
    if weight_bound is not None:
        if interval != "empirical-likelihood":
            raise ValueError("weight_bound: it goes with interval='empirical-likelihood'")
        if isinstance(weight_bound, bool) or not isinstance(weight_bound, (int, float)) \
                or not (1 < weight_bound < math.inf):
            raise ValueError(f"weight_bound: expected a finite number above 1, got {weight_bound!r}")
        config["weight_bound"] = float(weight_bound)
    if balanced_ipw is not None:
        if isinstance(balanced_ipw, bool) or not isinstance(balanced_ipw, (int, float)) \
                or not (0 < balanced_ipw < math.inf):
            raise ValueError(f"balanced_ipw: expected the classifier's C, a finite number above 0, got {balanced_ipw!r}")
        config["balanced_ipw"] = float(balanced_ipw)
    return config


def _offline_ab_rows(logs, format, columns_text, row_key, piece_groups):
    """(path, None) for a CSV file; (None, a _Log) for a table or a Parquet file."""
    if isinstance(logs, (str, os.PathLike)):
        path = Path(logs)
        if path.suffix.lower() != ".parquet":
            return str(path.resolve()), None
        try:
            import pyarrow.parquet as pq
        except ImportError:
            raise ImportError("logs: reading Parquet needs pyarrow (pip install pyarrow)") from None
        roles = _roles(format, columns_text, row_key)
        wanted = set(_role_columns(roles))
        names = [n for n in pq.read_schema(path).names if n in wanted]  # only what the run reads
        return None, _Log(pq.read_table(path, columns=names), path.stem + ".csv", roles)
    return None, _Log(logs, "logs.csv", _roles(format, columns_text, row_key))


def _is_slate_log(format, columns_text) -> bool:
    """Whether the column mapping names a slate column (the slate estimators' run)."""
    return format == "csv" and any(part.partition("=")[0].strip() == "slate"
                                   for part in (columns_text or "").split(","))


def _role_columns(roles: dict) -> list:
    names = [roles[k] for k in ("item", "position", "reward", "propensity") if roles.get(k)]
    names += roles.get("context", [])
    for k in ("row_key", "slate") + _SLATE_PROBABILITIES:
        if roles.get(k):
            names.append(roles[k])
    return list(dict.fromkeys(names))


def log_columns(*, format: str = "obd", columns=None, row_key=None) -> list:
    """The columns ``offline_ab`` reads from a log with these ``format``, ``columns`` and
    ``row_key`` arguments, in order (item, position, reward, propensity, contexts, row key): what
    to read from a Parquet file, or to select from a DataFrame before it travels."""
    if format not in ("obd", "csv"):
        raise ValueError(f"format: expected 'obd' or 'csv', got {format!r}")
    return _role_columns(_roles(format, None if columns is None else _columns_text(columns), row_key))


def offline_ab(logs, *, targets=None, format="obd", columns=None, logging=None, caps=(2, 5, 10), bootstrap=1000,
               seed=1, item_features=None, row_key=None, k=None, method="exact", simulations=1_000_000,
               piece_groups=None, reward_models=True, shrinkage=(), sub_gaussian=(), slope=False, slope_delta=0.1,
               mips_embeddings=None, interval="auto", weight_bound=None, balanced_ipw=None, partial=False,
               after=None):
    """Estimates target ranking policies' click rates from logged data, as ``reckit offline-ab``.

    ``logs``: a CSV path (``format="obd"``: the Open Bandit Dataset layout; ``"csv"``: any header,
    mapped by ``columns``, a dict such as ``{"item": "item_id", "position": "position", "reward":
    "click", "propensity": "propensity_score", "context": ["user_feature_0"], "position_base": 1}``),
    a Parquet path, a pandas DataFrame or a pyarrow Table. ``targets``: a list of policy specs
    (dicts with the JSON spec files' keys, or their paths) or a dict of names to specs;
    ``logging``: the logging policy (default: the logged propensities). ``shrinkage`` (DRos's λ
    values, ``math.inf`` allowed) and ``sub_gaussian`` (λ in [0, 1]) add those estimators;
    ``slope=True`` adds SLOPE-tuned CIS, DRos and sub-Gaussian estimates; ``mips_embeddings`` (an
    item CSV path or a table with ``item_id`` and categorical columns; needs ``logging``) adds MIPS
    and SNMIPS. ``interval="empirical-likelihood"`` makes the interval of every estimator of the
    policy's value from the weights and rewards (IS, SNIPS, CIS, NCIS, the pieces) and of the DR
    family the empirical-likelihood one, an interval for the value itself (the weights' mean fixed at 1; ``weight_bound``: the largest weight it allows, default the
    largest logged); every estimate then carries ``likelihood_low``/``likelihood_high``.
    ``balanced_ipw=C`` adds BIPW, balanced IPW (OBP's ``BalancedInverseProbabilityWeighting``): its
    weights are the odds of a classifier, per position an L2 logistic regression with that C (as
    scikit-learn's ``LogisticRegression(C=C)``) on the item and the context columns, that tells the
    logged rows from the target's items on the same rows. Returns an
    ``OfflineABReport``. With ``partial=True`` (``k`` required) returns this shard's state as
    bytes for ``reckit.merge``; ``after`` is the merged state of the previous pass.

    Without ``row_key``, bootstrap weights and cross-fitting folds hash the log file's name and
    each row's line (a table is read as ``logs.csv``, a Parquet file as its stem + ``.csv``);
    give ``row_key`` (a column identifying rows) for results that do not depend on either.

    A slate log (``columns`` with ``"slate"``, the rows of one slate consecutive, and probability
    columns by role: ``slate_propensity``, ``cascade_propensity``, ``target_propensity``,
    ``target_slate_propensity``, ``target_cascade_propensity``) is evaluated by the slate
    estimators SIPS, IIPS, RIPS and their self-normalised versions, each weighting whose two
    columns the log has; its target is the ``target_*`` columns (then leave out ``targets``) or
    the ``targets`` specs (Plackett–Luce and uniform give all three weightings in closed form;
    Thompson sampling and epsilon-greedy SIPS and RIPS by Monte Carlo over ``simulations``
    rankings, default 1,000,000, as the report's warning says),
    its logging policy the logged columns; with ``targets`` specs, ``logging`` (a uniform or
    Plackett–Luce spec) adds PI and SNPI, the pseudo-inverse estimator. Values are sums of rewards
    per slate. A table's columns are read in place, as for other logs. Its shards (``partial=True``, ``k``
    required) are one pass each; ``reckit.merge`` takes them in file order (a slate cut between two
    is joined) and returns the report, or, when a target takes Cascade-DR (Plackett–Luce or uniform
    with a ``cascade_propensity`` column and reward models), the merged first pass: run every shard
    again with ``after=`` it and merge those for the report with Cascade-DR."""
    import tempfile
    with tempfile.TemporaryDirectory(prefix="reckit-") as d:
        config = _offline_ab_config(
            d, format=format, columns=columns, targets=targets, logging=logging, caps=caps,
            bootstrap=bootstrap, seed=seed, item_features=item_features, row_key=row_key, k=k, method=method,
            simulations=simulations, piece_groups=piece_groups, reward_models=reward_models, shrinkage=shrinkage,
            sub_gaussian=sub_gaussian, slope=slope, slope_delta=slope_delta, mips_embeddings=mips_embeddings,
            interval=interval, weight_bound=weight_bound, balanced_ipw=balanced_ipw)
        if _is_slate_log(format, config.get("columns")):
            if partial and k is None:
                raise ValueError("k: a slate log's shards need k (every shard must evaluate the same positions)")
        path, log = _offline_ab_rows(logs, format, config.get("columns"), row_key, piece_groups)
        if path is not None:
            config["logs"] = path
        text = json.dumps(config).encode()
        out, n = ctypes.c_void_p(), _i64(0)
        try:
            return _run_offline_ab(text, None if log is None else log.handle, partial, after, out, n)
        finally:
            if log is not None:
                log.close()


def _run_offline_ab(text, log, partial, after, out, n):
    if partial or after is not None:
        if after is not None and not isinstance(after, (bytes, bytearray)):
            raise TypeError(f"after: expected the bytes reckit.merge returned, got {type(after).__name__}")
        after_bytes = bytes(after) if after is not None else None
        _check(_lib.reckit_offline_ab_partial(text, None, b"offline_ab", log, after_bytes,
                                              len(after_bytes) if after_bytes else 0, ctypes.byref(out),
                                              ctypes.byref(n)))
        return _take(out, n)
    html, hn = ctypes.c_void_p(), _i64(0)
    _check(_lib.reckit_offline_ab(text, None, b"offline_ab", log, ctypes.byref(out), ctypes.byref(n),
                                  ctypes.byref(html), ctypes.byref(hn)))
    report = json.loads(_take(out, n))
    return OfflineABReport(report, _take(html, hn).decode("utf-8"))


def merge(states):
    """Merges shards' states of one pass (``offline_ab(..., partial=True)``): the report when
    every pass is done, else the merged state (bytes) to give every shard as ``after``."""
    states = list(states)
    if not states or not all(isinstance(s, (bytes, bytearray)) for s in states):
        raise TypeError("states: expected a non-empty list of the bytes offline_ab(partial=True) returned")
    blobs = [bytes(s) for s in states]
    ptrs = (ctypes.c_char_p * len(blobs))(*blobs)
    lens = (_i64 * len(blobs))(*[len(b) for b in blobs])
    out, n, done = ctypes.c_void_p(), _i64(0), _i32(0)
    html, hn = ctypes.c_void_p(), _i64(0)
    _check(_lib.reckit_offline_ab_merge(ptrs, lens, len(blobs), ctypes.byref(out), ctypes.byref(n),
                                        ctypes.byref(done), ctypes.byref(html), ctypes.byref(hn)))
    data = _take(out, n)
    if done.value == 1:
        return OfflineABReport(json.loads(data), _take(html, hn).decode("utf-8"))
    return data


# Training and serving ------------------------------------------------------------------------

_vp = ctypes.POINTER(ctypes.c_void_p)
_bufp = ctypes.POINTER(ctypes.c_void_p)
_lib.reckit_train.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, _vp, _bufp, ctypes.POINTER(_i64)]
_lib.reckit_train.restype = _i32
_lib.reckit_model_load.argtypes = [ctypes.c_char_p, _vp]
_lib.reckit_model_load.restype = _i32
_lib.reckit_model_free.argtypes = [ctypes.c_void_p]
_lib.reckit_model_free.restype = None
_lib.reckit_model_info.argtypes = [ctypes.c_void_p, _bufp, ctypes.POINTER(_i64)]
_lib.reckit_model_info.restype = _i32
_lib.reckit_model_scores.argtypes = [ctypes.c_void_p, _i32, _ip, _ip, _i64, _fp]
_lib.reckit_model_scores.restype = _i32
_lib.reckit_model_recommend.argtypes = [ctypes.c_void_p, _i32, _ip, _ip, _i64, _i64, _i32, _ip, _fp]
_lib.reckit_model_recommend.restype = _i32
_lib.reckit_model_save.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
_lib.reckit_model_save.restype = _i32
_lib.reckit_model_head.argtypes = [ctypes.c_void_p, _i32, _fp, _fp]
_lib.reckit_model_head.restype = _i32
_lib.reckit_evaluate.argtypes = [ctypes.c_void_p, _i32, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, _bufp,
                                 ctypes.POINTER(_i64)]
_lib.reckit_evaluate.restype = _i32

_HEADS = {"supervised": 0, "q": 1}


def _head(head: str) -> int:
    if head not in _HEADS:
        raise ValueError(f"head: expected 'supervised' or 'q', got {head!r}")
    return _HEADS[head]


class Model:
    """A trained sequential recommender (SASRec or GRU4Rec encoder, supervised and Q heads):
    ``items``, ``item_keys`` (raw item keys, as strings), ``event_types``, ``length``,
    ``algorithm``; ``scores(histories)``, ``recommend(histories, k)``, ``save(path)``.
    ``report`` holds the training report when it comes from ``reckit.train``.

    Histories are lists of raw item keys (the log's item values; compared as strings), oldest
    first; keys the model does not know are skipped, and the last ``length`` are used."""

    def __init__(self, handle: ctypes.c_void_p, report=None):
        self._handle = handle
        out, n = ctypes.c_void_p(), _i64(0)
        _check(_lib.reckit_model_info(handle, ctypes.byref(out), ctypes.byref(n)))
        info = json.loads(_take(out, n))
        self.items = info["items"]
        self.length = info["length"]
        self.algorithm = info["algorithm"]
        self.encoder = info["encoder"]
        self.dim = info["dim"]
        self.item_keys = info["item_keys"]
        self.event_types = info["event_types"]
        self.has_q_head = info["has_q_head"]
        self.report = report
        self._ids = {k: i + 1 for i, k in enumerate(self.item_keys)}

    def _histories(self, histories, name="histories"):
        if self._handle is None:
            raise ValueError("model: it has been closed")
        if isinstance(histories, (str, bytes)) or not hasattr(histories, "__len__"):
            raise TypeError(f"{name}: expected a list of histories (each a list of item keys)")
        offsets = np.zeros(len(histories) + 1, dtype=np.int64)
        ids = []
        for r, h in enumerate(histories):
            if isinstance(h, (str, bytes)) or not hasattr(h, "__iter__"):
                raise TypeError(f"{name}[{r}]: expected a list of item keys, got {type(h).__name__}")
            known = [self._ids[str(k)] for k in h if str(k) in self._ids]
            ids.extend(known)
            offsets[r + 1] = len(ids)
        if len(histories) == 0:
            raise ValueError(f"{name}: expected at least one history")
        return offsets, np.asarray(ids if ids else [0], dtype=np.int64)

    def scores(self, histories, *, head: str = "supervised") -> np.ndarray:
        """Scores of every item, ``float32 [len(histories), items]`` (column i = ``item_keys[i]``)."""
        code = _head(head)
        offsets, ids = self._histories(histories)
        out = np.empty((len(offsets) - 1, self.items), dtype=np.float32)
        _check(_lib.reckit_model_scores(self._handle, code, _ptr(offsets, _ip), _ptr(ids, _ip), len(offsets) - 1,
                                        _ptr(out, _fp)))
        return out

    def recommend(self, histories, k: int = 10, *, exclude_history: bool = False, head: str = "supervised"):
        """The top ``k`` items of each history: ``(keys object [B, k], scores float32 [B, k])``,
        best first, ties to the lower item index; unused slots hold None and NaN."""
        code = _head(head)
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"k: expected a positive int, got {k!r}")
        offsets, ids = self._histories(histories)
        b = len(offsets) - 1
        idx = np.empty((b, int(k)), dtype=np.int64)
        sc = np.empty((b, int(k)), dtype=np.float32)
        _check(_lib.reckit_model_recommend(self._handle, code, _ptr(offsets, _ip), _ptr(ids, _ip), b, int(k),
                                           1 if exclude_history else 0, _ptr(idx, _ip), _ptr(sc, _fp)))
        keys = np.array([[self.item_keys[i] if i >= 0 else None for i in row] for row in idx], dtype=object)
        return keys, sc

    def item_vectors(self, *, head: str = "supervised"):
        """The head's catalog: ``(vectors float32 [items, dim], bias float32 [items])``, row i
        scoring ``item_keys[i]`` (what ``reckit score --items-from`` scores; give them to
        ``CatalogScorer`` to serve top-k from states)."""
        code = _head(head)
        if self._handle is None:
            raise ValueError("model: it has been closed")
        vectors = np.empty((self.items, self.dim), dtype=np.float32)
        bias = np.empty(self.items, dtype=np.float32)
        _check(_lib.reckit_model_head(self._handle, code, _ptr(vectors, _fp), _ptr(bias, _fp)))
        return vectors, bias

    def save(self, path) -> None:
        """Writes the model as a checkpoint (atomically) that ``reckit.load_model``, ``reckit
        evaluate`` and ``reckit offline-ab --target-model`` read."""
        if self._handle is None:
            raise ValueError("model: it has been closed")
        _check(_lib.reckit_model_save(self._handle, str(path).encode()))

    def close(self) -> None:
        """Frees the model (also done when it is collected)."""
        if getattr(self, "_handle", None) is not None:
            _lib.reckit_model_free(self._handle)
            self._handle = None

    def __del__(self):
        self.close()

    def __repr__(self):
        return f"Model({self.algorithm}, {self.encoder}, {self.items} items, length {self.length})"


def _event_config(events, directory: str, *, format: str, columns, extra: dict) -> dict:
    config = dict(extra)
    if isinstance(events, (str, os.PathLike)):
        config["data"] = str(Path(events).resolve())
    else:
        config["data"] = _write_table(events, directory, "events.csv", "events")
    config["format"] = format
    if columns is not None:
        if isinstance(columns, dict):
            config["columns"] = ",".join(f"{k}={v}" for k, v in columns.items())
        elif isinstance(columns, str):
            config["columns"] = columns
        else:
            raise TypeError(f"columns: expected a dict (session=..., time=..., item=..., event=...) or the CLI's "
                            f"text, got {type(columns).__name__}")
    return config


def train(events, *, columns=None, format: str = "csv", algo: str = "sqn", epochs: int = 10, out=None,
          **options) -> Model:
    """Trains a sequential recommender as ``reckit train`` does and returns the best epoch's
    model (``.report`` holds the training report). ``events``: an event log path or a pandas
    DataFrame / pyarrow Table; ``columns``: ``{"session": ..., "time": ..., "item": ...,
    "event": ...}`` (or the CLI's text). Other options are ``reckit train``'s flags in snake_case
    (``batch``, ``lr``, ``dim``, ``blocks``, ``reward``, ``seed``, ``min_item_count``, ...). With
    ``out``, the run folder gets the checkpoints, metrics, split and HTML report."""
    import tempfile
    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 1:
        raise ValueError(f"epochs: expected a positive int, got {epochs!r}")
    extra = {"algo": algo, "epochs": int(epochs), **options}
    if out is not None:
        extra["out"] = str(Path(out).resolve())
    with tempfile.TemporaryDirectory(prefix="reckit-") as d:
        config = _event_config(events, d, format=format, columns=columns, extra=extra)
        handle, report, n = ctypes.c_void_p(), ctypes.c_void_p(), _i64(0)
        _check(_lib.reckit_train(json.dumps(config).encode(), None, b"train", ctypes.byref(handle),
                                 ctypes.byref(report), ctypes.byref(n)))
        return Model(handle, json.loads(_take(report, n)))


def load_model(path) -> Model:
    """A model from a checkpoint (``reckit train``'s ``best.safetensors``, or ``Model.save``)."""
    handle = ctypes.c_void_p()
    _check(_lib.reckit_model_load(str(path).encode(), ctypes.byref(handle)))
    return Model(handle)


BASELINES = ("popularity", "itemknn", "sknn", "vsknn")


def evaluate(model, events, *, columns=None, format: str = "csv", on: str = "test", head: str = "supervised",
             neighbours: int = 100, **options):
    """HR@k and NDCG@k (k = 5, 10, 20) per event type on the ``on`` sessions ("test" or
    "valid") of ``events``, split as in training (the same data options and ``split_seed``, or
    ``split`` = the run's split.csv): a pandas DataFrame (event, metric, k, value), or a dict
    when pandas is missing. ``model``: a ``Model`` or a baseline fitted on the training sessions:
    ``"popularity"``, ``"itemknn"``, ``"sknn"`` or ``"vsknn"`` (``neighbours``: items for
    itemknn, sessions for sknn and vsknn), as ``reckit evaluate --model``."""
    import tempfile
    if not (isinstance(model, Model) or (isinstance(model, str) and model in BASELINES)):
        raise TypeError(f"model: expected a reckit.Model or one of {', '.join(repr(b) for b in BASELINES)}, "
                        f"got {model!r}" if isinstance(model, str) else
                        f"model: expected a reckit.Model or one of {', '.join(repr(b) for b in BASELINES)}, "
                        f"got {type(model).__name__}")
    if on not in ("test", "valid"):
        raise ValueError(f"on: expected 'test' or 'valid', got {on!r}")
    if isinstance(neighbours, bool) or not isinstance(neighbours, int) or neighbours < 1:
        raise ValueError(f"neighbours: expected a positive int, got {neighbours!r}")
    code = _head(head)
    extra = {**options, "on": on}
    if not isinstance(model, Model):
        extra.update(baseline=model, neighbours=neighbours)
    with tempfile.TemporaryDirectory(prefix="reckit-") as d:
        config = _event_config(events, d, format=format, columns=columns, extra=extra)
        out, n = ctypes.c_void_p(), _i64(0)
        handle = model._handle if isinstance(model, Model) else None
        _check(_lib.reckit_evaluate(handle, code, json.dumps(config).encode(), None, b"evaluate", ctypes.byref(out),
                                    ctypes.byref(n)))
        values = json.loads(_take(out, n))
    try:
        import pandas as pd
    except ImportError:
        return values
    rows = []
    for name, value in sorted(values.items()):
        event, _, metric = name.rpartition("_")
        m, _, k = metric.partition("@")
        rows.append({"event": event, "metric": m, "k": int(k), "value": value})
    return pd.DataFrame(rows, columns=["event", "metric", "k", "value"])
