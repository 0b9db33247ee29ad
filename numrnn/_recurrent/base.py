"""What every recurrent layer shares: construction, parameters, modes, pickling."""

import warnings

import numpy as np

from numrnn._component import Component
from numrnn._recurrent.params import ParamLayout, stored
from numrnn._recurrent.streaming import Streaming, no_fast_step
from numrnn._validation import check_float_dtype, check_int
from numrnn.backends import CellSpec, resolve_backend

__all__ = ["RecurrentBase"]


class RecurrentBase(Component):
    """Construction, parameters, modes, pickling: what every recurrent layer shares.

    ``_CONFIG`` names the constructor arguments a subclass adds (``nonlinearity``,
    ``proj_size``), for :meth:`get_config`.
    """

    _CONFIG = ()

    def _setup(self, kind, input_size, hidden_size, num_layers, bias, batch_first, dropout,
               bidirectional, proj_size, dtype, backend, seed):
        self.input_size = check_int(input_size, "input_size", 1)
        self.hidden_size = check_int(hidden_size, "hidden_size", 1)
        self.num_layers = check_int(num_layers, "num_layers", 1)
        self.proj_size = check_int(proj_size, "proj_size", 0)
        if self.proj_size >= self.hidden_size:
            raise ValueError(
                f"proj_size must be smaller than hidden_size ({self.hidden_size}), "
                f"got {self.proj_size}"
            )
        for name, flag in (("bias", bias), ("batch_first", batch_first),
                           ("bidirectional", bidirectional)):
            if not isinstance(flag, bool | np.bool_):
                raise TypeError(f"{name} must be a bool, got {type(flag).__name__} {flag!r}")
        self.bias, self.batch_first = bool(bias), bool(batch_first)
        self.bidirectional = bool(bidirectional)
        self._streaming = Streaming()
        self._fast_step = no_fast_step
        self.dropout = dropout
        if dropout > 0 and self.num_layers == 1:
            warnings.warn(
                "dropout acts between stacked layers only; with num_layers=1 it has no effect",
                UserWarning, stacklevel=3,
            )
        self.dtype = check_float_dtype(dtype)
        self.backend, self._be = resolve_backend(backend)
        self._spec = CellSpec(kind, self.hidden_size, self.proj_size)
        self._layout = ParamLayout(self._spec, self.input_size, self.num_layers, self.bias,
                                   self.bidirectional)
        self.training = True
        self.grads = {}
        self._record = None
        self._prepared = None
        init_seq, dropout_seq = np.random.SeedSequence(seed).spawn(2)
        self._dropout_rng = np.random.default_rng(dropout_seq)
        self._params = self._layout.initial(np.random.default_rng(init_seq), self.dtype)

    def get_config(self):
        """Return the constructor arguments as JSON-compatible values.

        Returns
        -------
        dict
            Keyword arguments that rebuild this layer (used by :mod:`numrnn.io`).
        """
        names = ("input_size", "hidden_size", "num_layers", "bias", "batch_first", "dropout",
                 "bidirectional", "backend", *self._CONFIG)
        return {**{name: getattr(self, name) for name in names}, "dtype": self.dtype.name}

    # -- parameters --------------------------------------------------------------------------

    def parameters(self):
        """Return the live parameter arrays, keyed like :meth:`state_dict`.

        Optimizers update these arrays in place, and so may the caller: the next forward
        call and the next :meth:`step` compute with the values the arrays hold then.  Every
        call also marks the parameters as possibly changed, so backends that keep copies
        (CUDA) refresh them before the next forward call.

        Returns
        -------
        dict of str to ndarray
            The weight matrices are F-contiguous: transposes of the C-contiguous buffers
            the products read (see ``numrnn._recurrent.params``), so change them through
            indexing, in-place operators or ``.flat`` (a C-order ``reshape(-1)`` of them is
            a copy).
        """
        self._prepared = None
        return self._params

    def _live(self):
        return self._params

    def _parameters_loaded(self):
        self._prepared = None

    def _layer_params(self):
        """Per layer-direction parameter dicts in the backend's form (cached)."""
        if self._prepared is None:
            self._prepared = [self._be.prepare_params(p)
                              for p in self._layout.per_direction(self._params, self.dtype)]
        return self._prepared

    # -- modes -------------------------------------------------------------------------------

    @property
    def training(self):
        """bool: training mode (dropout between layers active); see :meth:`train`."""
        return self._training

    @training.setter
    def training(self, mode):
        if bool(mode) != getattr(self, "_training", None):
            self._training = bool(mode)
            self._streaming.forget(self)  # step's fast path has no dropout

    @property
    def dropout(self):
        """float in [0, 1): dropout probability between layers, in training mode."""
        return self._dropout

    @dropout.setter
    def dropout(self, p):
        if isinstance(p, bool) or not isinstance(p, int | float | np.floating):
            raise TypeError(f"dropout must be a float in [0, 1), got {p!r}")
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {p}")
        self._dropout = float(p)
        self._streaming.forget(self)

    @property
    def _dropout_active(self):
        """Whether dropout applies between layers now (training mode, dropout > 0)."""
        return self._training and self._dropout > 0

    @property
    def _step_regularised(self):
        """Whether ``step`` must take the general path: dropout or a regulariser applies."""
        return self._dropout_active

    def _regularisers(self):
        """The stack core's ``regularisers`` argument: a mask maker, or None (here: none)."""
        return None

    def _dropout_mask(self):
        """The stack core's ``dropout_mask`` argument: a mask maker, or None."""
        if not self._dropout_active:
            return None
        from numrnn.backends.cpu._random import bernoulli  # compiled: numba loads lazily

        keep = 1.0 - self._dropout

        def mask(shape):
            return self._be.asarray(
                bernoulli(self._dropout_rng, keep, shape, self.dtype, 1.0 / keep), self.dtype
            )

        return mask

    # -- pickling and printing ---------------------------------------------------------------

    def __getstate__(self):
        # The backend module and its device copies are re-created on unpickling;
        # neither the tape of the latest forward call nor the streaming state is kept.
        state = self.__dict__.copy()
        for key in ("_be", "_prepared", "_record", "_streaming", "_fast_step"):
            state.pop(key, None)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        # numpy's own dtype object (an unpickled one is another), and aligned parameters.
        self.dtype = check_float_dtype(self.dtype)
        self._params = {name: stored(p, self.dtype) for name, p in self._params.items()}
        self.backend, self._be = resolve_backend(self.backend)
        self._prepared = self._record = None
        self._streaming = Streaming()
        self._fast_step = no_fast_step

    def __repr__(self):
        extra = [f"num_layers={self.num_layers}"]
        for attr, default in (("bias", True), ("batch_first", False), ("dropout", 0.0),
                              ("bidirectional", False), ("proj_size", 0)):
            if getattr(self, attr) != default:
                extra.append(f"{attr}={getattr(self, attr)!r}")
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            extra.append(f"nonlinearity={self.nonlinearity!r}")
        return (f"{type(self).__name__}({self.input_size}, {self.hidden_size}, "
                f"{', '.join(extra)}, dtype={self.dtype.name}, backend={self.backend!r})")
