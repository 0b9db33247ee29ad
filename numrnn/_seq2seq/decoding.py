"""Decoding with :class:`~numrnn.seq2seq.Seq2Seq` (see its methods of the same names):
:func:`log_probability` of given targets, and :func:`decode` by :func:`greedy` decoding or
:func:`beam` search, one batch of sources at a time."""

from collections import namedtuple

import numpy as np

from numrnn import _trainutil as tu
from numrnn._seq2seq import data, network
from numrnn._validation import check_float, check_int
from numrnn.activations import log_softmax

__all__ = ["Decoded", "beam", "decode", "greedy", "log_probability"]

# One decoded sequence: the tokens (without the end token), the sum of their log-probabilities
# under the model (the end token's included), and the attention weights, one row (source
# steps) per output step, the end token's step included. Pickled as numrnn.seq2seq.Decoded,
# where it was defined first.
Decoded = namedtuple("Decoded", ["tokens", "log_prob", "attention"], module="numrnn.seq2seq")


def log_probability(model, src, tgt, src_lengths, tgt_lengths):
    """:meth:`numrnn.seq2seq.Seq2Seq.log_probability` (see there)."""
    src, src_lengths = data.sources(model, src, src_lengths)
    tgt, tgt_lengths = data.targets(model, tgt, tgt_lengths, len(src))
    rows = np.arange(len(src))
    src_b, src_len = data.source_batch(src, src_lengths, rows)
    dec_in, dec_out, dec_len = data.teacher_batch(model, tgt, tgt_lengths, rows)
    with model._evaluating():
        logits = network.forward(model, src_b, src_len, dec_in, dec_len)
    log_p = np.take_along_axis(log_softmax(logits.astype(np.float64)), dec_out[..., None],
                               axis=-1)[..., 0]
    return np.where(tu.valid_mask(dec_len, *dec_out.shape), log_p, 0.0).sum(axis=0)


def decode(model, src, src_lengths, beam_width, max_length, length_normalization, batch_size):
    """:meth:`numrnn.seq2seq.Seq2Seq.decode` (see there)."""
    src, src_lengths = data.sources(model, src, src_lengths)
    max_length = check_int(max_length, "max_length", 1)
    alpha = check_float(length_normalization, "length_normalization", low=0.0)
    batch_size = check_int(batch_size, "batch_size", 1)
    if beam_width is not None:
        beam_width = check_int(beam_width, "beam_width", 1)
    results = []
    with model._evaluating():
        for begin in range(0, len(src), batch_size):
            rows = np.arange(begin, min(begin + batch_size, len(src)))
            src_b, src_len = data.source_batch(src, src_lengths, rows)
            keys, state, _ = network.encode(model, src_b, src_len)
            if beam_width is None:
                results += greedy(model, keys, state, src_len, max_length)
            else:
                results += beam(model, keys, state, src_len, max_length, beam_width, alpha)
    return results


def greedy(model, keys, state, src_lengths, max_length):
    """The most likely token at every step, for each source of one encoded batch."""
    batch = keys.shape[1]
    tokens = np.full(batch, model.start_token)
    written, weights = [], []
    log_probs = np.zeros(batch)
    running = np.ones(batch, dtype=bool)
    for t in range(max_length):
        step_log_probs, state, step_weights = network.step(model, tokens, state, keys,
                                                           src_lengths)
        tokens = np.argmax(step_log_probs, axis=1)
        if t == max_length - 1:
            tokens[:] = model.end_token
        written.append(np.where(running, tokens, -1))
        # Summed step by step, as beam search sums, so that both give the same bits.
        log_probs += np.where(running, step_log_probs[np.arange(batch), tokens], 0.0)
        weights.append(step_weights)
        running &= tokens != model.end_token
        if not running.any():
            break
    written = np.array(written)
    results = []
    for b in range(batch):
        steps = int(np.sum(written[:, b] >= 0))
        results.append(Decoded(written[:steps - 1, b], float(log_probs[b]),
                               np.array([w[b, :src_lengths[b]] for w in weights[:steps]])))
    return results


def beam(model, keys, state, src_lengths, max_length, width, alpha):
    """Beam search of ``width`` for each source of one encoded batch."""
    batch, vocab = keys.shape[1], model.tgt_vocab_size
    expand = np.repeat(np.arange(batch), width)
    keys, src_lengths = keys[:, expand], src_lengths[expand]
    state = _take_state(state, expand)
    tokens = np.full(batch * width, model.start_token)
    scores = np.full((batch, width), -np.inf)
    scores[:, 0] = 0.0
    finished = [[] for _ in range(batch)]      # (normalised score, log p, step, slot)
    parents, chosen, weights = [], [], []
    done = np.zeros(batch, dtype=bool)
    candidates = min(2 * width, width * vocab)
    for t in range(max_length):
        log_probs, state, step_weights = network.step(model, tokens, state, keys, src_lengths)
        weights.append(step_weights.reshape(batch, width, -1))
        if t == max_length - 1:       # the last token is the end token
            log_probs = np.where(np.arange(vocab) == model.end_token, log_probs, -np.inf)
        total = (scores.reshape(-1, 1) + log_probs).reshape(batch, width * vocab)
        top = np.argpartition(-total, candidates - 1, axis=1)[:, :candidates]
        top = np.take_along_axis(top, np.argsort(-np.take_along_axis(total, top, 1), 1,
                                                 kind="stable"), 1)
        scores = np.full((batch, width), -np.inf)
        parent = np.zeros((batch, width), dtype=np.int64)
        token = np.full((batch, width), model.end_token)
        for b in np.flatnonzero(~done):
            alive = 0
            for rank, index in enumerate(top[b]):
                score = total[b, index]
                if score == -np.inf:
                    break
                slot, word = divmod(int(index), vocab)
                if word == model.end_token:
                    if rank < width:
                        finished[b].append((score / (t + 1) ** alpha, score, t, slot))
                else:
                    scores[b, alive], parent[b, alive], token[b, alive] = score, slot, word
                    alive += 1
                    if alive == width:
                        break
            best_finished = max((f[1] for f in finished[b]), default=-np.inf)
            if len(finished[b]) >= width or (alpha == 0 and best_finished >= scores[b, 0]):
                done[b] = True
                scores[b] = -np.inf
        parents.append(parent)
        chosen.append(token)
        if done.all():
            break
        state = _take_state(state, (np.arange(batch)[:, None] * width + parent).ravel())
        tokens = token.ravel()
    results = []
    for b in range(batch):
        _, score, t, slot = max(finished[b], key=lambda f: f[0])
        written, rows = [], [weights[t][b, slot]]
        for u in range(t - 1, -1, -1):
            written.append(chosen[u][b, slot])
            slot = parents[u][b, slot]
            rows.append(weights[u][b, slot])
        results.append(Decoded(np.array(written[::-1], dtype=np.int64), float(score),
                               np.array(rows[::-1])[:, :src_lengths[b * width]]))
    return results


def _take_state(state, rows):
    """The recurrent state (L, B, H), or an LSTM's pair, of the batch rows ``rows``."""
    if isinstance(state, tuple):
        return tuple(np.ascontiguousarray(s[:, rows]) for s in state)
    return np.ascontiguousarray(state[:, rows])
