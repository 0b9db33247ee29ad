r"""Optimizers, gradient clipping and learning-rate schedules over dicts of arrays.

The schedules (``Schedule`` and its subclasses) and the gradient clipping functions are
defined in ``numrnn._training.schedules`` and ``numrnn._training.clipping`` and are public
here.

Parameters and gradients are plain dicts ``name -> ndarray`` (a layer's ``state_dict()`` and
``grads``). ``optimizer.step(params, grads)`` updates the arrays in ``params`` **in place**
with exactly the update rules of ``torch.optim`` (same defaults, same order of operations);
per-parameter state (moments, step counts) is kept under each parameter's name.

Examples
--------
>>> import numpy as np
>>> from numrnn.optim import Adam, clip_grad_norm
>>> params = {"w": np.array([1.0, -2.0])}
>>> grads = {"w": np.array([3.0, 4.0])}
>>> float(clip_grad_norm(grads, max_norm=1.0))      # norm before clipping
5.0
>>> opt = Adam(lr=0.1)
>>> opt.step(params, grads)
>>> params["w"]                                      # Adam's first step moves each by ~lr
array([ 0.9, -2.1])
"""

import math

import numpy as np

from numrnn._training.clipping import clip_grad_norm, clip_grad_value  # noqa: F401 (public here)
from numrnn._training.schedules import (  # noqa: F401 (public here, with the optimizers)
    CosineAnnealingLR,
    LinearWarmup,
    ReduceLROnPlateau,
    Schedule,
    StepLR,
)
from numrnn._validation import FLOAT_DTYPES, as_float_array, check_float, check_int


