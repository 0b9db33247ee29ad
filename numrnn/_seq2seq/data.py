"""Token ids for :class:`~numrnn.seq2seq.Seq2Seq`: padded arrays from the user's sequences
(:func:`sources`, :func:`targets`), and time-major batches of them for the encoder
(:func:`source_batch`) and the teacher-forced decoder (:func:`teacher_batch`)."""

import numpy as np

from numrnn._validation import check_int, to_numpy
from numrnn.embedding import check_ids

__all__ = ["check_token", "padded_ids", "source_batch", "sources", "targets", "teacher_batch"]


def check_token(name, value, vocab_size):
    """``value`` as a token id of a vocabulary of ``vocab_size`` ids."""
    value = check_int(value, name, 0)
    if value >= vocab_size:
        raise ValueError(f"{name} must lie in [0, {vocab_size - 1}] (tgt_vocab_size="
                         f"{vocab_size}), got {value}")
    return value


def padded_ids(seqs, lengths, vocab_size, name, lengths_name, shortest):
    """Token ids as a padded (N, T) int64 array (zeros after each end) and lengths (N,).

    ``seqs`` is an (N, T) array with optional ``lengths`` in [shortest, T], or a list of N
    sequences whose lengths are taken (then ``lengths`` must be None).
    """
    if isinstance(seqs, list | tuple) and (not seqs or not np.isscalar(seqs[0])):
        if lengths is not None:
            raise ValueError(f"{lengths_name} must be None when {name} is a list of sequences")
        items = [check_ids(s, vocab_size, f"{name}[{i}]") for i, s in enumerate(seqs)]
        for i, s in enumerate(items):
            if s.ndim != 1:
                raise ValueError(f"{name}[{i}] must be a 1-D sequence of ids, got shape "
                                 f"{s.shape}")
        lengths = np.array([len(s) for s in items], dtype=np.int64)
        padded = np.zeros((len(items), max(lengths.max(initial=0), 1)), dtype=np.int64)
        for i, s in enumerate(items):
            padded[i, :len(s)] = s
    else:
        padded = np.asarray(to_numpy(seqs))
        if padded.ndim != 2:
            raise ValueError(f"{name} must be an (N, T) array of ids or a list of sequences, "
                             f"got shape {padded.shape}")
        if padded.dtype.kind not in "iu":
            raise TypeError(f"{name} must hold integers, got dtype {padded.dtype}")
        steps = padded.shape[1]
        if lengths is None:
            lengths = np.full(len(padded), steps, dtype=np.int64)
        else:
            lengths = np.asarray(lengths)
            if lengths.dtype.kind not in "iu" or lengths.shape != (len(padded),):
                raise ValueError(f"{lengths_name} must be integers of shape ({len(padded)},), "
                                 f"got {lengths.dtype} {lengths.shape}")
            lengths = lengths.astype(np.int64)
        padded = np.where(np.arange(steps) < lengths[:, None], padded, 0)
        check_ids(padded, vocab_size, name)
    if len(padded) == 0:
        raise ValueError(f"{name} must hold at least one sequence")
    if lengths.min() < shortest or lengths.max() > padded.shape[1]:
        raise ValueError(f"{lengths_name} must lie in [{shortest}, {padded.shape[1]}], got "
                         f"values in [{lengths.min()}, {lengths.max()}]")
    return padded, lengths


def sources(model, src, src_lengths):
    """The source ids (N, S) and lengths (N,), each at least 1."""
    return padded_ids(src, src_lengths, model.src_vocab_size, "src", "src_lengths", 1)


def targets(model, tgt, tgt_lengths, count):
    """The target ids (N, T) and lengths (N,), one sequence per source (``count``)."""
    tgt, tgt_lengths = padded_ids(tgt, tgt_lengths, model.tgt_vocab_size, "tgt",
                                  "tgt_lengths", 0)
    if len(tgt) != count:
        raise ValueError(f"tgt must have one sequence per source ({count}), got {len(tgt)}")
    return tgt, tgt_lengths


def source_batch(src, src_lengths, rows):
    """The sources ``rows``, time-major (S, B) and cut to the longest, and their lengths."""
    lengths = src_lengths[rows]
    return np.ascontiguousarray(src[rows, :int(lengths.max())].T), lengths


def teacher_batch(model, tgt, tgt_lengths, rows):
    """Decoder inputs and outputs (T + 1, B), time-major, and their lengths: the outputs
    are the targets followed by the end token, the inputs the start token followed by the
    targets."""
    lengths = tgt_lengths[rows]
    steps = int(lengths.max()) + 1
    out = np.zeros((steps, len(rows)), dtype=np.int64)
    out[:steps - 1] = tgt[rows, :steps - 1].T
    out[lengths, np.arange(len(rows))] = model.end_token
    out[np.arange(steps)[:, None] > lengths] = 0
    dec_in = np.concatenate([np.full((1, len(rows)), model.start_token), out[:-1]])
    return dec_in, out, lengths + 1
