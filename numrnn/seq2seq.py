r"""Sequence to sequence with attention: :class:`Seq2Seq` (encoder, decoder, beam search).

An encoder reads the source tokens, a decoder writes the target tokens, and at every step the
decoder attends over the encoder's outputs (Luong, Pham & Manning, 2015):

.. math::
    k_{1..S},\ h^{enc} &= \mathrm{encoder}(E_{src}[x_{1..S}]) \\
    s_0 &= \tanh(W_b\, h^{enc} + b_b) \qquad \text{(the bridge)} \\
    s_t &= \mathrm{decoder}(E_{tgt}[y_{t-1}],\ s_{t-1}), \qquad y_0 = \text{start token} \\
    c_t,\ a_t &= \mathrm{attention}(s_t,\ k_{1..S}) \\
    \tilde h_t &= \tanh(W_c [c_t; s_t] + b_c), \qquad
    p(y_t \mid y_{<t}, x) = \mathrm{softmax}(W_o \tilde h_t + b_o)

:math:`h^{enc}` is the encoder's last layer's final state, both directions side by side for a
bidirectional encoder; the bridge maps it to every layer of the decoder's initial state (the
hidden and, for an LSTM decoder, the cell state). The decoder's input at step :math:`t` does
not depend on the context :math:`c_{t-1}` (no "input feeding"), so in training the decoder runs
over the whole target sequence in one call of the recurrent layer, and the attention over all
steps in one batched product; every backward is exact.

Training uses teacher forcing: the decoder reads the true previous token, or, with probability
``1 - teacher_forcing`` per sequence and step, its own most likely previous token (scheduled
sampling). The chosen tokens are fixed inputs: no gradient flows through the choice.
"""

import contextlib
from collections import namedtuple

import numpy as np

from numrnn import _trainutil as tu
from numrnn._component import Component, checked_state
from numrnn._recurrent import LSTM, RNN, no_grad
from numrnn._training.fit import Updates, progress_bar, update
from numrnn._validation import check_int
from numrnn.activations import log_softmax
from numrnn.attention import BahdanauAttention, LuongAttention
from numrnn.embedding import Embedding, check_ids
from numrnn.heads import Dense
from numrnn.losses import CrossEntropyLoss
from numrnn.optim import OPTIMIZERS, Adam, Optimizer, Schedule

__all__ = ["Seq2Seq"]

# One decoded sequence: the tokens (without the end token), the sum of their log-probabilities
# under the model (the end token's included), and the attention weights, one row (source
# steps) per output step, the end token's step included.
Decoded = namedtuple("Decoded", ["tokens", "log_prob", "attention"])

# Score functions by name: attention class and its keyword arguments.
_SCORES = {"dot": (LuongAttention, {"score": "dot"}),
           "general": (LuongAttention, {"score": "general"}),
           "additive": (BahdanauAttention, {})}


