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

from numrnn import _trainutil as tu
from numrnn._docs import fill_doc
from numrnn._seq2seq import data, decoding, network, training
from numrnn._seq2seq.decoding import Decoded  # noqa: F401  (decode's results, pickled from here)
from numrnn._seq2seq.group import ComponentGroup
from numrnn._training.build import resolve_optimizer
from numrnn._validation import check_choice, check_int
from numrnn.losses import CrossEntropyLoss

__all__ = ["Seq2Seq"]


class Seq2Seq(ComponentGroup):
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
        network.check_layers(encoder, decoder)
        self.src_vocab_size = check_int(src_vocab_size, "src_vocab_size", 1)
        self.tgt_vocab_size = check_int(tgt_vocab_size, "tgt_vocab_size", 2)
        self.start_token = data.check_token("start_token", start_token, self.tgt_vocab_size)
        self.end_token = data.check_token("end_token", end_token, self.tgt_vocab_size)
        self.attention_score = check_choice(attention, "attention", network.SCORES)
        self.seed = seed
        self.dtype = encoder.dtype
        network.add_components(self, encoder, decoder, attention_size, src_padding_idx,
                               tgt_padding_idx)
        self.loss = CrossEntropyLoss()
        self.optimizer = resolve_optimizer(optimizer)
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

    # -- training (numrnn._seq2seq.training) ----------------------------------------------

    @fill_doc
    def train_batch(self, src, tgt, *, src_lengths=None, tgt_lengths=None, teacher_forcing=1.0,
                    seed=None):
        """Forward and backward on one batch: returns the loss and fills ``grads``.

        Parameters
        ----------
        %(seq2seq_data)s
        teacher_forcing : float in [0, 1], default 1.0
            Probability of reading the true previous token (else the model's own).
        seed : int or None
            Seed of the teacher-forcing draws.

        Returns
        -------
        float
            Mean cross-entropy per target token.
        """
        return training.train_batch(self, src, tgt, src_lengths, tgt_lengths, teacher_forcing,
                                    seed)

    @fill_doc
    def fit(self, src, tgt, *, src_lengths=None, tgt_lengths=None, epochs=10, batch_size=32,
            teacher_forcing=1.0, shuffle=True, seed=None, clip_norm=None, clip_value=None,
            schedule=None, schedule_interval="epoch", progress=True):
        """Train with shuffled mini-batches and teacher forcing; fills ``history_``.

        Parameters
        ----------
        %(seq2seq_data)s
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

        %(returns_self)s

        Raises
        ------
        ValueError, TypeError
            For data of the wrong shape or type and invalid settings, naming the argument.
        """
        return training.fit(
            self, src, tgt, src_lengths=src_lengths, tgt_lengths=tgt_lengths, epochs=epochs,
            batch_size=batch_size, teacher_forcing=teacher_forcing, shuffle=shuffle, seed=seed,
            clip_norm=clip_norm, clip_value=clip_value, schedule=schedule,
            schedule_interval=schedule_interval, progress=progress)

    # -- decoding (numrnn._seq2seq.decoding) ----------------------------------------------

    @fill_doc
    def log_probability(self, src, tgt, *, src_lengths=None, tgt_lengths=None):
        r"""Log-probability of each target sequence, its end token included, under the model.

        .. math:: \log p(y \mid x) = \sum_{t=1}^{n+1} \log p(y_t \mid y_{<t}, x),
                  \qquad y_{n+1} = \text{end token}

        Parameters
        ----------
        %(seq2seq_data)s

        Returns
        -------
        ndarray of float64, shape (N,)
        """
        return decoding.log_probability(self, src, tgt, src_lengths, tgt_lengths)

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
        token). Beam search is a heuristic that can prune the greedy path, so the greedy
        sequence stays a candidate: a beam never returns a sequence that scores worse than
        greedy decoding's (by the same normalised score). Between two widths above 1 a wider
        beam usually finds sequences at least as likely, but is not guaranteed to.

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
        return decoding.decode(self, src, src_lengths, beam_width, max_length,
                               length_normalization, batch_size)
