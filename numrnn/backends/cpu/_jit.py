"""Compilation helpers of the ``"cpu"`` backend.

``jit`` is ``numba.njit`` with the options every kernel here wants, and an
on-disk cache that degrades gracefully; ``specialise`` compiles one skeleton
into per-cell variants; ``fast_gates`` turns the array dtype into the
compile-time ``fast`` flag of :mod:`numrnn.backends.gates`.
"""

import functools
import hashlib
import pathlib

import numba
from numba.core import cgutils, types
from numba.core.errors import TypingError
from numba.core.imputils import impl_ret_borrowed
from numba.extending import intrinsic, overload
from numba.np.arrayobj import populate_array

from ..gates._common import with_globals

__all__ = ["blocks", "cell_compiler", "fast_gates", "jit", "ptr", "specialise", "wide_vectors"]


def jit(func=None, *, nogil=True, cache=True, fastmath=False):
    """Compile ``func`` with ``numba.njit``, cached on disk when possible.

    Options: ``error_model="numpy"`` (no zero-division checks, which block
    vectorisation), ``nogil=True`` (the backend runs shares of a batch in
    several threads at once; ``@jit(nogil=False)`` for a function so short
    that releasing and taking back the GIL, 0.05 µs, matters) and
    ``cache=True`` (later processes load the machine code in ~0.3 s instead
    of compiling for seconds); ``fastmath`` as in ``numba.njit``.  When no
    cache directory is writable (read-only install and home) Numba raises at
    decoration time ("no locator available"); the function is then compiled
    uncached, so importing numrnn never fails.  ``cache=False``: never cached.
    """
    if func is None:
        return lambda f: jit(f, nogil=nogil, cache=cache, fastmath=fastmath)
    options = {
        "error_model": "numpy", "nogil": nogil, "fastmath": fastmath, "no_cfunc_wrapper": True
    }
    if cache:
        try:
            return numba.njit(cache=True, **options)(func)
        except RuntimeError:
            pass
    return numba.njit(**options)(func)


def cell_compiler(cell, nogil=True):
    """The compiler of a cell's specialisations: :func:`jit`, uncached for a cell of its own.

    The on-disk cache keys a specialisation by its name and the skeleton's
    source file, not by the cell functions frozen into it: two user-defined
    cells of the same name would load each other's machine code.  Built-in
    cells (``namespace`` None) are cached, and so are cells whose namespace
    says it is ``cacheable``: those of :func:`numrnn.cells.define_cell`,
    whose ``maths`` name carries a digest of their generated code.
    """
    cache = cell.namespace is None or getattr(cell.namespace, "cacheable", False)
    return jit(nogil=nogil, cache=cache)


def fast_gates(a):
    """True if the array ``a`` holds float32: use the fast gate activations.

    Called from ``@njit`` code only; the value is a compile-time constant
    there, so the branch on it in :mod:`numrnn.backends.gates` disappears.
    """
    raise NotImplementedError("fast_gates is only callable from @njit code")


@overload(fast_gates, target="cpu")
def _fast_gates_impl(a):
    fast = a.dtype == numba.types.float32
    return lambda a: fast


