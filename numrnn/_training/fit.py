"""The fit loop of :class:`~numrnn.model.Sequential`: epochs, batches, windows, updates.

:func:`fit` checks the data and the settings once, then :func:`run_epochs` trains: each
epoch draws the batches (:func:`train_epoch`), each batch runs its truncated-BPTT windows
(:func:`train_batch`), and each window ends in one optimizer update (:func:`update`:
clipping, the step, a per-update schedule).  Validation, early stopping, the epoch schedule,
the history and the progress bar are the epochs' business.
"""

from collections import namedtuple

import numpy as np

from numrnn import _trainutil as tu
from numrnn._sequences import check_finite_data
from numrnn._training import chain, inference
from numrnn._training.data import (
    check_inputs,
    check_targets,
    flat_valid,
    split_validation,
    time_major_batch,
)
from numrnn._training.schedules import Schedule
from numrnn._validation import check_choice, check_float, check_int
from numrnn.metrics import METRICS
from numrnn.optim import clip_grad_norm, clip_grad_value

__all__ = ["Updates", "check_schedule", "evaluate", "fit", "partial_fit", "progress_bar",
           "update"]

#: What every optimizer update does besides the step itself: the truncated-BPTT window (None:
#: whole batches), gradient clipping, and the schedule to step after each update (None unless
#: ``schedule_interval="update"``).
Updates = namedtuple("Updates", ["tbptt", "clip_norm", "clip_value", "schedule"])

#: How the epochs run: the batch size, whether to shuffle, early stopping's patience (None:
#: off) and least improvement, whether to restore the best weights, the epoch schedule (None:
#: none), the metrics and the progress bar.
_Epochs = namedtuple("_Epochs", ["count", "batch_size", "shuffle", "early_stopping",
                                 "min_delta", "restore_best", "schedule", "metrics",
                                 "progress"])


def fit(model, X, y, *, lengths, epochs, batch_size, shuffle, seed, validation_split,
        validation_data, early_stopping, restore_best, metrics, clip_norm, clip_value,
        schedule, schedule_interval, tbptt, progress, min_delta):
    """:meth:`numrnn.model.Sequential.fit` (see there): checks, then :func:`run_epochs`."""
    X, lengths = check_inputs(model, X, lengths)
    y = check_targets(model, y, X, lengths)
    check_finite_data(X, y, lengths, not model.head.last_step)
    validation_split = check_float(validation_split, "validation_split", 0.0, 1.0,
                                      high_open=True)
    if tbptt is not None:
        tbptt = check_int(tbptt, "tbptt", 1)
        if model.head.last_step or any(layer.bidirectional for layer in model.recurrent):
            raise ValueError("tbptt needs a per-step head and unidirectional layers")
    check_schedule(model, schedule, schedule_interval)
    options = _Epochs(
        check_int(epochs, "epochs", 1), check_int(batch_size, "batch_size", 1), shuffle,
        None if early_stopping is None else check_int(early_stopping, "early_stopping", 1),
        check_float(min_delta, "min_delta", 0.0), restore_best,
        schedule if schedule_interval == "epoch" else None, check_metrics(model, metrics),
        progress,
    )  # fmt: skip
    rng = np.random.default_rng(seed)
    train_idx, validation = split_validation(X, y, lengths, rng, validation_split,
                                             validation_data)
    if validation_data is not None:
        X_val, lengths_val = check_inputs(
            model, validation[0], validation[2] if len(validation) == 3 else None,
            ("validation_data[0]", "validation_data[2]"))
        validation = (X_val, check_targets(model, validation[1], X_val, lengths_val,
                                           "validation_data[1]"), lengths_val)
        check_finite_data(*validation, not model.head.last_step,
                          ("validation_data[0]", "validation_data[1]"))
    updates = Updates(tbptt, clip_norm, clip_value,
                      schedule if schedule_interval == "update" else None)
    return run_epochs(model, (X, y, lengths), train_idx, validation, rng, updates, options)


def partial_fit(model, X, y, *, lengths, batch_size, shuffle, seed, clip_norm, clip_value):
    """:meth:`numrnn.model.Sequential.partial_fit` (see there): one epoch over ``X``."""
    X, lengths = check_inputs(model, X, lengths)
    y = check_targets(model, y, X, lengths)
    check_finite_data(X, y, lengths, not model.head.last_step)
    batch_size = check_int(batch_size, "batch_size", 1)
    order = np.random.default_rng(seed).permutation(len(X)) if shuffle else np.arange(len(X))
    loss, _ = train_epoch(model, X, y, lengths, order, batch_size,
                          Updates(None, clip_norm, clip_value, None), [])
    model.eval()
    if not hasattr(model, "history_"):
        model.history_ = {"loss": []}
    model.history_.setdefault("loss", []).append(loss)
    return model


def check_schedule(model, schedule, schedule_interval):
    """Refuse a schedule that is not one of ``model``'s optimizer, or a bad interval."""
    if schedule is not None and (not isinstance(schedule, Schedule)
                                 or schedule.optimizer is not model.optimizer):
        raise ValueError("schedule must be a numrnn Schedule of this model's optimizer")
    check_choice(schedule_interval, "schedule_interval", {"epoch", "update"})


