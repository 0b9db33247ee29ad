r"""Learning-rate schedules: the rate as a closed-form function of the step (public in
:mod:`numrnn.optim`, with the optimizers whose ``lr`` they set)."""

import math

from numrnn._validation import check_choice, check_float, check_int

__all__ = ["CosineAnnealingLR", "LinearWarmup", "ReduceLROnPlateau", "Schedule", "StepLR"]


class Schedule:
    """Base class of learning-rate schedules: the rate as a closed-form function of the step.

    A schedule sets ``optimizer.lr`` at construction (step 0) and at every :meth:`step`
    (call it once per epoch or once per batch, as you count steps). Subclasses define
    ``rate(step)`` from ``base_lr``, the optimizer's rate when the schedule was made, so a
    restored schedule resumes exactly.

    Parameters
    ----------
    optimizer : Optimizer
        The optimizer whose ``lr`` the schedule sets.

    Examples
    --------
    Halve the learning rate at every step:

    >>> from numrnn.optim import SGD, Schedule
    >>> class Halving(Schedule):
    ...     def rate(self, step):
    ...         return self.base_lr / 2**step
    >>> schedule = Halving(SGD(lr=0.1))
    >>> schedule.step(), schedule.step()
    (0.05, 0.025)
    >>> schedule.optimizer.lr
    0.025
    """

    def __init__(self, optimizer):
        from numrnn.optim import Optimizer  # which imports this module

        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"optimizer must be a numrnn Optimizer, got "
                            f"{type(optimizer).__name__}")
        self.optimizer = optimizer
        self.base_lr = optimizer.lr
        self.last_step = 0
        optimizer.lr = self.rate(0)

    def rate(self, step):
        """Return the learning rate at a step.

        Parameters
        ----------
        step : int
            Steps taken since the schedule was made.

        Returns
        -------
        float
        """
        raise NotImplementedError("a Schedule subclass defines rate(step)")

    def step(self, metric=None):
        """Advance one step and set the optimizer's learning rate.

        Parameters
        ----------
        metric : float, optional
            The monitored loss, for schedules that follow it (:class:`ReduceLROnPlateau`);
            a closed-form schedule ignores it.

        Returns
        -------
        float
            The new learning rate.
        """
        self.last_step += 1
        self.optimizer.lr = self.rate(self.last_step)
        return self.optimizer.lr

    def get_last_lr(self):
        """Return the learning rate set by the latest step.

        Returns
        -------
        float
        """
        return self.optimizer.lr

    def state_dict(self):
        """Return the schedule's progress (its settings come from its constructor).

        Returns
        -------
        dict
            ``{"base_lr": float, "last_step": int}``.
        """
        return {"base_lr": self.base_lr, "last_step": self.last_step}

    def load_state_dict(self, state_dict):
        """Resume from :meth:`state_dict` output and set the optimizer's rate accordingly.

        Parameters
        ----------
        state_dict : dict
            ``{"base_lr": float, "last_step": int}``.
        """
        self.base_lr = float(state_dict["base_lr"])
        self.last_step = int(state_dict["last_step"])
        self.optimizer.lr = self.rate(self.last_step)


