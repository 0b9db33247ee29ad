"""Whole-array kernels of the CUDA backend: the tiled matrix product used for every
product over all T*B rows at once (the input projection, ``grad_x`` and the weight
gradients), column sums, and strided copies, fills and elementwise operations.

Every kernel loops over its work with the grid's stride, so any launch size is correct.
"""

from numba import cuda
from numba.core import config

#: ``gemm`` runs blocks of THREADS x THREADS threads, each computing REG x REG
#: outputs, so a block computes a BLOCK x BLOCK tile of the output.  The
#: simulator starts a Python thread per CUDA thread, so it gets small ones.
THREADS = 4 if config.ENABLE_CUDASIM else 16
REG = 2 if config.ENABLE_CUDASIM else 4
BLOCK = THREADS * REG
# Shared-array shapes must be compile-time constants: globals, not expressions.
# One padding column keeps the tiles' column-wise stores off a single bank.
_BLOCK_ROW = BLOCK + 1


# --------------------------------------------------------------------------
# Matrix product over all rows
# --------------------------------------------------------------------------


@cuda.jit
def gemm(a, b, c, bias, trans_a, trans_b):
    """c = op(a) @ op(b) (+ bias[None, :] if bias.size).

    op(a) is ``a.T`` if ``trans_a`` else ``a`` (same for b).  Launch a 1-D
    grid of blocks of (THREADS, THREADS) threads; block k computes the
    BLOCK x BLOCK output tiles k, k + gridDim, ... (row-major over c), so any
    grid size covers c.

    Each step over the shared dimension stages THREADS columns of op(a) and
    rows of op(b) in shared memory (read from global memory along their
    contiguous axis, whichever that is, so reads coalesce); thread (y, x)
    then accumulates outputs (y + i THREADS, x + j THREADS) in registers:
    2 REG shared loads per REG² multiply-adds.
    """
    tile_a = cuda.shared.array((THREADS, _BLOCK_ROW), dtype=c.dtype)  # [k, row]
    tile_b = cuda.shared.array((THREADS, _BLOCK_ROW), dtype=c.dtype)  # [k, col]
    acc = cuda.local.array((REG, REG), dtype=c.dtype)
    a_col = cuda.local.array(REG, dtype=c.dtype)
    b_row = cuda.local.array(REG, dtype=c.dtype)
    tx = cuda.threadIdx.x
    ty = cuda.threadIdx.y
    lid = ty * THREADS + tx
    m, n = c.shape
    depth = a.shape[0] if trans_a else a.shape[1]
    tile_cols = (n + BLOCK - 1) // BLOCK
    tiles = ((m + BLOCK - 1) // BLOCK) * tile_cols
    zero = c.dtype.type(0)
    for tile in range(cuda.blockIdx.x, tiles, cuda.gridDim.x):
        row0 = (tile // tile_cols) * BLOCK
        col0 = (tile % tile_cols) * BLOCK
        for i in range(REG):
            for j in range(REG):
                acc[i, j] = zero
        for k0 in range(0, depth, THREADS):
            # THREADS * BLOCK elements per tile: REG per thread.
            for e in range(REG):
                idx = lid + e * THREADS * THREADS
                if trans_a:  # op(a)[r, k] = a[k, r], contiguous along r
                    r, k = idx % BLOCK, idx // BLOCK
                    inside = row0 + r < m and k0 + k < depth
                    tile_a[k, r] = a[k0 + k, row0 + r] if inside else zero
                else:  # a[r, k], contiguous along k
                    r, k = idx // THREADS, idx % THREADS
                    inside = row0 + r < m and k0 + k < depth
                    tile_a[k, r] = a[row0 + r, k0 + k] if inside else zero
                if trans_b:  # op(b)[k, q] = b[q, k], contiguous along k
                    q, k = idx // THREADS, idx % THREADS
                    inside = col0 + q < n and k0 + k < depth
                    tile_b[k, q] = b[col0 + q, k0 + k] if inside else zero
                else:  # b[k, q], contiguous along q
                    q, k = idx % BLOCK, idx // BLOCK
                    inside = col0 + q < n and k0 + k < depth
                    tile_b[k, q] = b[k0 + k, col0 + q] if inside else zero
            cuda.syncthreads()
            for k in range(THREADS):
                for i in range(REG):
                    a_col[i] = tile_a[k, ty + i * THREADS]
                    b_row[i] = tile_b[k, tx + i * THREADS]
                for i in range(REG):
                    for j in range(REG):
                        acc[i, j] += a_col[i] * b_row[j]
            cuda.syncthreads()
        for i in range(REG):
            row = row0 + ty + i * THREADS
            for j in range(REG):
                col = col0 + tx + j * THREADS
                if row < m and col < n:
                    value = acc[i, j]
                    if bias.size > 0:
                        value += bias[col]
                    c[row, col] = value


@cuda.jit
def column_sums(a, out):
    """out[j] = sum_i a[i, j]; one thread per column (reads coalesce)."""
    for j in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        acc = out.dtype.type(0)
        for i in range(a.shape[0]):
            acc += a[i, j]
        out[j] = acc


# --------------------------------------------------------------------------
# Array helpers
# --------------------------------------------------------------------------


@cuda.jit(device=True)
def _index3(i, shape):
    """The (i0, i1, i2) of flat index ``i`` into a C-ordered 3-D ``shape``."""
    i0 = i // (shape[1] * shape[2])
    rest = i - i0 * shape[1] * shape[2]
    i1 = rest // shape[2]
    return i0, i1, rest - i1 * shape[2]


@cuda.jit
def copy_3d(src, dst, swap01):
    """dst[i, j, k] = src[j, i, k] if swap01 else src[i, j, k].

    3-D arrays of any strides; the dtype is cast.
    """
    for i in range(cuda.grid(1), dst.size, cuda.gridsize(1)):
        i0, i1, i2 = _index3(i, dst.shape)
        dst[i0, i1, i2] = src[i1, i0, i2] if swap01 else src[i0, i1, i2]


@cuda.jit
def fill(flat, value):
    """flat[:] = value."""
    for i in range(cuda.grid(1), flat.size, cuda.gridsize(1)):
        flat[i] = value


@cuda.jit
def elementwise(a, b, out, multiply):
    """out = a * b if multiply else a + b, over flat arrays."""
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        out[i] = a[i] * b[i] if multiply else a[i] + b[i]