def run_epochs(model, data, train_idx, validation, rng, updates, options):
    """Train for ``options.count`` epochs or until early stopping; fills ``history_``."""
    history = {"loss": [], "lr": []}
    best, best_epoch, best_state = np.inf, 0, None
    bar = progress_bar(options.count, options.progress)
    for epoch in range(options.count):
        order = rng.permutation(train_idx) if options.shuffle else train_idx
        loss, scores = train_epoch(model, *data, order, options.batch_size, updates,
                                   options.metrics)
        history["loss"].append(loss)
        history["lr"].append(model.optimizer.lr)
        for name, value in scores.items():
            history.setdefault(name, []).append(value)
        if validation is not None:
            for name, value in model.evaluate(*validation, metrics=options.metrics).items():
                history.setdefault("val_" + name, []).append(value)
        monitored = history["val_loss" if validation is not None else "loss"][-1]
        if monitored < best - options.min_delta:
            best, best_epoch = monitored, epoch
            if options.early_stopping is not None and options.restore_best:
                best_state = model.state_dict()
        if bar is not None:
            bar.update(1)
            bar.set_postfix({k: f"{v[-1]:.4g}" for k, v in history.items() if k != "lr"})
        if options.schedule is not None:
            options.schedule.step(monitored)
        if options.early_stopping is not None and epoch - best_epoch >= options.early_stopping:
            break
    if bar is not None:
        bar.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    model.history_, model.best_epoch_ = history, best_epoch
    return model


def train_epoch(model, X, y, lengths, order, batch_size, updates, metrics):
    """One pass over the samples in ``order``; returns (mean loss, training metrics)."""
    model.train()
    total = weight = 0.0
    seen = [] if metrics else None
    for begin in range(0, len(order), batch_size):
        x_b, y_b, len_b = time_major_batch(model, X, y, lengths, order[begin:begin + batch_size])
        batch_total, batch_weight = model._train_batch(x_b, y_b, len_b, updates, seen)
        total += batch_total
        weight += batch_weight
    if not seen:
        return total / weight, {}
    targets = np.concatenate([t for t, _ in seen])
    logits = np.concatenate([z for _, z in seen])
    return total / weight, metric_values(model, metrics, targets, logits)


def train_batch(model, x, y, lengths, updates, seen):
    """One batch (time-major x, y); returns (summed window losses, their weight).

    Appends each window's valid (targets, logits) to ``seen`` if it is a list.
    """
    steps, batch = x.shape[:2]
    window = updates.tbptt or steps
    states = [chain.zero_state(layer, batch) for layer in model.recurrent]
    last_step = model.head.last_step
    total = weight = 0.0
    for start in range(0, steps, window):
        stop = min(start + window, steps)
        if lengths is None:
            rows, window_lengths = slice(None), None
            count = (stop - start) * batch
        else:
            # Sequences that ended before this window sit it out.
            rows = np.flatnonzero(lengths > start)
            window_lengths = np.minimum(lengths[rows] - start, stop - start)
            count = int(window_lengths.sum())
        logits, finals = chain.forward(model, x[start:stop, rows], window_lengths,
                                       [chain.take_state(s, rows) for s in states])
        target = y if last_step else y[start:stop, rows]
        value = model.loss(logits, target, None if last_step else window_lengths)
        chain.backward(model, model.loss.backward())
        if seen is not None:
            seen.append(flat_valid(model, logits, target, window_lengths))
        update(model, updates)
        for state, final in zip(states, finals, strict=True):
            chain.put_state(state, rows, final)
        total += value * count
        weight += count
    return total, weight


def update(model, updates):
    """Clip the latest gradients, take an optimizer step, step a per-update schedule."""
    grads = model.grads
    if updates.clip_norm is not None:
        clip_grad_norm(grads, updates.clip_norm)
    if updates.clip_value is not None:
        clip_grad_value(grads, updates.clip_value)
    model.optimizer.step(model.parameters(), grads)
    if updates.schedule is not None:
        updates.schedule.step()


def check_metrics(model, metrics):
    """The metric names, checked against ``METRICS`` and the head's output function."""
    activation = model.head.activation
    for name in metrics:
        check_choice(name, "metrics", METRICS)
        kind = METRICS[name][1]
        if ((kind == "labels" and activation == "identity")
                or (kind == "proba" and activation != "softmax")):
            raise ValueError(f"metric {name!r} needs a "
                             f"{'softmax' if kind == 'proba' else 'softmax or sigmoid'} "
                             f"head, got activation={activation!r}")
    return list(metrics)


def metric_values(model, metrics, targets, logits):
    """Metric name -> value for flat targets and logits (one row per valid step)."""
    scores = {}
    for name in metrics:
        function, kind = METRICS[name]
        if kind == "labels":
            if model.head.activation == "softmax":
                predicted, truth = np.argmax(logits, axis=-1), targets
            else:
                predicted, truth = (logits > 0).astype(int), (targets >= 0.5).astype(int)
            scores[name] = function(truth, predicted)
        else:
            scores[name] = function(targets, model.head.activate(logits))
    return scores


def evaluate(model, X, y, lengths, metrics, batch_size):
    """:meth:`numrnn.model.Sequential.evaluate` (see there)."""
    X, lengths = check_inputs(model, X, lengths)
    y = check_targets(model, y, X, lengths)
    metrics = check_metrics(model, metrics)
    logits = inference.logits(model, X, lengths, check_int(batch_size, "batch_size", 1))
    last_step = model.head.last_step
    y_tm = y if last_step else tu.swap_batch_time(y, True)
    scores = {"loss": model.loss(logits, y_tm, None if last_step else lengths)}
    scores.update(metric_values(model, metrics, *flat_valid(model, logits, y_tm, lengths)))
    return scores


def progress_bar(epochs, enabled):
    """A tqdm bar over the epochs, or None when disabled or tqdm is not installed."""
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=epochs, desc="fit", unit="epoch")
