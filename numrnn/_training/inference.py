"""A :class:`~numrnn.model.Sequential`'s predictions: in evaluation mode, without a tape,
batch by batch, or chunk by chunk for a stream (whose one-step fast path is
:mod:`numrnn._training.stream`)."""

import contextlib

import numpy as np

from numrnn import _trainutil as tu
from numrnn._recurrent import no_grad
from numrnn._training import chain
from numrnn._training.data import check_inputs, time_major_batch
from numrnn._training.stream import make_stream_step

__all__ = ["StreamMixin", "evaluating", "logits", "outputs", "stream"]


@contextlib.contextmanager
def evaluating(model):
    """Run the block with every component in evaluation mode and no tape; then restore."""
    children = list(model._children())
    modes = [child.training for child in children]
    model.eval()
    try:
        with no_grad():
            yield
    finally:
        for child, mode in zip(children, modes, strict=True):
            child.train(mode)


def logits(model, X, lengths, batch_size):
    """Time-major logits of all samples (T, N, O), or (N, O) for a last-step head."""
    n, steps = X.shape[:2]
    last_step = model.head.last_step
    chunks = []
    with evaluating(model):
        for begin in range(0, n, batch_size):
            idx = np.arange(begin, min(begin + batch_size, n))
            x_b, _, len_b = time_major_batch(model, X, None, lengths, idx)
            z, _ = chain.forward(model, x_b, len_b, [None] * len(model.recurrent))
            if not last_step and z.shape[0] < steps:
                z = np.concatenate([z, np.zeros((steps - z.shape[0],) + z.shape[1:], z.dtype)])
            chunks.append(z)
    return np.concatenate(chunks, axis=0 if last_step else 1)


def outputs(model, z, lengths):
    """Activated, samples-first outputs from time-major logits; zeros at padded steps."""
    out = model.head.activate(z)
    if model.head.last_step:
        return out
    out[~tu.valid_mask(lengths, out.shape[0], out.shape[1])] = 0
    return np.ascontiguousarray(tu.swap_batch_time(out, True))


def stream(model, x, lengths):
    """:meth:`numrnn.model.Sequential.stream` (see there), its general path."""
    if any(layer.bidirectional for layer in model.recurrent):
        raise ValueError("stream needs unidirectional layers")
    x, lengths = check_inputs(model, x, lengths)
    batch = x.shape[0]
    if model._stream_state is None:
        model._stream_state = [chain.zero_state(layer, batch) for layer in model.recurrent]
    elif model._stream_state and chain.state_batch(model._stream_state[0]) != batch:
        raise ValueError(f"x must have batch size {chain.state_batch(model._stream_state[0])} "
                         f"like the stream's earlier chunks, got {batch}; call "
                         "reset_stream() to start a new stream")
    with evaluating(model):
        z, model._stream_state = chain.forward(
            model, chain.zero_padding(tu.swap_batch_time(x, True), lengths), lengths,
            model._stream_state)
    if x.shape[1] == 1 and model._stream_step is None:
        model._stream_step = make_stream_step(model, x.shape)
    return outputs(model, z, lengths)


class StreamMixin:
    """Stateful inference chunk by chunk, for :class:`~numrnn.model.Sequential`.

    The model keeps the recurrent state (``_stream_state``) and the one-step fast path
    (``_stream_step``, :mod:`numrnn._training.stream`) between calls.
    """

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_stream_step"] = None  # a closure over this model: made again on first use
        return state

    def reset_stream(self):
        """Forget the state carried by :meth:`stream`."""
        self._stream_state = None
        self._stream_step = None

    def stream(self, x, lengths=None):
        """Run stateful inference on the next chunk of every sequence (any batch size).

        The recurrent state after this chunk is kept for the next call, so feeding a long
        sequence chunk by chunk gives the outputs of one pass over the whole sequence. The
        batch size is fixed by the first chunk after :meth:`reset_stream`.

        Parameters
        ----------
        x : array_like, shape (B, T_chunk, I)
        lengths : array_like of int, shape (B,), optional
            Valid steps of each sequence in this chunk (at least 1).

        Returns
        -------
        ndarray
            Like :meth:`predict` for this chunk.

        Raises
        ------
        ValueError
            If a layer is bidirectional or the batch size differs from the stream's.
        """
        fast = self._stream_step
        if fast is not None and lengths is None:
            out = fast(x)
            if out is not None:
                return out
        return stream(self, x, lengths)
