"""The per-step recurrent product on weights packed once per call (``@njit``).

``out[:nb] = a[:nb] @ B`` for a small ``a`` (the states of one step) and a
weight matrix ``B`` (K, N) that every step of a call reuses.  OpenBLAS packs
``B`` again on every call and ran the per-step products of an LSTM at 53-77
GFLOP/s on one core of the project machine (its large-GEMM peak is ~104);
here ``B`` is packed once per call into panels of :data:`NR` columns
(``panels[p, k, c] = B[k, p*NR + c]``, zero past column N), and a
register-blocked micro-kernel computes an :data:`MR` × :data:`NR` tile of
``out`` (MR / 2 × NR in float64) per pass over k, its sums held in registers.

The micro-kernel is written out as scalar code (one accumulator per element
of the tile, generated below): LLVM's SLP vectoriser packs the accumulators
of a tile row into AVX-512 registers (``vfmadd231ps/pd zmm``).  Numba runs
that vectoriser only when ``numba.core.config.SLP_VECTORIZE`` is set (it is
off by default, and the loop vectoriser instead vectorised the k loop with
128 reductions, at 6 GFLOP/s), so :func:`compile_kernels` compiles the
kernels with it set, under Numba's compiler lock, before any caller is
compiled.  Without reassociation each element is the plain sequential sum
over k (fused multiply-adds): reproducible, and as accurate as BLAS.
"""

import numba
import numpy as np
from numba.core import config
from numba.core.compiler_lock import global_compiler_lock
from numba.extending import overload
from numba.np.numpy_support import as_dtype

from ._jit import jit, specialise, wide_vectors

__all__ = ["MR", "NR", "compile_kernels", "compiled", "pack", "panel_product", "rows_padded"]

#: Rows and columns of a tile of ``out``: 8 × 32 accumulators in float32 (16 zmm
#: registers of AVX-512's 32), 4 × 32 in float64 (16 zmm; the float64 tile has
#: :data:`MR` // 2 rows).  On an Emerald Rapids core, whose two FMA units take 4
#: cycles each, a float32 tile of 4 rows (8 independent sums) ran 5-15% slower.
MR = 8
NR = 32


def _tile_source(rows):
    """Source of ``_tile(a, i0, panels, p, out, r0, c0, k0, k1, first)``: one rows × NR tile.

    ``out[r0 + r, c0 + c] = sum_{k0 <= k < k1} a[i0 + r, k] * panels[p, k, c]``, added to
    the tile's values in ``out`` unless ``first``: the sums over blocks of k continue each
    element's sum in k's order, bit for bit the sum over all k in one pass.
    """
    lines = ["def _tile(a, i0, panels, p, out, r0, c0, k0, k1, first):", "    panel = panels[p]"]
    lines += [f"    a{r} = a[i0 + {r}]" for r in range(rows)]
    lines += ["    if first:", "        x = panel[k0]"]
    for r in range(rows):
        lines.append(f"        v = a{r}[k0]")
        lines += [f"        s{r}_{c} = v * x[{c}]" for c in range(NR)]
    lines += ["        k0 += 1", "    else:"]
    for r in range(rows):
        lines.append(f"        o = out[r0 + {r}]")
        lines += [f"        s{r}_{c} = o[c0 + {c}]" for c in range(NR)]
    lines += ["    for k in range(k0, k1):", "        x = panel[k]"]
    for r in range(rows):
        lines.append(f"        v = a{r}[k]")
        lines += [f"        s{r}_{c} += v * x[{c}]" for c in range(NR)]
    for r in range(rows):
        lines.append(f"    o = out[r0 + {r}]")
        lines += [f"    o[c0 + {c}] = s{r}_{c}" for c in range(NR)]
    return "\n".join(lines)


def _make_tile(rows):
    # Compiled with this file as its source file, so that Numba's on-disk
    # cache can key it (it hashes the bytecode, so a change of MR or NR
    # misses the cache, as it should).
    namespace = {}
    exec(compile(_tile_source(rows), __file__, "exec"), namespace)  # noqa: S102
    func = namespace["_tile"]
    func.__module__ = __name__
    return numba.njit(error_model="numpy", fastmath={"contract"}, inline="always")(func)


