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
    "rank_marginals",
    "set_threads",
    "build_info",
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


_library_path, _library_build = _find_library()
_lib = ctypes.CDLL(_library_path)
_i64, _i32, _u64 = ctypes.c_int64, ctypes.c_int32, ctypes.c_uint64
_fp, _dp, _ip = ctypes.POINTER(ctypes.c_float), ctypes.POINTER(ctypes.c_double), ctypes.POINTER(ctypes.c_int64)
_lib.reckit_abi_version.restype = _i32
_lib.reckit_last_error.restype = ctypes.c_char_p
_lib.reckit_version.restype = ctypes.c_char_p
_lib.reckit_blas_core.restype = ctypes.c_char_p
_lib.reckit_build_features.argtypes = [ctypes.POINTER(_i32), ctypes.POINTER(_i32)]
_lib.reckit_build_features.restype = None
_lib.reckit_set_threads.argtypes = [_i64]
_lib.reckit_set_threads.restype = _i32
_lib.reckit_scorer_create.argtypes = [_fp, _i64, _i64, _fp, ctypes.POINTER(ctypes.c_void_p)]
_lib.reckit_scorer_create.restype = _i32
_lib.reckit_scorer_free.argtypes = [ctypes.c_void_p]
_lib.reckit_scorer_free.restype = None
_lib.reckit_scorer_topk.argtypes = [ctypes.c_void_p, _fp, _i64, _i64, _i64, _ip, _ip, _i64, _ip, _fp, _ip]
_lib.reckit_scorer_topk.restype = _i32
_lib.reckit_rank_marginals.argtypes = [
    ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, _i64, _i32, _i64, _u64, _dp, _i64, _ip]
_lib.reckit_rank_marginals.restype = _i32
if _lib.reckit_abi_version() != 2:
    raise ImportError(f"reckit: the library's ABI is version {_lib.reckit_abi_version()}, this package needs 2")


__version__ = _lib.reckit_version().decode()


def build_info() -> dict:
    """What was loaded: ``version``, ``library`` (its path), ``build`` (the wheel's ISA level,
    ``RECKIT_LIBRARY`` or ``checkout``), the vector features it was ``compiled`` for and the
    ``host`` has, and ``blas_core``, the kernel set OpenBLAS chose on this CPU."""
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
    Swift ``CatalogScorer`` for any thread count)."""

    def __init__(self, items, bias=None):
        self._handle = None
        it = _matrix(items, "items")
        self.items, self.dim = it.shape
        b = None
        if bias is not None:
            b = np.ascontiguousarray(np.asarray(bias), dtype=np.float32)
            if b.shape != (self.items,):
                raise ValueError(f"bias: expected shape ({self.items},), got {b.shape}")
        handle = ctypes.c_void_p()
        _check(_lib.reckit_scorer_create(
            _ptr(it, _fp), self.items, self.dim, None if b is None else _ptr(b, _fp), ctypes.byref(handle)))
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
