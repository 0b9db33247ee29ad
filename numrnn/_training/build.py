"""What a model is built from besides its layers: its loss and its optimizer, by name or as
objects (:class:`~numrnn.model.Sequential` and :class:`~numrnn.seq2seq.Seq2Seq` alike)."""

from numrnn._validation import check_choice
from numrnn.losses import LOSSES, Loss
from numrnn.optim import OPTIMIZERS, Adam, Optimizer

__all__ = ["resolve_loss", "resolve_optimizer"]


def resolve_loss(loss):
    """A time-major loss object from a name of :data:`~numrnn.losses.LOSSES` or a loss.

    A given loss is copied with ``batch_first=False``: models apply it to their own
    time-major arrays.
    """
    if isinstance(loss, str):
        return LOSSES[check_choice(loss, "loss", LOSSES)]()
    if not isinstance(loss, Loss):
        raise TypeError(f"loss must be a name or a numrnn Loss, got {type(loss).__name__}")
    return type(loss)(**{**loss.get_config(), "batch_first": False})


def resolve_optimizer(optimizer):
    """An optimizer from None (``Adam()``), a name of ``OPTIMIZERS`` (default settings) or an
    :class:`~numrnn.optim.Optimizer`."""
    if optimizer is None:
        return Adam()
    if isinstance(optimizer, str):
        return OPTIMIZERS[check_choice(optimizer, "optimizer", OPTIMIZERS)]()
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"optimizer must be a name or a numrnn Optimizer, got "
                        f"{type(optimizer).__name__}")
    return optimizer