class Optimizer:
    """Base class: argument checks, per-parameter state and ``state_dict``.

    Subclasses name the entries they keep per parameter in ``_state_keys`` and implement
    ``_update(param, grad, state)``, which changes ``param`` in place and keeps what it needs
    across steps in the dict ``state``.

    Parameters
    ----------
    **hyper
        The hyperparameters: ``lr`` and ``weight_decay`` (both required, >= 0) and the
        subclass's own, kept in ``hyper``.

    Examples
    --------
    Signed gradient descent, which keeps no state but the step count:

    >>> import numpy as np
    >>> from numrnn.optim import Optimizer
    >>> class SignSGD(Optimizer):
    ...     _state_keys = ()
    ...     def __init__(self, lr=0.1):
    ...         super().__init__(lr=lr, weight_decay=0.0)
    ...     def _update(self, param, grad, state):
    ...         param -= self.lr * np.sign(grad)
    ...         state["step"] += 1
    >>> params = {"w": np.array([1.0, -1.0])}
    >>> SignSGD().step(params, {"w": np.array([0.5, -2.0])})
    >>> params["w"]
    array([ 0.9, -0.9])
    """

    def __init__(self, **hyper):
        self.lr = check_float(hyper.pop("lr"), "lr", low=0.0)
        self.weight_decay = check_float(hyper.pop("weight_decay"), "weight_decay", low=0.0)
        self.hyper = hyper
        self.state = {}

    def get_config(self):
        """Return the hyperparameters as JSON-compatible values.

        Returns
        -------
        dict
            Keyword arguments that rebuild this optimizer (used by :mod:`numrnn.io`).
        """
        return {"lr": self.lr, "weight_decay": self.weight_decay, **self.hyper}

    def step(self, params, grads):
        """Update every array in ``params`` in place from the matching entry of ``grads``.

        Parameters
        ----------
        params : dict of ndarray
            Float arrays, changed in place.
        grads : dict of array_like
            Same keys and shapes as ``params``.

        Raises
        ------
        ValueError
            If the keys or shapes of ``grads`` differ from those of ``params``, a parameter
            is not a writeable float array, or the optimizer's state for a parameter has
            another shape (nothing is updated then).
        """
        if not isinstance(params, dict) or not isinstance(grads, dict):
            raise TypeError(f"params and grads must be dicts of arrays, got "
                            f"{type(params).__name__} and {type(grads).__name__}")
        if set(grads) != set(params):
            raise ValueError(f"grads must have the keys of params: missing "
                             f"{sorted(set(params) - set(grads))}, unexpected "
                             f"{sorted(set(grads) - set(params))}")
        checked = {}
        for name, param in params.items():
            if not isinstance(param, np.ndarray) or param.dtype not in FLOAT_DTYPES:
                raise ValueError(f"params[{name!r}] must be a float32/float64 ndarray, got "
                                 f"{type(param).__name__}")
            if not param.flags.writeable:
                raise ValueError(f"params[{name!r}] must be writeable: the update is in place")
            grad = as_float_array(grads[name], f"grads[{name!r}]", param.dtype)
            if grad.shape != param.shape:
                raise ValueError(f"grads[{name!r}] must have shape {param.shape}, got "
                                 f"{grad.shape}")
            for key, value in self.state.get(name, {}).items():
                if isinstance(value, np.ndarray) and value.shape != param.shape:
                    raise ValueError(
                        f"the optimizer's {key!r} for {name!r} has shape {value.shape}, but "
                        f"params[{name!r}] has shape {param.shape}: its state was made for "
                        "other parameters (load a state_dict of these, or use a new optimizer)"
                    )
            checked[name] = grad
        for name, param in params.items():
            self._update(param, checked[name], self.state.setdefault(name, {"step": 0}))

    def state_dict(self):
        """Return the hyperparameters and copies of the per-parameter state.

        Returns
        -------
        dict
            ``{"config": get_config(), "state": {name: {key: ndarray or int}}}``.
        """
        state = {name: {k: (v.copy() if isinstance(v, np.ndarray) else v)
                        for k, v in entry.items()} for name, entry in self.state.items()}
        return {"config": self.get_config(), "state": state}

    def load_state_dict(self, state_dict):
        """Restore hyperparameters and state from :meth:`state_dict` output (all or nothing).

        Parameters
        ----------
        state_dict : dict
            ``{"config": ..., "state": ...}`` as returned by :meth:`state_dict`.

        Raises
        ------
        ValueError, TypeError
            If the hyperparameters are not this optimizer's, a state entry has unknown keys,
            a step count is not an integer >= 0 or a state value is not an array of numbers
            (nothing is changed then).
        """
        if not isinstance(state_dict, dict) or set(state_dict) != {"config", "state"}:
            got = sorted(state_dict) if isinstance(state_dict, dict) else repr(state_dict)
            raise ValueError("state_dict must be a dict with the keys 'config' and 'state' "
                             f"(Optimizer.state_dict's), got {got}")
        config, state = state_dict["config"], state_dict["state"]
        if not isinstance(config, dict) or not isinstance(state, dict):
            raise TypeError("state_dict['config'] and state_dict['state'] must be dicts, got "
                            f"{type(config).__name__} and {type(state).__name__}")
        if set(config) != set(self.get_config()):
            raise ValueError(f"optimizer state_dict has hyperparameters {sorted(config)}, "
                             f"{type(self).__name__} expects {sorted(self.get_config())}")
        fresh = type(self)(**config)
        expected = set(self._state_keys) | {"step"}
        loaded = {}
        for name, entry in state.items():
            if not isinstance(entry, dict) or not set(entry) <= expected:
                keys = sorted(entry) if isinstance(entry, dict) else entry
                raise ValueError(f"optimizer state for {name!r} has keys {keys}, "
                                 f"{type(self).__name__} expects a subset of {sorted(expected)}")
            loaded[name] = {k: (check_int(v, f"the optimizer state's step of {name!r}", 0)
                                if k == "step" else
                                as_float_array(v, f"the optimizer state's {k!r} of {name!r}",
                                               copy=True))
                            for k, v in entry.items()}  # fmt: skip
        self.lr, self.weight_decay, self.hyper = fresh.lr, fresh.weight_decay, fresh.hyper
        self.state = loaded