@intrinsic
def ptr(typingctx, address):
    """The integer ``address`` as a ``void *``, for ``numba.carray`` (``@njit`` code only)."""
    if not isinstance(address, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        return builder.inttoptr(args[0], cgutils.voidptr_t)

    return types.voidptr(address), codegen


@intrinsic
def wide_vectors(typingctx):
    """Let LLVM vectorise the calling function with the widest registers (``@njit`` only).

    LLVM's tuning for Intel's AVX-512 cores (Skylake-X to Emerald Rapids) prefers 256-bit
    vectors, for fear of the clock drop of 512-bit instructions, and Numba compiles for the
    host's tuning: on an Emerald Rapids core the micro-kernel of :mod:`._panels` ran on ymm
    registers at half the core's peak (80 of 155 GFLOP/s in float32, 40 of 80 in float64),
    as fast as BLAS but no faster.  A call of this function gives the caller the attributes
    ``"prefer-vector-width"="512"`` and ``"min-legal-vector-width"="512"`` (what Clang
    gives a function written with 512-bit intrinsics): zmm registers on every AVX-512 CPU
    (AMD's Zen 4 uses them already), the widest the CPU has on others.  Vector width
    changes no result: nothing here vectorises a reduction (no reassociation).
    """

    def codegen(context, builder, signature, args):
        attributes = builder.function.attributes
        # llvmlite accepts only enum attributes by name: these string attributes go in as
        # the set's items, which it writes out verbatim in the function's definition.
        set.add(attributes, '"prefer-vector-width"="512"')
        set.add(attributes, '"min-legal-vector-width"="512"')
        return context.get_dummy_value()

    return types.none(), codegen


@intrinsic
def blocks(typingctx, a, shape):
    """The C-contiguous array ``a`` seen with ``shape`` (same size), from ``@njit`` code.

    ``a.reshape(shape)`` without its checks: NumPy's no-copy reshape, its
    error paths and the reference counts of the view made the loops of
    :mod:`._kernels` half again as long in LLVM IR, and their compilation
    0.3 s slower per cell; an intrinsic rather than ``numba.carray``, whose
    implementation is compiled once per number of dimensions (0.3 s more).
    """
    if not (isinstance(a, types.Array) and a.layout == "C"):
        raise TypingError(f"blocks needs a C-contiguous array, got {a}")
    integers = isinstance(shape, types.BaseTuple) and all(
        isinstance(n, types.Integer) for n in shape
    )
    if not integers:
        raise TypingError(f"blocks needs a tuple of integers as the shape, got {shape}")
    ndim = len(shape)

    def codegen(context, builder, signature, args):
        array_type, shape_type = signature.args
        source = context.make_array(array_type)(context, builder, args[0])
        dims = [
            context.cast(builder, n, shape_type[i], types.intp)
            for i, n in enumerate(cgutils.unpack_tuple(builder, args[1], ndim))
        ]
        strides = [source.itemsize]
        for n in dims[:0:-1]:
            strides.insert(0, builder.mul(strides[0], n))
        view = context.make_array(signature.return_type)(context, builder)
        populate_array(
            view, data=source.data, shape=cgutils.pack_array(builder, dims),
            strides=cgutils.pack_array(builder, strides), itemsize=source.itemsize,
            meminfo=source.meminfo, parent=source.parent,
        )  # fmt: skip
        return impl_ret_borrowed(context, builder, signature.return_type, view._getvalue())

    return a.copy(ndim=ndim, layout="C")(a, shape), codegen


@functools.cache
def sources_digest():
    """A digest of the code that specialisations inline or link from other files than their
    skeleton's: the cell maths (:mod:`numrnn.backends.gates`) and this backend's modules.

    Numba's on-disk cache checks only the skeleton's own file for changes: after an edit of
    a cell's maths alone (or an update of an editable install that changes only those
    files), it would load the machine code compiled from the old maths.
    """
    backends = pathlib.Path(__file__).resolve().parent.parent
    digest = hashlib.sha256()
    for path in sorted((*backends.glob("gates/*.py"), *backends.glob("cpu/*.py"))):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def specialise(skeleton, prefix, compiler, **constants):
    """``skeleton`` compiled by ``compiler`` with ``constants`` as globals, under its own name.

    Numba freezes globals into the machine code, so a specialisation whose
    constants are a cell's ``@njit`` row functions and flags inlines them: no
    cell code is tested at run time.  Globals rather than a closure: the
    on-disk cache keys a closure by its pickled contents, which for a
    dispatcher differ from process to process (no cache hit, ever); a
    distinct ``__qualname__`` (``prefix`` + the skeleton's name + the
    :func:`sources_digest` of what it inlines) gives each specialisation its
    own cache file, and a new one when the code it inlines changes.
    """
    name = f"{prefix}{skeleton.__name__}_{sources_digest()}"
    return compiler(with_globals(skeleton, name, **constants))
