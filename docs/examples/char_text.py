"""Character-level text generation on the Jargon File (public domain).

A :class:`~numrnn.text.CharLanguageModel` (LSTM) learns the introduction of the Jargon File
4.4.7 (shipped in :mod:`numrnn.datasets`) character by character and is scored in bits per
character on held-out text from its end. The baseline is the best model that ignores
context: each character's frequency in the training text. The model then writes a sample.

Run ``python docs/examples/char_text.py`` (full) or with ``--fast``.
"""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from _common import parse_args, save  # noqa: E402

from numrnn.datasets import load_jargon  # noqa: E402
from numrnn.text import CharLanguageModel  # noqa: E402


def unigram_bits(train, test):
    """Bits per character of ``test`` under the character frequencies of ``train``."""
    chars, counts = np.unique(list(train), return_counts=True)
    frequency = dict(zip(chars, counts / counts.sum(), strict=True))
    return float(-np.mean([np.log2(frequency[c]) for c in test]))


def main(argv=None):
    """Train, score and sample; return the bits per character of model and baseline."""
    args = parse_args(__doc__.splitlines()[0], argv)
    text = load_jargon()
    if args.fast:
        train, test = text[:20000], text[-3000:]
        hidden, seq_length, batch_size, epochs, learning_rate = 64, 32, 16, 10, 0.02
    else:
        train, test = text[:-8000], text[-8000:]
        hidden, seq_length, batch_size, epochs, learning_rate = 128, 64, 16, 15, 0.01
    # The held-out text may hold a character the training text lacks; score what is known.
    test = "".join(c for c in test if c in set(train))
    model = CharLanguageModel(cell="lstm", hidden_size=hidden, seq_length=seq_length,
                              epochs=epochs, batch_size=batch_size,
                              learning_rate=learning_rate, backend=args.backend, seed=0)
    model.fit(train)
    bits = model.bits_per_character(test)
    baseline = unigram_bits(train, test)
    sample = model.sample(300, prompt="The hacker ", temperature=0.7, seed=0)
    print(f"held-out bits per character: LSTM {bits:.3f}, character frequencies "
          f"{baseline:.3f} ({len(train)} training characters, hidden {hidden}, "
          f"{epochs} epochs)")
    print("sample (temperature 0.7):")
    print(sample)

    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    curve = np.array(model.loss_curve_) / np.log(2)
    ax.plot(np.arange(1, epochs + 1), curve, marker="o", label="training")
    ax.axhline(bits, color="C1", label=f"held-out, after training ({bits:.2f})")
    ax.axhline(baseline, color="gray", linestyle="--",
               label=f"character frequencies ({baseline:.2f})")
    ax.set(xlabel="epoch", ylabel="bits per character", title="Jargon File, character LSTM")
    ax.legend()
    fig.tight_layout()
    return save(fig, {"bits": bits, "baseline": baseline, "sample": sample}, args.out,
                "char_text")


if __name__ == "__main__":
    main()
