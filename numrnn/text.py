r"""Character-level language models: :class:`CharVocabulary`, :class:`CharLanguageModel`.

A recurrent network reads text one character at a time (one-hot) and predicts the next
character's distribution :math:`p(c_{t+1} \mid c_1, \dots, c_t)` with a softmax head on every
step. It is scored in bits per character,
:math:`-\frac1N \sum_t \log_2 p(c_{t+1} \mid c_{\le t})`, and generates text by sampling,
optionally sharpened by a temperature :math:`\tau` (:math:`p_i \propto
\exp(z_i/\tau)`) and restricted to the ``top_k`` most likely characters.
"""

import numpy as np

from numrnn._docs import fill_doc
from numrnn._seqnet import build_model, fit_seeded
from numrnn._sklearn_api import ParamsMixin
from numrnn._validation import check_float, check_int
from numrnn.activations import softmax
from numrnn.metrics import bits_per_character

__all__ = ["CharLanguageModel", "CharVocabulary"]


class CharVocabulary:
    """The characters of a text, numbered in sorted order.

    Parameters
    ----------
    chars : iterable of str
        The distinct characters.

    Attributes
    ----------
    chars : list of str
        Sorted; ``chars[i]`` has index ``i``.

    Examples
    --------
    >>> from numrnn.text import CharVocabulary
    >>> vocab = CharVocabulary.from_text("hello")
    >>> vocab.chars, vocab.encode("hole").tolist(), vocab.decode([3, 1])
    (['e', 'h', 'l', 'o'], [1, 3, 2, 0], 'oh')
    """

    def __init__(self, chars):
        self.chars = sorted(set(chars))
        if not self.chars or not all(isinstance(c, str) and len(c) == 1 for c in self.chars):
            raise ValueError("chars must be a non-empty collection of single characters")
        self._index = {c: i for i, c in enumerate(self.chars)}

    @classmethod
    def from_text(cls, text):
        """The vocabulary of the characters in ``text``.

        Parameters
        ----------
        text : str

        Returns
        -------
        CharVocabulary
        """
        return cls(_check_text("text", text))

    def __len__(self):
        return len(self.chars)

    def encode(self, text, name="text"):
        """Map the characters of ``text`` to their indices.

        Parameters
        ----------
        text : str
        name : str, default "text"
            Argument name for the error message.

        Returns
        -------
        ndarray of int64

        Raises
        ------
        ValueError
            Listing the characters not in the vocabulary.
        """
        unknown = sorted(set(text) - set(self._index))
        if unknown:
            raise ValueError(f"{name} holds characters not in the vocabulary: {unknown}")
        return np.array([self._index[c] for c in text], dtype=np.int64)

    def decode(self, indices):
        """The text of a sequence of indices.

        Parameters
        ----------
        indices : iterable of int

        Returns
        -------
        str
        """
        return "".join(self.chars[int(i)] for i in indices)

    def one_hot(self, indices, dtype=np.float32):
        """One-hot rows (..., len(self)) for integer ``indices`` (...).

        Parameters
        ----------
        indices : ndarray of int
        dtype : dtype, default float32

        Returns
        -------
        ndarray
        """
        return np.eye(len(self), dtype=dtype)[indices]