_tile, _half_tile = _make_tile(MR), _make_tile(MR // 2)


def rows_padded(n):
    """n rounded up to a multiple of MR: the rows :func:`panel_product` reads of ``a``."""
    return -(-n // MR) * MR


@jit
def pack(b, panels):
    """panels[p, k, c] = b[k, p*NR + c] (zero past b's last column)."""
    K, N = b.shape
    for p in range(panels.shape[0]):
        for k in range(K):
            dst = panels[p, k]
            for c in range(NR):
                j = p * NR + c
                dst[c] = b[k, j] if j < N else 0


def _product(a, nb, panels, out, tail):
    """:func:`panel_product`, specialised for float32 (``SINGLE``, a global of each copy:
    the other tile is pruned before typing, 5 s less to compile) or float64."""
    wide_vectors()
    mr = MR if SINGLE else MR // 2  # noqa: F821
    N = out.shape[1]
    K = a.shape[1]
    full_rows = nb - nb % mr
    # k in blocks of at most 32 KB of a panel (256 rows in float32, 128 in float64), so
    # that the block and the rows of ``a`` it meets stay in L1: (32 × 384)·(384 × 1024)
    # ran at 76-108 GFLOP/s in one pass and at 121-130 in two blocks on an Emerald Rapids
    # core (peak 155); up to 256 rows, one pass was faster.
    blocks = -(-K // (1024 // a.itemsize))
    step = -(-K // blocks)
    for k0 in range(0, K, step):
        k1 = min(K, k0 + step)
        first = k0 == 0
        # Panel by panel: a panel (block) stays in L1 while every row block of ``a`` (in
        # L2) passes it; the other way round, all the panels streamed from L3 once per
        # row block (64 GFLOP/s instead of 108 at 64×512·512×2048).
        for p in range(panels.shape[0]):
            c0 = p * NR
            cols = min(NR, N - c0)
            for i in range(0, nb, mr):
                edge = i >= full_rows or cols < NR
                rows = min(mr, nb - i)
                if edge and not first:  # the edge tile's sums so far
                    for r in range(rows):
                        for c in range(cols):
                            tail[r, c] = out[i + r, c0 + c]
                target, r0, t0 = (tail, 0, 0) if edge else (out, i, c0)
                if SINGLE:  # noqa: F821
                    _tile(a, i, panels, p, target, r0, t0, k0, k1, first)
                else:
                    _half_tile(a, i, panels, p, target, r0, t0, k0, k1, first)
                if edge:
                    for r in range(rows):
                        o = out[i + r]
                        t = tail[r]
                        for c in range(cols):
                            o[c0 + c] = t[c]


# fastmath "contract": fused multiply-adds, no reassociation.
_products = {
    np.dtype(dtype): specialise(_product, name, lambda f: jit(f, fastmath={"contract"}),
                                SINGLE=dtype == np.float32)
    for dtype, name in ((np.float32, "single"), (np.float64, "double"))
}


def panel_product(a, nb, panels, out, tail):
    """out[:nb] = a[:nb] @ B, B packed by :func:`pack`; other rows of ``out`` untouched.

    ``a`` needs :func:`rows_padded` (nb) rows, all finite (the rows past nb
    are multiplied too, into ``tail``, and dropped).  ``tail`` is an
    (MR, NR) workspace for the tiles at the edges (the last rows when nb is
    not a multiple of the tile's rows, the last columns when N is not one of NR).
    Callable from Python and from ``@njit`` code; float32 or float64.
    """
    _products[a.dtype](a, nb, panels, out, tail)


@overload(panel_product)
def _panel_product_njit(a, nb, panels, out, tail):
    product = _products[as_dtype(a.dtype)]
    return lambda a, nb, panels, out, tail: product(a, nb, panels, out, tail)


def compile_kernels(dtype):
    """Compile :func:`panel_product` for ``dtype`` with LLVM's SLP vectoriser on.

    Call before compiling any function that calls it (or loading one from
    the cache): a caller links the callee's machine code as compiled then.
    Compiling takes ~9 s in float32 and ~4 s in float64 (the tiles are 256 and
    128 accumulators of straight-line code); the on-disk cache loads them in ~0.2 s.
    """
    dtype = np.dtype(dtype)
    if dtype in _compiled:
        return
    m2 = numba.from_dtype(dtype)[:, ::1]
    with global_compiler_lock:
        saved = config.SLP_VECTORIZE
        config.SLP_VECTORIZE = 1
        try:
            _products[dtype].compile((m2, numba.int64, numba.from_dtype(dtype)[:, :, ::1], m2, m2))
        finally:
            config.SLP_VECTORIZE = saved
    _compiled.add(dtype)


_compiled = set()


def compiled(dtype):
    """Whether :func:`compile_kernels` has run for ``dtype`` in this process."""
    return np.dtype(dtype) in _compiled