class Seq2Seq(Component):
    r"""Encoder--decoder with attention, teacher-forced training and greedy or beam decoding.

    The equations are in :mod:`numrnn.seq2seq`. Components (public attributes, in the order of
    :meth:`state_dict`, whose keys are ``"<component>.<parameter>"``): ``src_embedding``,
    ``encoder``, ``bridge``, ``tgt_embedding``, ``decoder``, ``attention``, ``combine``
    (:math:`W_c`) and ``head`` (:math:`W_o`).

    Parameters
    ----------
    encoder : numrnn.RNN, numrnn.LSTM or numrnn.GRU
        Any recurrent layer (stacked, bidirectional, ``batch_first`` or not); its
        ``input_size`` is the source embedding's size.
    decoder : numrnn.RNN, numrnn.LSTM or numrnn.GRU
        A unidirectional recurrent layer of the encoder's dtype; its ``input_size`` is the
        target embedding's size.
    src_vocab_size, tgt_vocab_size : int
        Numbers of source and target token ids.
    start_token, end_token : int
        Target ids that start every decoder input and end every output sequence.
    attention : {"general", "dot", "additive"}, default "general"
        Luong's "general" or "dot" score (:class:`~numrnn.attention.LuongAttention`) or
        Bahdanau's additive one (:class:`~numrnn.attention.BahdanauAttention`).
    attention_size : int, optional
        Hidden size of the additive score (default: the decoder's output size).
    src_padding_idx, tgt_padding_idx : int, optional
        ``padding_idx`` of the two embeddings.
    optimizer : str or Optimizer, optional
        A name (``"sgd"``, ``"adam"``, ``"adamw"``, ``"rmsprop"``) or an optimizer from
        :mod:`numrnn.optim`; default ``Adam()``.
    seed : int or None
        Seeds the embeddings, the bridge, the attention and the two dense layers (the
        recurrent layers keep their own seeds).

    Attributes
    ----------
    loss : numrnn.losses.CrossEntropyLoss
        Mean cross-entropy per target token (end tokens included, padding never).
    history_ : dict of list
        Per-epoch ``loss`` and ``lr`` after :meth:`fit`.

    Examples
    --------
    Learn to reverse sequences of the tokens 2..5 (0 starts, 1 ends):

    >>> import numpy as np, numrnn
    >>> rng = np.random.default_rng(0)
    >>> src = rng.integers(2, 6, size=(200, 4))
    >>> model = numrnn.Seq2Seq(
    ...     numrnn.GRU(8, 16, backend="numpy", seed=0), numrnn.GRU(8, 16, backend="numpy", seed=1),
    ...     src_vocab_size=6, tgt_vocab_size=6, start_token=0, end_token=1,
    ...     optimizer=numrnn.Adam(lr=0.02), seed=0)
    >>> model = model.fit(src, src[:, ::-1], epochs=25, seed=0, progress=False)
    >>> decoded = model.decode(np.array([[2, 3, 4, 5]]), beam_width=3)
    >>> decoded[0].tokens, decoded[0].attention.shape       # 4 tokens and the end token
    (array([5, 4, 3, 2]), (5, 4))
    """

    def __init__(self, encoder, decoder, *, src_vocab_size, tgt_vocab_size, start_token,
                 end_token, attention="general", attention_size=None, src_padding_idx=None,
                 tgt_padding_idx=None, optimizer=None, seed=None):
        for name, layer in (("encoder", encoder), ("decoder", decoder)):
            if not isinstance(layer, RNN):
                raise TypeError(f"{name} must be a numrnn RNN, LSTM or GRU, got "
                                f"{type(layer).__name__}")
        if decoder.bidirectional:
            raise ValueError("decoder must be unidirectional: it writes one token at a time")
        if decoder.dtype != encoder.dtype:
            raise ValueError(f"decoder dtype {decoder.dtype} differs from encoder dtype "
                             f"{encoder.dtype}")
        self.src_vocab_size = check_int("src_vocab_size", src_vocab_size, 1)
        self.tgt_vocab_size = check_int("tgt_vocab_size", tgt_vocab_size, 2)
        self.start_token = _check_token("start_token", start_token, self.tgt_vocab_size)
        self.end_token = _check_token("end_token", end_token, self.tgt_vocab_size)
        self.attention_score = tu.check_choice(attention, "attention", _SCORES)
        self.seed = seed
        self.dtype = encoder.dtype
        directions = 2 if encoder.bidirectional else 1
        key_size = directions * (encoder.proj_size or encoder.hidden_size)
        query_size = decoder.proj_size or decoder.hidden_size
        # Feature size of each part of the decoder state: h, and c for an LSTM.
        self._state_sizes = [query_size] + ([decoder.hidden_size]
                                            if isinstance(decoder, LSTM) else [])
        seeds = (int(s) for s in np.random.SeedSequence(seed).generate_state(6))
        dtype = self.dtype
        attention_class, options = _SCORES[attention]
        if attention == "additive":
            options = {"attention_size": attention_size}
        self.src_embedding = Embedding(self.src_vocab_size, encoder.input_size,
                                       padding_idx=src_padding_idx, dtype=dtype, seed=next(seeds))
        self.encoder = encoder
        self.bridge = Dense(key_size, decoder.num_layers * sum(self._state_sizes), dtype=dtype,
                            seed=next(seeds))
        self.tgt_embedding = Embedding(self.tgt_vocab_size, decoder.input_size,
                                       padding_idx=tgt_padding_idx, dtype=dtype, seed=next(seeds))
        self.decoder = decoder
        self.attention = attention_class(query_size, key_size, dtype=dtype, seed=next(seeds),
                                         **options)
        self.combine = Dense(key_size + query_size, query_size, dtype=dtype, seed=next(seeds))
        self.head = Dense(query_size, self.tgt_vocab_size, activation="softmax", dtype=dtype,
                          seed=next(seeds))
        self.loss = CrossEntropyLoss()
        if optimizer is None:
            optimizer = Adam()
        elif isinstance(optimizer, str):
            optimizer = OPTIMIZERS[tu.check_choice(optimizer, "optimizer", OPTIMIZERS)]()
        elif not isinstance(optimizer, Optimizer):
            raise TypeError(f"optimizer must be a name or a numrnn Optimizer, got "
                            f"{type(optimizer).__name__}")
        self.optimizer = optimizer
        self.training = True
        self._tape = None

    @property
    def components(self):
        """The components by name, in :meth:`state_dict` order.

        Returns
        -------
        dict of str to object
        """
        return {name: getattr(self, name) for name in (
            "src_embedding", "encoder", "bridge", "tgt_embedding", "decoder", "attention",
            "combine", "head")}

    def __repr__(self):
        inner = ",\n".join(f"    {name}={component!r}"
                           for name, component in self.components.items())
        return f"Seq2Seq(\n{inner}\n)"

    def get_config(self):
        """Return the constructor arguments other than the two recurrent layers.

        Returns
        -------
        dict
            JSON-compatible keyword arguments (used by :mod:`numrnn.io`).
        """
        attention_size = getattr(self.attention, "attention_size", None)
        return {"src_vocab_size": self.src_vocab_size, "tgt_vocab_size": self.tgt_vocab_size,
                "start_token": self.start_token, "end_token": self.end_token,
                "attention": self.attention_score, "attention_size": attention_size,
                "src_padding_idx": self.src_embedding.padding_idx,
                "tgt_padding_idx": self.tgt_embedding.padding_idx,
                "seed": tu.json_seed(self.seed)}

    # -- parameters and modes -------------------------------------------------------------------

    def parameters(self):
        """Return the live parameter arrays of every component, which optimizers update.

        Returns
        -------
        dict of str to ndarray
            Keyed ``"<component>.<parameter>"``.
        """
        return {f"{name}.{key}": value for name, component in self.components.items()
                for key, value in component.parameters().items()}

    @property
    def grads(self):
        """Gradients of the latest :meth:`train_batch` (or backward), keyed like
        :meth:`parameters`.

        Returns
        -------
        dict of str to ndarray
        """
        return {f"{name}.{key}": value for name, component in self.components.items()
                for key, value in component.grads.items()}

    def load_state_dict(self, state_dict):
        """Replace every parameter (strict: the keys and shapes of :meth:`state_dict`).

        Parameters
        ----------
        state_dict : dict of str to array_like

        Raises
        ------
        ValueError
            Naming missing or unexpected keys; nothing changes then.
        """
        checked_state(self.state_dict(), state_dict, "Seq2Seq")
        for name, component in self.components.items():
            component.load_state_dict({key[len(name) + 1:]: value
                                       for key, value in state_dict.items()
                                       if key.startswith(name + ".")})

    def train(self, mode=True):
        """Set every component to training mode (``mode=True``) or evaluation mode.

        Parameters
        ----------
        mode : bool, default True

        Returns
        -------
        Seq2Seq
            This model.
        """
        for component in self.components.values():
            component.train(mode)
        return super().train(mode)

    @contextlib.contextmanager
    def _evaluating(self):
        modes = {name: c.training for name, c in self.components.items()}
        self.eval()
        try:
            with no_grad():
                yield
        finally:
            for name, component in self.components.items():
                component.train(modes[name])

    # -- forward and backward (time-major token ids) ----------------------------------------

    def _encode(self, src, src_lengths):
        """Encoder outputs (S, B, K), the decoder's initial state and what backward needs,
        from src (S, B)."""
        x = self.src_embedding(src)
        keys, h_n = _run(self.encoder, x, None, src_lengths)
        hidden = h_n[0] if isinstance(h_n, tuple) else h_n
        directions = 2 if self.encoder.bidirectional else 1
        summary = np.concatenate(list(hidden[-directions:]), axis=-1)
        bridged = np.tanh(self.bridge(summary))
        layers, batch = self.decoder.num_layers, summary.shape[0]
        parts = np.split(bridged, np.cumsum([layers * size for size in self._state_sizes])[:-1],
                         axis=1)
        state = [np.ascontiguousarray(part.reshape(batch, layers, -1).swapaxes(0, 1))
                 for part in parts]
        return keys, (tuple(state) if len(state) == 2 else state[0]), (h_n, bridged)

    def _forward(self, src, src_lengths, dec_in, tgt_lengths):
        """Logits (T, B, V) of the decoder fed ``dec_in`` (T, B); records the tape."""
        keys, state, encoded = self._encode(src, src_lengths)
        queries, _ = _run(self.decoder, self.tgt_embedding(dec_in), state, tgt_lengths)
        context, _ = self.attention(queries, keys, src_lengths)
        attentional = np.tanh(self.combine(np.concatenate([context, queries], axis=-1)))
        self._tape = (encoded, attentional, context.shape[-1])
        return self.head(attentional)

    def _backward(self, grad_logits):
        """Backpropagate ``d loss / d logits`` of the latest :meth:`_forward` to every
        component's ``grads``."""
        (h_n, bridged), attentional, key_size = self._tape
        grad = self.head.backward(grad_logits) * (1 - attentional * attentional)
        grad_context, grad_queries = np.split(self.combine.backward(grad), [key_size], axis=-1)
        grad_attention_queries, grad_keys = self.attention.backward(grad_context)
        grad_x, grad_state = _backward(self.decoder, grad_queries + grad_attention_queries,
                                       None)
        self.tgt_embedding.backward(grad_x)
        parts = grad_state if isinstance(grad_state, tuple) else (grad_state,)
        grad_bridged = np.concatenate([p.swapaxes(0, 1).reshape(p.shape[1], -1) for p in parts],
                                      axis=1) * (1 - bridged * bridged)
        grad_summary = self.bridge.backward(grad_bridged)
        hidden = h_n[0] if isinstance(h_n, tuple) else h_n
        directions = 2 if self.encoder.bidirectional else 1
        grad_hidden = np.zeros_like(hidden)
        grad_hidden[-directions:] = np.stack(np.split(grad_summary, directions, axis=-1))
        grad_hn = (grad_hidden, np.zeros_like(h_n[1])) if isinstance(h_n, tuple) else grad_hidden
        grad_x, _ = _backward(self.encoder, grad_keys, grad_hn)
        self.src_embedding.backward(grad_x)

    # -- data -------------------------------------------------------------------------------

    def _sources(self, src, src_lengths):
        return _padded_ids(src, src_lengths, self.src_vocab_size, "src", "src_lengths", 1)

    def _targets(self, tgt, tgt_lengths, count):
        tgt, tgt_lengths = _padded_ids(tgt, tgt_lengths, self.tgt_vocab_size, "tgt",
                                       "tgt_lengths", 0)
        if len(tgt) != count:
            raise ValueError(f"tgt must have one sequence per source ({count}), got {len(tgt)}")
        return tgt, tgt_lengths

    def _teacher_batch(self, tgt, tgt_lengths, rows):
        """Decoder inputs and outputs (T + 1, B), time-major, and their lengths: the outputs
        are the targets followed by the end token, the inputs the start token followed by the
        targets."""
        lengths = tgt_lengths[rows]
        steps = int(lengths.max()) + 1
        out = np.zeros((steps, len(rows)), dtype=np.int64)
        out[:steps - 1] = tgt[rows, :steps - 1].T
        out[lengths, np.arange(len(rows))] = self.end_token
        out[np.arange(steps)[:, None] > lengths] = 0
        dec_in = np.concatenate([np.full((1, len(rows)), self.start_token), out[:-1]])
        return dec_in, out, lengths + 1

    @staticmethod
    def _source_batch(src, src_lengths, rows):
        lengths = src_lengths[rows]
        return np.ascontiguousarray(src[rows, :int(lengths.max())].T), lengths

    # -- training -------------------------------------------------------------------------

    def train_batch(self, src, tgt, *, src_lengths=None, tgt_lengths=None, teacher_forcing=1.0,
                    seed=None):
        """Forward and backward on one batch: returns the loss and fills ``grads``.

        Parameters
        ----------
        src : array_like of int, (B, S), or list of B sequences
            Source token ids, samples first.
        tgt : array_like of int, (B, T), or list of B sequences
            Target token ids, without the end token (the model appends it).
        src_lengths : array_like of int, shape (B,), optional
            Valid source steps, in [1, S]; taken from the sequences for lists.
        tgt_lengths : array_like of int, shape (B,), optional
            Valid target steps, in [0, T].
        teacher_forcing : float in [0, 1], default 1.0
            Probability of reading the true previous token (else the model's own).
        seed : int or None
            Seed of the teacher-forcing draws.

        Returns
        -------
        float
            Mean cross-entropy per target token.
        """
        src, src_lengths = self._sources(src, src_lengths)
        tgt, tgt_lengths = self._targets(tgt, tgt_lengths, len(src))
        teacher_forcing = tu.check_float(teacher_forcing, "teacher_forcing", 0.0, 1.0)
        return self._train_rows(src, src_lengths, tgt, tgt_lengths, np.arange(len(src)),
                                teacher_forcing, np.random.default_rng(seed))

    def _train_rows(self, src, src_lengths, tgt, tgt_lengths, rows, teacher_forcing, rng):
        src_b, src_len = self._source_batch(src, src_lengths, rows)
        dec_in, dec_out, dec_len = self._teacher_batch(tgt, tgt_lengths, rows)
        if teacher_forcing < 1.0:
            dec_in = self._scheduled_inputs(src_b, src_len, dec_in, teacher_forcing, rng)
        logits = self._forward(src_b, src_len, dec_in, dec_len)
        value = self.loss(logits, dec_out, lengths=dec_len)
        self._backward(self.loss.backward())
        return value

    def _scheduled_inputs(self, src, src_lengths, dec_in, teacher_forcing, rng):
        """``dec_in`` with each token after the first replaced, with probability
        ``1 - teacher_forcing``, by the model's most likely token at the step before."""
        mixed = dec_in.copy()
        with no_grad():
            keys, state, _ = self._encode(src, src_lengths)
            for t in range(len(dec_in) - 1):
                log_probs, state, _ = self._step(mixed[t], state, keys, src_lengths)
                own = rng.random(dec_in.shape[1]) >= teacher_forcing
                mixed[t + 1, own] = np.argmax(log_probs[own], axis=1)
        return mixed

    def fit(self, src, tgt, *, src_lengths=None, tgt_lengths=None, epochs=10, batch_size=32,
            teacher_forcing=1.0, shuffle=True, seed=None, clip_norm=None, clip_value=None,
            schedule=None, schedule_interval="epoch", progress=True):
        """Train with shuffled mini-batches and teacher forcing; fills ``history_``.

        Parameters
        ----------
        src : array_like of int, (N, S), or list of N sequences
            Source token ids, samples first.
        tgt : array_like of int, (N, T), or list of N sequences
            Target token ids, without the end token (the model appends it).
        src_lengths : array_like of int, shape (N,), optional
            Valid source steps, in [1, S]; taken from the sequences for lists.
        tgt_lengths : array_like of int, shape (N,), optional
            Valid target steps, in [0, T].
        epochs : int, default 10
        batch_size : int, default 32
        teacher_forcing : float in [0, 1], default 1.0
            Probability, per sequence and step, of feeding the decoder the true previous
            token rather than its own most likely one.
        shuffle : bool, default True
        seed : int or None
            Seeds the batch order and the teacher-forcing draws.
        clip_norm, clip_value : float, optional
            Clip the gradients by global norm and/or by value before each step.
        schedule : Schedule, optional
            A learning-rate schedule of this model's optimizer.
        schedule_interval : {"epoch", "update"}, default "epoch"
        progress : bool, default True
            Show a tqdm progress bar over the epochs (if tqdm is installed).

        Returns
        -------
        self

        Raises
        ------
        ValueError, TypeError
            For data of the wrong shape or type and invalid settings, naming the argument.
        """
        src, src_lengths = self._sources(src, src_lengths)
        tgt, tgt_lengths = self._targets(tgt, tgt_lengths, len(src))
        epochs = check_int("epochs", epochs, 1)
        batch_size = check_int("batch_size", batch_size, 1)
        teacher_forcing = tu.check_float(teacher_forcing, "teacher_forcing", 0.0, 1.0)
        if schedule is not None and (not isinstance(schedule, Schedule)
                                     or schedule.optimizer is not self.optimizer):
            raise ValueError("schedule must be a numrnn Schedule of this model's optimizer")
        tu.check_choice(schedule_interval, "schedule_interval", {"epoch", "update"})
        rng = np.random.default_rng(seed)
        updates = Updates(None, clip_norm, clip_value,
                          schedule if schedule_interval == "update" else None)
        history = {"loss": [], "lr": []}
        bar = progress_bar(epochs, progress)
        self.train()
        for _ in range(epochs):
            order = rng.permutation(len(src)) if shuffle else np.arange(len(src))
            total = weight = 0.0
            for begin in range(0, len(order), batch_size):
                rows = order[begin:begin + batch_size]
                value = self._train_rows(src, src_lengths, tgt, tgt_lengths, rows,
                                         teacher_forcing, rng)
                update(self, updates)
                tokens = float(tgt_lengths[rows].sum() + len(rows))
                total += value * tokens
                weight += tokens
            history["loss"].append(total / weight)
            history["lr"].append(self.optimizer.lr)
            if bar is not None:
                bar.update(1)
                bar.set_postfix({"loss": f"{history['loss'][-1]:.4g}"})
            if schedule is not None and schedule_interval == "epoch":
                schedule.step()
        if bar is not None:
            bar.close()
        self.eval()
        self.history_ = history
        return self

    # -- decoding -----------------------------------------------------------------------------

    def _step(self, tokens, state, keys, src_lengths):
        """One decoder step for ``tokens`` (B,): log-probabilities (B, V) in float64, the new
        state and the attention weights (B, S)."""
        query, state = self.decoder.step(self.tgt_embedding(tokens), state)
        context, weights = self.attention(query, keys, src_lengths)
        attentional = np.tanh(self.combine(np.concatenate([context, query], axis=-1)))
        return log_softmax(self.head(attentional).astype(np.float64)), state, weights

    def log_probability(self, src, tgt, *, src_lengths=None, tgt_lengths=None):
        r"""Log-probability of each target sequence, its end token included, under the model.

        .. math:: \log p(y \mid x) = \sum_{t=1}^{n+1} \log p(y_t \mid y_{<t}, x),
                  \qquad y_{n+1} = \text{end token}

        Parameters
        ----------
        src : array_like of int, (N, S), or list of N sequences
            Source token ids, samples first.
        tgt : array_like of int, (N, T), or list of N sequences
            Target token ids, without the end token (the model appends it).
        src_lengths : array_like of int, shape (N,), optional
            Valid source steps, in [1, S]; taken from the sequences for lists.
        tgt_lengths : array_like of int, shape (N,), optional
            Valid target steps, in [0, T].

        Returns
        -------
        ndarray of float64, shape (N,)
        """
        src, src_lengths = self._sources(src, src_lengths)
        tgt, tgt_lengths = self._targets(tgt, tgt_lengths, len(src))
        rows = np.arange(len(src))
        src_b, src_len = self._source_batch(src, src_lengths, rows)
        dec_in, dec_out, dec_len = self._teacher_batch(tgt, tgt_lengths, rows)
        with self._evaluating():
            logits = self._forward(src_b, src_len, dec_in, dec_len)
        log_p = np.take_along_axis(log_softmax(logits.astype(np.float64)), dec_out[..., None],
                                   axis=-1)[..., 0]
        return np.where(tu.valid_mask(dec_len, *dec_out.shape), log_p, 0.0).sum(axis=0)

    def decode(self, src, *, src_lengths=None, beam_width=None, max_length=100,
               length_normalization=0.0, batch_size=256):
        r"""Write the output sequence of each source: greedily or by beam search.

        Greedy decoding takes the most likely token at every step. Beam search keeps the
        ``beam_width`` most likely partial sequences; a sequence that writes the end token
        while among the best ``beam_width`` candidates of its step is finished. The search of
        a source stops when it has ``beam_width`` finished sequences or when (without length
        normalisation) no partial sequence can still beat the best finished one. Every
        sequence ends with the end token: at step ``max_length`` the end token is written
        whatever its probability (as fairseq does), so that every score is that of a whole
        sequence. The result is the finished sequence of highest score

        .. math:: \frac{\log p(y \mid x)}{|y|^\alpha}

        with :math:`|y|` its number of tokens, the end token included, and :math:`\alpha`
        ``length_normalization`` (0: the most likely; 1: the highest mean log-probability per
        token). Beam search is a heuristic: a wider beam usually finds sequences at least as
        likely, but is not guaranteed to.

        Parameters
        ----------
        src : array_like of int, (N, S), or list of N sequences
        src_lengths : array_like of int, shape (N,), optional
        beam_width : int, optional
            None: greedy decoding; else beam search with this width (1 gives greedy's result).
        max_length : int, default 100
            Most tokens written per sequence, the end token included (written last, at the
            latest at this step).
        length_normalization : float >= 0, default 0.0
            :math:`\alpha` above (beam search only).
        batch_size : int, default 256
            Sources decoded together.

        Returns
        -------
        list of Decoded
            One per source: ``tokens`` (int64, without the end token), ``log_prob`` (sum of
            the log-probabilities of the tokens written, the end token's included: what
            :meth:`log_probability` gives for ``tokens``) and ``attention`` (one row of
            source weights per token written, the end token's included).
        """
        src, src_lengths = self._sources(src, src_lengths)
        max_length = check_int("max_length", max_length, 1)
        alpha = tu.check_float(length_normalization, "length_normalization", low=0.0)
        batch_size = check_int("batch_size", batch_size, 1)
        if beam_width is not None:
            beam_width = check_int("beam_width", beam_width, 1)
        results = []
        with self._evaluating():
            for begin in range(0, len(src), batch_size):
                rows = np.arange(begin, min(begin + batch_size, len(src)))
                src_b, src_len = self._source_batch(src, src_lengths, rows)
                keys, state, _ = self._encode(src_b, src_len)
                if beam_width is None:
                    results += self._greedy(keys, state, src_len, max_length)
                else:
                    results += self._beam(keys, state, src_len, max_length, beam_width, alpha)
        return results

    def _greedy(self, keys, state, src_lengths, max_length):
        batch = keys.shape[1]
        tokens = np.full(batch, self.start_token)
        written, weights = [], []
        log_probs = np.zeros(batch)
        running = np.ones(batch, dtype=bool)
        for t in range(max_length):
            step_log_probs, state, step_weights = self._step(tokens, state, keys, src_lengths)
            tokens = np.argmax(step_log_probs, axis=1)
            if t == max_length - 1:
                tokens[:] = self.end_token
            written.append(np.where(running, tokens, -1))
            # Summed step by step, as beam search sums, so that both give the same bits.
            log_probs += np.where(running, step_log_probs[np.arange(batch), tokens], 0.0)
            weights.append(step_weights)
            running &= tokens != self.end_token
            if not running.any():
                break
        written = np.array(written)
        results = []
        for b in range(batch):
            steps = int(np.sum(written[:, b] >= 0))
            results.append(Decoded(written[:steps - 1, b], float(log_probs[b]),
                                   np.array([w[b, :src_lengths[b]] for w in weights[:steps]])))
        return results

    def _beam(self, keys, state, src_lengths, max_length, width, alpha):
        batch, vocab = keys.shape[1], self.tgt_vocab_size
        expand = np.repeat(np.arange(batch), width)
        keys, src_lengths = keys[:, expand], src_lengths[expand]
        state = _take_state(state, expand)
        tokens = np.full(batch * width, self.start_token)
        scores = np.full((batch, width), -np.inf)
        scores[:, 0] = 0.0
        finished = [[] for _ in range(batch)]      # (normalised score, log p, step, slot)
        parents, chosen, weights = [], [], []
        done = np.zeros(batch, dtype=bool)
        candidates = min(2 * width, width * vocab)
        for t in range(max_length):
            log_probs, state, step_weights = self._step(tokens, state, keys, src_lengths)
            weights.append(step_weights.reshape(batch, width, -1))
            if t == max_length - 1:       # the last token is the end token
                log_probs = np.where(np.arange(vocab) == self.end_token, log_probs, -np.inf)
            total = (scores.reshape(-1, 1) + log_probs).reshape(batch, width * vocab)
            top = np.argpartition(-total, candidates - 1, axis=1)[:, :candidates]
            top = np.take_along_axis(top, np.argsort(-np.take_along_axis(total, top, 1), 1,
                                                     kind="stable"), 1)
            scores = np.full((batch, width), -np.inf)
            parent = np.zeros((batch, width), dtype=np.int64)
            token = np.full((batch, width), self.end_token)
            for b in np.flatnonzero(~done):
                alive = 0
                for rank, index in enumerate(top[b]):
                    score = total[b, index]
                    if score == -np.inf:
                        break
                    slot, word = divmod(int(index), vocab)
                    if word == self.end_token:
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


