"""Row helpers of the time loops (:mod:`._kernels`): copies, elementwise products, zoneout,
the rows each step runs, gathering and scattering rows, zeroing padded steps, and the product
of a diagonal W_hh and its gradient.

Explicit loops: slice assignment and NumPy's elementwise functions compile slowly in
``@njit`` code, and each helper here is compiled once and shared by every cell's loops.
"""

from ._jit import jit

__all__ = ["diagonal_product", "diagonal_weight_grad", "zero_padding"]


@jit
def _copy(src, dst):
    """dst[:] = src (an explicit loop: slice assignment compiles slowly)."""
    for j in range(src.shape[0]):
        dst[j] = src[j]


@jit
def _add(d, a, b):
    """d += a (+ b, unless b has size 0), in one pass."""
    if b.size > 0:
        for j in range(d.shape[0]):
            d[j] += a[j] + b[j]
    else:
        for j in range(d.shape[0]):
            d[j] += a[j]


@jit
def _multiply(a, b, out):
    """out = a * b, elementwise (``out`` another array than ``a``: see :func:`_scale`)."""
    for j in range(a.shape[0]):
        out[j] = a[j] * b[j]


@jit
def _scale(a, b):
    """a *= b, elementwise.

    In place, not ``_multiply(a, b, a)``: the compiled loops check that the arrays they
    write do not overlap the others, and with one array passed twice that check fails and
    the loop runs scalar (4 times slower).  The same holds for every helper here.
    """
    for j in range(a.shape[0]):
        a[j] *= b[j]


@jit
def _zone(z, previous, new):
    """Zoneout: new = previous = z previous + (1 - z) new.

    One pass that also keeps ``previous`` (the state the next step zones against): no copy
    of the state before the step.
    """
    for j in range(new.shape[0]):
        v = new[j] + z[j] * (previous[j] - new[j])
        new[j] = v
        previous[j] = v


@jit
def _unzone(z, d, g, zoned):
    """Zoneout backward on d + g: zoned = z (d + g) (to the previous state), d = (1 - z)(d + g)
    (to the cell's)."""
    for j in range(d.shape[0]):
        v = d[j] + g[j]
        zoned[j] = z[j] * v
        d[j] = v - zoned[j]


@jit
def _time_index(lengths, b, s, reverse):
    return lengths[b] - 1 - s if reverse else s


@jit
def _active_count(lengths, order, s, nb):
    """How many sequences run at step s: the first ones of ``order``.

    ``order`` sorts the sequences by decreasing length, so the running ones
    come first; ``nb`` is the count at the neighbouring step, where the
    search starts (forward it only shrinks, backward it only grows).
    """
    while nb > 0 and lengths[order[nb - 1]] <= s:
        nb -= 1
    while nb < order.shape[0] and lengths[order[nb]] > s:
        nb += 1
    return nb


@jit
def _step_rows(a, lengths, order, reverse, s, nb, gathered):
    """The rows of step s of ``a`` (T, B, n) as one C-contiguous (nb, n) block.

    When every sequence has full length and ``order`` is a run of
    consecutive indices (it is then ascending: a stable sort of equal
    lengths), these rows are a block of ``a[t]`` itself; otherwise they are
    gathered into ``gathered`` (``gathered[k] = a[t_k, order[k]]``).
    """
    first = order[0]
    last = order[order.shape[0] - 1]
    if lengths[last] == a.shape[0] and last - first == order.shape[0] - 1:
        return a[_time_index(lengths, first, s, reverse), first : first + nb]
    _gather_step(a, lengths, order, reverse, s, nb, gathered)
    return gathered[:nb]


@jit
def _gather_step(a, lengths, order, reverse, s, nb, gathered):
    """gathered[k] = a[t_k, order[k]] for the nb rows of step s."""
    for k in range(nb):
        b = order[k]
        _copy(a[_time_index(lengths, b, s, reverse), b], gathered[k])


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
def diagonal_product(h, w, m, out):
    """out[g*H + j] = w[g*H + j] * m[j] h[j] for every gate g: a diagonal W_hh's hidden
    parts, of the state under recurrent dropout's mask m (size 0: none) in the same pass."""
    H = h.shape[0]
    for g in range(w.shape[0] // H):
        wg = w[g * H : (g + 1) * H]
        og = out[g * H : (g + 1) * H]
        if m.size > 0:
            for j in range(H):
                og[j] = wg[j] * (m[j] * h[j])
        else:
            for j in range(H):
                og[j] = wg[j] * h[j]


@jit
def _diagonal_backward(dg, w, m, dh):
    """dh[j] = m[j] sum_g w[g*H + j] dg[g*H + j]: dL/dh_prev through a diagonal W_hh, and
    through the recurrent dropout mask m (size 0: none)."""
    H = dh.shape[0]
    for j in range(H):
        dh[j] = w[j] * dg[j]
    for g in range(1, w.shape[0] // H):
        wg = w[g * H : (g + 1) * H]
        dgg = dg[g * H : (g + 1) * H]
        for j in range(H):
            dh[j] += wg[j] * dgg[j]
    if m.size > 0:
        for j in range(H):
            dh[j] *= m[j]


@jit
def diagonal_weight_grad(dg, hprev, m, out):
    """out[g*H + j] = sum over t, b of dg[t, b, g*H + j] m[b, j] hprev[t, b, j]: the gradient of
    a diagonal W_hh, through recurrent dropout's (B, H) mask m (size 0: none).

    One pass over the tapes, with no masked copy of ``hprev`` (a (T, B, H) temporary took
    0.11 ms at (100, 32, 128), a third of what recurrent dropout added to IndRNN's backward).
    """
    T, B, GH = dg.shape
    H = hprev.shape[2]
    for i in range(GH):
        out[i] = 0
    for t in range(T):
        for b in range(B):
            h = hprev[t, b]
            d = dg[t, b]
            for g in range(GH // H):
                og = out[g * H : (g + 1) * H]
                dgg = d[g * H : (g + 1) * H]
                if m.size > 0:
                    mb = m[b]
                    for j in range(H):
                        og[j] += dgg[j] * (mb[j] * h[j])
                else:
                    for j in range(H):
                        og[j] += dgg[j] * h[j]
