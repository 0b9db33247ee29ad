"""Training of :class:`~numrnn.seq2seq.Seq2Seq`: :func:`train_batch` and :func:`fit` (see
the methods of the same names), by teacher forcing with optional scheduled sampling
(:func:`scheduled_inputs`)."""

import numpy as np

from numrnn._recurrent import no_grad
from numrnn._seq2seq import data, network
from numrnn._training.fit import Updates, check_schedule, progress_bar, update
from numrnn._validation import check_float, check_int

__all__ = ["fit", "scheduled_inputs", "train_batch", "train_rows"]


def train_batch(model, src, tgt, src_lengths, tgt_lengths, teacher_forcing, seed):
    """:meth:`numrnn.seq2seq.Seq2Seq.train_batch` (see there)."""
    src, src_lengths, tgt, tgt_lengths, teacher_forcing = _checked(
        model, src, tgt, src_lengths, tgt_lengths, teacher_forcing)
    return train_rows(model, src, src_lengths, tgt, tgt_lengths, np.arange(len(src)),
                      teacher_forcing, np.random.default_rng(seed))


def fit(model, src, tgt, *, src_lengths, tgt_lengths, epochs, batch_size, teacher_forcing,
        shuffle, seed, clip_norm, clip_value, schedule, schedule_interval, progress):
    """:meth:`numrnn.seq2seq.Seq2Seq.fit` (see there)."""
    src, src_lengths, tgt, tgt_lengths, teacher_forcing = _checked(
        model, src, tgt, src_lengths, tgt_lengths, teacher_forcing)
    epochs = check_int(epochs, "epochs", 1)
    batch_size = check_int(batch_size, "batch_size", 1)
    check_schedule(model, schedule, schedule_interval)
    rng = np.random.default_rng(seed)
    updates = Updates(None, clip_norm, clip_value,
                      schedule if schedule_interval == "update" else None)
    history = {"loss": [], "lr": []}
    bar = progress_bar(epochs, progress)
    model.train()
    for _ in range(epochs):
        order = rng.permutation(len(src)) if shuffle else np.arange(len(src))
        total = weight = 0.0
        for begin in range(0, len(order), batch_size):
            rows = order[begin:begin + batch_size]
            value = train_rows(model, src, src_lengths, tgt, tgt_lengths, rows,
                               teacher_forcing, rng)
            update(model, updates)
            tokens = float(tgt_lengths[rows].sum() + len(rows))
            total += value * tokens
            weight += tokens
        history["loss"].append(total / weight)
        history["lr"].append(model.optimizer.lr)
        if bar is not None:
            bar.update(1)
            bar.set_postfix({"loss": f"{history['loss'][-1]:.4g}"})
        if schedule is not None and schedule_interval == "epoch":
            schedule.step()
    if bar is not None:
        bar.close()
    model.eval()
    model.history_ = history
    return model


def train_rows(model, src, src_lengths, tgt, tgt_lengths, rows, teacher_forcing, rng):
    """Loss of the samples ``rows`` of checked data; fills the model's ``grads``."""
    src_b, src_len = data.source_batch(src, src_lengths, rows)
    dec_in, dec_out, dec_len = data.teacher_batch(model, tgt, tgt_lengths, rows)
    if teacher_forcing < 1.0:
        dec_in = scheduled_inputs(model, src_b, src_len, dec_in, teacher_forcing, rng)
    logits = network.forward(model, src_b, src_len, dec_in, dec_len)
    value = model.loss(logits, dec_out, lengths=dec_len)
    network.backward(model, model.loss.backward())
    return value


def scheduled_inputs(model, src, src_lengths, dec_in, teacher_forcing, rng):
    """``dec_in`` with each token after the first replaced, with probability
    ``1 - teacher_forcing``, by the model's most likely token at the step before."""
    mixed = dec_in.copy()
    with no_grad():
        keys, state, _ = network.encode(model, src, src_lengths)
        for t in range(len(dec_in) - 1):
            log_probs, state, _ = network.step(model, mixed[t], state, keys, src_lengths)
            own = rng.random(dec_in.shape[1]) >= teacher_forcing
            mixed[t + 1, own] = np.argmax(log_probs[own], axis=1)
    return mixed


def _checked(model, src, tgt, src_lengths, tgt_lengths, teacher_forcing):
    """The padded sources and targets with their lengths, and ``teacher_forcing``."""
    src, src_lengths = data.sources(model, src, src_lengths)
    tgt, tgt_lengths = data.targets(model, tgt, tgt_lengths, len(src))
    return (src, src_lengths, tgt, tgt_lengths,
            check_float(teacher_forcing, "teacher_forcing", 0.0, 1.0))