class SGD(Optimizer):
    r"""Stochastic gradient descent with momentum, dampening, Nesterov and weight decay.

    ``torch.optim.SGD``'s rule, with :math:`\mu` momentum and :math:`\tau` dampening:

    .. math::
        g &\leftarrow g + \lambda \theta \\
        b &\leftarrow g \text{ at the first step, else } \mu b + (1 - \tau) g \\
        g &\leftarrow g + \mu b \text{ (Nesterov) or } b \\
        \theta &\leftarrow \theta - \eta g

    Parameters
    ----------
    lr : float, default 1e-3
    momentum : float, default 0.0
    dampening : float, default 0.0
    weight_decay : float, default 0.0
    nesterov : bool, default False
        Needs ``momentum > 0`` and ``dampening == 0`` (as PyTorch).

    Examples
    --------
    >>> import numpy as np
    >>> from numrnn.optim import SGD
    >>> p = {"w": np.array([1.0])}
    >>> opt = SGD(lr=0.5, momentum=0.9)
    >>> for _ in range(2):
    ...     opt.step(p, {"w": np.array([1.0])})
    >>> p["w"]                               # 1 - 0.5*1 - 0.5*(0.9 + 1)
    array([-0.45])
    """

    _state_keys = ("momentum_buffer",)

    def __init__(self, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
        super().__init__(lr=lr, weight_decay=weight_decay,
                         momentum=check_float(momentum, "momentum", low=0.0),
                         dampening=check_float(dampening, "dampening", 0.0, 1.0),
                         nesterov=bool(nesterov))
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("nesterov=True needs momentum > 0 and dampening == 0, got "
                             f"momentum={momentum}, dampening={dampening}")

    def _update(self, param, grad, state):
        momentum = self.hyper["momentum"]
        state["step"] += 1
        if self.weight_decay:
            grad = grad + self.weight_decay * param
        if momentum:
            if "momentum_buffer" not in state:
                state["momentum_buffer"] = grad.copy()
            else:
                buf = state["momentum_buffer"]
                buf *= momentum
                buf += (1 - self.hyper["dampening"]) * grad
            buf = state["momentum_buffer"]
            grad = grad + momentum * buf if self.hyper["nesterov"] else buf
        param -= self.lr * grad


class Adam(Optimizer):
    r"""Adam (Kingma & Ba), ``torch.optim.Adam``'s rule; ``decoupled`` gives AdamW.

    .. math::
        g &\leftarrow g + \lambda\theta \quad\text{(Adam; AdamW instead: }
             \theta \leftarrow \theta (1 - \eta\lambda)\text{)} \\
        m &\leftarrow \beta_1 m + (1 - \beta_1) g, \qquad
        v \leftarrow \beta_2 v + (1 - \beta_2) g^2 \\
        \theta &\leftarrow \theta - \frac{\eta}{1 - \beta_1^t}\,
             \frac{m}{\sqrt{v} / \sqrt{1 - \beta_2^t} + \epsilon}

    Parameters
    ----------
    lr : float, default 1e-3
    betas : tuple of float, default (0.9, 0.999)
    eps : float, default 1e-8
    weight_decay : float, default 0.0
    amsgrad : bool, default False
        Use :math:`\max` of all :math:`v` so far in the denominator.

    Examples
    --------
    >>> import numpy as np
    >>> from numrnn.optim import Adam
    >>> p = {"w": np.array([0.0])}
    >>> Adam(lr=0.01).step(p, {"w": np.array([-123.0])})
    >>> p["w"].round(6)
    array([0.01])
    """

    _state_keys = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")
    decoupled = False

    def __init__(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False):
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"betas must be a pair of floats, got {betas!r}")
        betas = [check_float(b, f"betas[{i}]", 0.0, 1.0, high_open=True)
                 for i, b in enumerate(betas)]
        super().__init__(lr=lr, weight_decay=weight_decay, betas=betas,
                         eps=check_float(eps, "eps", low=0.0), amsgrad=bool(amsgrad))

    def _update(self, param, grad, state):
        from numrnn.backends.cpu._optim import adam_step  # numba, on first use

        beta1, beta2 = self.hyper["betas"]
        state["step"] += 1
        step = state["step"]
        # The compiled step runs over 1-D arrays: the parameter's entries in its memory
        # order, and everything else in the same order.
        order = "F" if param.flags.f_contiguous and not param.flags.c_contiguous else "C"
        names = self._state_keys if self.hyper["amsgrad"] else self._state_keys[:2]
        for key in names:
            state[key] = (np.zeros(param.shape, param.dtype, order) if key not in state
                          else np.require(state[key], param.dtype, order))
        moments = [state[key].ravel(order) for key in names]
        flat = param.ravel(order)  # a view, unless param is not contiguous
        scalar = param.dtype.type
        decay = 1 - self.lr * self.weight_decay if self.decoupled else 1.0
        adam_step(
            flat, grad.ravel(order), moments[0], moments[1], moments[-1], scalar(decay),
            scalar(0.0 if self.decoupled else self.weight_decay), scalar(1 - beta1),
            scalar(beta2), scalar(1 - beta2), scalar(math.sqrt(1 - beta2**step)),
            scalar(self.hyper["eps"]), scalar(self.lr / (1 - beta1**step)),
            self.hyper["amsgrad"],
        )  # fmt: skip
        if not (param.flags.c_contiguous or param.flags.f_contiguous):  # flat is a copy
            param[...] = flat.reshape(param.shape, order=order)