class StepLR(Schedule):
    r"""Multiply the rate by ``gamma`` every ``step_size`` steps (PyTorch's ``StepLR``).

    .. math:: \eta_s = \eta_0\, \gamma^{\lfloor s / \text{step\_size} \rfloor}

    Parameters
    ----------
    optimizer : Optimizer
        Whose ``lr`` is the base rate :math:`\eta_0` and is set at every step.
    step_size : int
        Steps between two decays.
    gamma : float, default 0.1
        Factor of each decay.

    Examples
    --------
    >>> from numrnn.optim import SGD, StepLR
    >>> opt = SGD(lr=1.0)
    >>> sched = StepLR(opt, step_size=2, gamma=0.5)
    >>> [sched.step() for _ in range(4)]
    [1.0, 0.5, 0.5, 0.25]
    """

    def __init__(self, optimizer, step_size, gamma=0.1):
        self.step_size = check_int(step_size, "step_size", 1)
        self.gamma = check_float(gamma, "gamma", low=0.0)
        super().__init__(optimizer)

    def rate(self, step):
        return self.base_lr * self.gamma ** (step // self.step_size)


class CosineAnnealingLR(Schedule):
    r"""Cosine decay from the base rate to ``eta_min`` over ``t_max`` steps.

    .. math:: \eta_s = \eta_{\min} + \tfrac12(\eta_0 - \eta_{\min})
              \big(1 + \cos(\pi s / T_{\max})\big)

    the closed form of ``torch.optim.lr_scheduler.CosineAnnealingLR`` (which, past
    :math:`T_{\max}`, rises again along the same cosine).

    Parameters
    ----------
    optimizer : Optimizer
        Whose ``lr`` is the base rate :math:`\eta_0` and is set at every step.
    t_max : int
        Steps of the decay, :math:`T_{\max}`.
    eta_min : float, default 0.0
        Rate reached at :math:`T_{\max}`.

    Examples
    --------
    >>> from numrnn.optim import SGD, CosineAnnealingLR
    >>> opt = SGD(lr=1.0)
    >>> sched = CosineAnnealingLR(opt, t_max=2)
    >>> [round(sched.step(), 6) for _ in range(2)]
    [0.5, 0.0]
    """

    def __init__(self, optimizer, t_max, eta_min=0.0):
        self.t_max = check_int(t_max, "t_max", 1)
        self.eta_min = check_float(eta_min, "eta_min", low=0.0)
        super().__init__(optimizer)

    def rate(self, step):
        cosine = 0.5 * (1 + math.cos(math.pi * step / self.t_max))
        return self.eta_min + (self.base_lr - self.eta_min) * cosine


class LinearWarmup(Schedule):
    r"""Raise the rate linearly from ``start_factor * lr`` to ``lr`` over ``warmup_steps``.

    .. math:: \eta_s = \eta_0 \Big(f_0 + (1 - f_0)\,\frac{\min(s, S)}{S}\Big)

    the rule of ``torch.optim.lr_scheduler.LinearLR(start_factor=f_0, end_factor=1,
    total_iters=S)``; the rate stays at ``lr`` afterwards.

    Parameters
    ----------
    optimizer : Optimizer
        Whose ``lr`` is the target rate :math:`\eta_0` and is set at every step.
    warmup_steps : int
        Steps to reach :math:`\eta_0`, :math:`S`.
    start_factor : float in (0, 1], default 1/3
        :math:`f_0`, the fraction of :math:`\eta_0` at step 0.

    Examples
    --------
    >>> from numrnn.optim import SGD, LinearWarmup
    >>> opt = SGD(lr=1.0)
    >>> sched = LinearWarmup(opt, warmup_steps=4, start_factor=0.2)
    >>> opt.lr, [round(sched.step(), 6) for _ in range(5)]
    (0.2, [0.4, 0.6, 0.8, 1.0, 1.0])
    """

    def __init__(self, optimizer, warmup_steps, start_factor=1.0 / 3):
        self.warmup_steps = check_int(warmup_steps, "warmup_steps", 1)
        self.start_factor = check_float(start_factor, "start_factor", 0.0, 1.0,
                                           low_open=True)
        super().__init__(optimizer)

    def rate(self, step):
        fraction = min(step, self.warmup_steps) / self.warmup_steps
        return self.base_lr * (self.start_factor + (1 - self.start_factor) * fraction)


class ReduceLROnPlateau(Schedule):
    r"""Multiply the rate by ``factor`` when the monitored loss stops improving.

    PyTorch's ``ReduceLROnPlateau`` in mode ``"min"`` without cool-down: a loss :math:`m` is
    an improvement when :math:`m < m^* (1 - \text{threshold})` (``threshold_mode="rel"``) or
    :math:`m < m^* - \text{threshold}` (``"abs"``), :math:`m^*` the best so far; after more
    than ``patience`` steps without one the rate becomes
    :math:`\max(\eta\,\text{factor}, \text{min\_lr})` and the count restarts.
    Call :meth:`step` with the loss once per epoch (:meth:`numrnn.Sequential.fit` passes
    its monitored loss, ``val_loss`` when there is validation data).

    Parameters
    ----------
    optimizer : Optimizer
        Whose ``lr`` is the starting rate.
    factor : float in (0, 1), default 0.1
    patience : int, default 10
        Steps without improvement tolerated before the rate drops.
    threshold : float, default 1e-4
        Improvement that counts.
    threshold_mode : {"rel", "abs"}, default "rel"
    min_lr : float, default 0.0
        The rate never drops below this.

    Examples
    --------
    >>> from numrnn.optim import SGD, ReduceLROnPlateau
    >>> opt = SGD(lr=1.0)
    >>> sched = ReduceLROnPlateau(opt, factor=0.5, patience=1)
    >>> [sched.step(loss) for loss in (3.0, 2.0, 2.0, 2.0, 2.0, 2.0, 1.0)]
    [1.0, 1.0, 1.0, 0.5, 0.5, 0.25, 0.25]
    """

    def __init__(self, optimizer, factor=0.1, patience=10, threshold=1e-4,
                 threshold_mode="rel", min_lr=0.0):
        self.factor = check_float(factor, "factor", 0.0, 1.0, low_open=True, high_open=True)
        self.patience = check_int(patience, "patience", 0)
        self.threshold = check_float(threshold, "threshold", 0.0)
        self.min_lr = check_float(min_lr, "min_lr", 0.0)
        self.threshold_mode = check_choice(threshold_mode, "threshold_mode", {"rel", "abs"})
        self.best = math.inf
        self.bad_steps = 0
        super().__init__(optimizer)

    def rate(self, step):
        """The optimizer's current rate (the schedule follows the loss, not the step count).

        Parameters
        ----------
        step : int
            Unused.

        Returns
        -------
        float
        """
        return self.optimizer.lr

    def step(self, metric=None):
        """Record the monitored loss of one step and lower the rate after a plateau.

        Parameters
        ----------
        metric : float
            The loss to minimise.

        Returns
        -------
        float
            The new learning rate.

        Raises
        ------
        ValueError
            If ``metric`` is missing (e.g. stepped per update by
            :meth:`numrnn.Sequential.fit`) or not finite.
        """
        if metric is None:
            raise ValueError("ReduceLROnPlateau.step needs the monitored loss (metric); step "
                             "it once per epoch")
        metric = check_float(metric, "metric")
        self.last_step += 1
        bar = (self.best * (1 - self.threshold) if self.threshold_mode == "rel"
               else self.best - self.threshold)
        if metric < bar:
            self.best, self.bad_steps = metric, 0
        else:
            self.bad_steps += 1
        if self.bad_steps > self.patience:
            self.optimizer.lr = max(self.optimizer.lr * self.factor, self.min_lr)
            self.bad_steps = 0
        return self.optimizer.lr

    def state_dict(self):
        """Return the schedule's progress and its current rate.

        Returns
        -------
        dict
            ``base_lr``, ``last_step``, ``lr``, ``best``, ``bad_steps``.
        """
        return {**super().state_dict(), "lr": self.optimizer.lr, "best": self.best,
                "bad_steps": self.bad_steps}

    def load_state_dict(self, state_dict):
        """Resume from :meth:`state_dict` output.

        Parameters
        ----------
        state_dict : dict
        """
        self.best = float(state_dict["best"])
        self.bad_steps = int(state_dict["bad_steps"])
        self.optimizer.lr = float(state_dict["lr"])
        super().load_state_dict(state_dict)