class CharLanguageModel(ParamsMixin):
    """A character-level recurrent language model.

    Parameters
    ----------
    cell : {"lstm", "gru", "rnn", "rnn_relu"}, default "lstm"
    hidden_size : int, default 128
    num_layers : int, default 1
    dropout : float, default 0.0
        Between stacked layers.
    seq_length : int, default 64
        Training sequences: the text is cut into pieces of ``seq_length + 1`` characters.
    optimizer : {"adam", "adamw", "sgd", "rmsprop"}, default "adam"
    learning_rate : float, default 0.005
    epochs : int, default 10
    batch_size : int, default 32
    clip_norm : float or None, default 1.0
    backend : {"auto", "numpy", "cpu", "cuda"}, default "auto"
    seed : int or None
        Seeds the weights and the order of training; the same seed and text give the same
        model.
    verbose : bool, default False
        Show a progress bar with the loss (if tqdm is installed).

    Attributes
    ----------
    vocabulary_ : CharVocabulary
    model_ : numrnn.model.Sequential
        The trained network: ``model_.layers`` is the recurrent layer and the head.
    loss_curve_ : list of float
        Mean training cross-entropy (nats per character) of each epoch.

    Examples
    --------
    >>> from numrnn.text import CharLanguageModel
    >>> model = CharLanguageModel(hidden_size=16, seq_length=8, epochs=60, batch_size=8,
    ...                           learning_rate=0.02, backend="numpy", seed=0)
    >>> model = model.fit("abc" * 48)
    >>> model.bits_per_character("abcabcabc") < 0.1
    True
    >>> model.sample(6, prompt="ab", temperature=0.5, seed=0)
    'abcabcab'
    """

    def __init__(self, cell="lstm", hidden_size=128, num_layers=1, dropout=0.0, seq_length=64,
                 optimizer="adam", learning_rate=0.005, epochs=10, batch_size=32,
                 clip_norm=1.0, backend="auto", seed=None, verbose=False):
        self._store_arguments(locals())

    @fill_doc
    def fit(self, text):
        """Train on ``text``.

        Parameters
        ----------
        text : str
            At least ``seq_length + 1`` characters.

        %(fit_returns)s
        """
        text = _check_text("text", text)
        seq_length = check_int(self.seq_length, "seq_length", 1)
        if len(text) < seq_length + 1:
            raise ValueError(f"text must have at least seq_length + 1 = {seq_length + 1} "
                             f"characters, got {len(text)}")
        self.vocabulary_ = CharVocabulary.from_text(text)
        codes = self.vocabulary_.encode(text)
        count = (len(codes) - 1) // seq_length
        # Piece i is characters i*L .. (i+1)*L; its targets are the same shifted by one.
        starts = np.arange(count)[:, None] * seq_length + np.arange(seq_length)
        inputs = self.vocabulary_.one_hot(codes[starts])
        targets = codes[starts + 1]
        vocab_size = len(self.vocabulary_)
        self.model_ = build_model(
            self.cell, vocab_size, self.hidden_size, vocab_size, num_layers=self.num_layers,
            dropout=self.dropout, last_step=False, loss="cross_entropy",
            optimizer=self.optimizer, learning_rate=self.learning_rate, backend=self.backend,
            seed=self.seed)
        self.loss_curve_ = fit_seeded(
            self.model_, inputs, targets, epochs=self.epochs, batch_size=self.batch_size,
            clip_norm=self.clip_norm, seed=self.seed, progress=self.verbose)
        return self

    def _check_fitted(self):
        if not hasattr(self, "model_"):
            raise RuntimeError("this CharLanguageModel is not fitted yet: call fit first")

    def _stream(self, codes):
        """Next-character probabilities (len(codes), V) after each of ``codes``.

        The state carries over from the previous call (see ``Sequential.stream``).
        """
        return self.model_.stream(self.vocabulary_.one_hot(codes)[None])[0].astype(np.float64)

    def _next_log_probabilities(self, codes):
        """Log-probabilities of the character after ``codes``, read in the stream."""
        with np.errstate(divide="ignore"):  # a probability rounded to 0 is log 0 = -inf
            return np.log(self._stream(np.asarray(codes))[-1])

    def bits_per_character(self, text):
        """Mean :math:`-\\log_2 p(c_{t+1} \\mid c_{\\le t})` over ``text``.

        The network reads ``text`` from its first character on, with the state carried
        through, and is scored on predicting characters 2 to N.

        Parameters
        ----------
        text : str
            At least 2 characters, all in ``vocabulary_``.

        Returns
        -------
        float
            Bits per character; lower is better, 0 a perfect prediction.

        Raises
        ------
        ValueError
            If ``text`` is too short or holds unknown characters.
        """
        self._check_fitted()
        text = _check_text("text", text)
        if len(text) < 2:
            raise ValueError(f"text must have at least 2 characters, got {len(text)}")
        codes = self.vocabulary_.encode(text)
        self.model_.reset_stream()
        # Chunks bound the memory of one forward call; the stream's state links them.
        probabilities = [self._stream(codes[start:min(start + 1024, len(codes) - 1)])
                         for start in range(0, len(codes) - 1, 1024)]
        return bits_per_character(codes[1:], np.concatenate(probabilities))

    def sample(self, length, prompt="", temperature=1.0, top_k=None, seed=None):
        """Generate text: the prompt followed by ``length`` sampled characters.

        Parameters
        ----------
        length : int
            Number of characters to generate.
        prompt : str, default ""
            Text the network reads first (characters from ``vocabulary_``); without it the
            first character is drawn uniformly and the network starts from a zero state.
        temperature : float, default 1.0
            > 0; below 1 sharpens the distribution, above 1 flattens it.
        top_k : int, optional
            Sample among the ``top_k`` most likely characters only.
        seed : int or None
            Seed of the sampling: the same seed gives the same text.

        Returns
        -------
        str
            ``prompt`` followed by the generated characters.

        Raises
        ------
        ValueError, TypeError
            Naming the argument that is wrong.
        """
        self._check_fitted()
        length = check_int(length, "length", 1)
        temperature = check_float(temperature, "temperature", low=0.0, low_open=True)
        if top_k is not None:
            top_k = min(check_int(top_k, "top_k", 1), len(self.vocabulary_))
        prompt = _check_text("prompt", prompt, allow_empty=True)
        codes = list(self.vocabulary_.encode(prompt, "prompt"))
        rng = np.random.default_rng(seed)
        self.model_.reset_stream()
        if codes:
            logits = self._next_log_probabilities(codes)
        else:
            logits = np.zeros(len(self.vocabulary_))
        generated = []
        for _ in range(length):
            z = logits / temperature
            if top_k is not None:
                z = np.where(z >= np.sort(z)[-top_k], z, -np.inf)
            code = int(rng.choice(len(z), p=softmax(z)))
            generated.append(code)
            logits = self._next_log_probabilities([code])
        return prompt + self.vocabulary_.decode(generated)


def _check_text(name, text, allow_empty=False):
    if not isinstance(text, str):
        raise TypeError(f"{name} must be a str, got {type(text).__name__}")
    if not text and not allow_empty:
        raise ValueError(f"{name} must not be empty")
    return text
