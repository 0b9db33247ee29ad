"""Row helpers of the time loops (:mod:`._kernels`): copies, elementwise products, zoneout,
gathering and scattering rows, zeroing padded steps, and the product of a diagonal W_hh.

Explicit loops: slice assignment and NumPy's elementwise functions compile slowly in
``@njit`` code, and each helper here is compiled once and shared by every cell's loops.
"""

from ._jit import jit

__all__ = ["diagonal_product", "zero_padding"]


@jit
def _copy(src, dst):
    """dst[:] = src (an explicit loop: slice assignment compiles slowly)."""
    for j in range(src.shape[0]):
        dst[j] = src[j]


@jit
def _multiply(a, b, out):
    """out = a * b, elementwise."""
    for j in range(a.shape[0]):
        out[j] = a[j] * b[j]


@jit
def _zone(z, previous, new):
    """Zoneout: new = z previous + (1 - z) new."""
    for j in range(new.shape[0]):
        new[j] += z[j] * (previous[j] - new[j])


@jit
def _unzone(z, d, zoned):
    """Zoneout backward: zoned = z d (to the previous state), d = (1 - z) d (to the cell's)."""
    for j in range(d.shape[0]):
        zoned[j] = z[j] * d[j]
        d[j] -= zoned[j]


@jit
def _gather_rows(src, order, dst):
    """dst[k] = src[order[k]] (into the length-sorted order)."""
    for k in range(order.shape[0]):
        _copy(src[order[k]], dst[k])


@jit
def _scatter_rows(src, order, dst):
    """dst[order[k]] = src[k] (back to the caller's order)."""
    for k in range(order.shape[0]):
        _copy(src[k], dst[order[k]])


@jit
def zero_padding(a, lengths, order):
    """a[t, b, :] = 0 for the padded steps t >= lengths[b] of b in order."""
    for k in range(order.shape[0]):
        b = order[k]
        for t in range(lengths[b], a.shape[0]):
            row = a[t, b]
            for j in range(row.shape[0]):
                row[j] = 0


@jit
def diagonal_product(h, w, out):
    """out[g*H + j] = w[g*H + j] * h[j] for every gate g: a diagonal W_hh's hidden parts."""
    H = h.shape[0]
    for g in range(w.shape[0] // H):
        wg = w[g * H : (g + 1) * H]
        og = out[g * H : (g + 1) * H]
        for j in range(H):
            og[j] = wg[j] * h[j]


@jit
def _diagonal_backward(dg, w, dh):
    """dh[j] = sum_g w[g*H + j] * dg[g*H + j]: dL/dh_prev through a diagonal W_hh."""
    H = dh.shape[0]
    for j in range(H):
        dh[j] = 0
    for g in range(w.shape[0] // H):
        wg = w[g * H : (g + 1) * H]
        dgg = dg[g * H : (g + 1) * H]
        for j in range(H):
            dh[j] += wg[j] * dgg[j]