class AdamW(Adam):
    r"""Adam with decoupled weight decay (Loshchilov & Hutter), ``torch.optim.AdamW``'s rule.

    The parameter shrinks by :math:`(1 - \eta\lambda)` before the Adam step, instead of
    :math:`\lambda\theta` being added to the gradient; see :class:`Adam` for the equations.

    Parameters
    ----------
    lr : float, default 1e-3
    betas : tuple of float, default (0.9, 0.999)
    eps : float, default 1e-8
    weight_decay : float, default 1e-2
    amsgrad : bool, default False

    Examples
    --------
    >>> import numpy as np
    >>> from numrnn.optim import AdamW
    >>> p = {"w": np.array([1.0])}
    >>> AdamW(lr=0.1, weight_decay=0.5).step(p, {"w": np.array([0.0])})
    >>> p["w"]                      # zero gradient: only the decay, 1 * (1 - 0.1*0.5)
    array([0.95])
    """

    decoupled = True

    def __init__(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False):
        super().__init__(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad)


class RMSprop(Optimizer):
    r"""RMSprop (Hinton), ``torch.optim.RMSprop``'s rule, optionally centered, with momentum.

    .. math::
        g &\leftarrow g + \lambda\theta, \qquad v \leftarrow \alpha v + (1 - \alpha) g^2 \\
        \bar g &\leftarrow \alpha \bar g + (1 - \alpha) g \text{ (centered)}, \qquad
        d = \sqrt{v - \bar g^2} \text{ (centered) or } \sqrt{v}, \text{ then } d + \epsilon \\
        b &\leftarrow \mu b + g / d, \; \theta \leftarrow \theta - \eta b
        \quad\text{(or } \theta \leftarrow \theta - \eta g / d \text{ without momentum)}

    Parameters
    ----------
    lr : float, default 1e-2
    alpha : float, default 0.99
    eps : float, default 1e-8
    weight_decay : float, default 0.0
    momentum : float, default 0.0
    centered : bool, default False

    Examples
    --------
    >>> import numpy as np
    >>> from numrnn.optim import RMSprop
    >>> p = {"w": np.array([0.0])}
    >>> RMSprop(lr=0.01, alpha=0.75).step(p, {"w": np.array([2.0])})
    >>> p["w"].round(6)             # -0.01 * 2 / sqrt(0.25 * 4)
    array([-0.02])
    """

    _state_keys = ("square_avg", "grad_avg", "momentum_buffer")

    def __init__(self, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                 centered=False):
        super().__init__(lr=lr, weight_decay=weight_decay,
                         alpha=check_float(alpha, "alpha", 0.0, 1.0),
                         eps=check_float(eps, "eps", low=0.0),
                         momentum=check_float(momentum, "momentum", low=0.0),
                         centered=bool(centered))

    def _update(self, param, grad, state):
        alpha, momentum = self.hyper["alpha"], self.hyper["momentum"]
        state["step"] += 1
        if self.weight_decay:
            grad = grad + self.weight_decay * param
        if "square_avg" not in state:
            state["square_avg"] = np.zeros_like(param)
            if self.hyper["centered"]:
                state["grad_avg"] = np.zeros_like(param)
            if momentum > 0:
                state["momentum_buffer"] = np.zeros_like(param)
        square_avg = state["square_avg"]
        square_avg *= alpha
        square_avg += (1 - alpha) * grad * grad
        if self.hyper["centered"]:
            grad_avg = state["grad_avg"]
            grad_avg += (1 - alpha) * (grad - grad_avg)
            avg = np.sqrt(square_avg - grad_avg * grad_avg)
        else:
            avg = np.sqrt(square_avg)
        avg += self.hyper["eps"]
        if momentum > 0:
            buf = state["momentum_buffer"]
            buf *= momentum
            buf += grad / avg
            param -= self.lr * buf
        else:
            param -= self.lr * grad / avg


#: Optimizers by name, for :class:`numrnn.model.Sequential` and :mod:`numrnn.io`.
OPTIMIZERS = {"sgd": SGD, "adam": Adam, "adamw": AdamW, "rmsprop": RMSprop}