def _check_token(name, value, vocab_size):
    value = check_int(name, value, 0)
    if value >= vocab_size:
        raise ValueError(f"{name} must lie in [0, {vocab_size - 1}] (tgt_vocab_size="
                         f"{vocab_size}), got {value}")
    return value


def _padded_ids(seqs, lengths, vocab_size, name, lengths_name, shortest):
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
        padded = np.asarray(tu.to_numpy(seqs))
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


def _run(layer, x, hx, lengths):
    """A recurrent layer over time-major ``x``, returning a time-major output."""
    output, h_n = layer(tu.swap_batch_time(x, layer.batch_first), hx=hx, lengths=lengths)
    return tu.swap_batch_time(output, layer.batch_first), h_n


def _backward(layer, grad_output, grad_hn):
    """``layer.backward`` for time-major gradients; returns a time-major ``grad_x``."""
    grad_x, grad_hx = layer.backward(tu.swap_batch_time(grad_output, layer.batch_first),
                                     grad_hn)
    return tu.swap_batch_time(grad_x, layer.batch_first), grad_hx


def _take_state(state, rows):
    """The recurrent state (L, B, H), or an LSTM's pair, of the batch rows ``rows``."""
    if isinstance(state, tuple):
        return tuple(np.ascontiguousarray(s[:, rows]) for s in state)
    return np.ascontiguousarray(state[:, rows])
