"""Writing like the Jargon File
============================

A :class:`~numrnn.text.CharLanguageModel` (LSTM) learns Part I of the Jargon File 4.4.7 (public
domain; :func:`numrnn.datasets.load_jargon`) one character at a time and is scored in bits
per character on held-out text from the end of the file. The baseline predicts each
character by its frequency in the training text, ignoring context. The model then writes
300 characters after the prompt "The hacker " (temperature 0.7, seed 0).

=============================================================  ============  ===========
mode                                                           LSTM, bits    frequencies
=============================================================  ============  ===========
full (79,217 characters, 128 hidden units, 15 epochs)          **2.28**      4.03
fast (20,000 characters, 64 hidden units, 10 epochs)           2.70          4.41
=============================================================  ============  ===========

In fast mode the test checks that the model beats the baseline by more than one bit per
character.

.. image:: /_static/char_text.png
   :alt: Training bits per character per epoch, with the held-out result and the baseline.

The full-mode sample (its line breaks are the model's):

| The hacker slang is that the endard gut one sometrience to and the form beganch are verss
  hackers upars wroniting the term
| tends the tend that the style they oftan in the finsted that and viry conscious intends has
  enternal situsion (do-beging the style morgon' from the plural an
| logicly vocames by File is the

Run ``python char_text.py`` (full) or ``python char_text.py --fast``.
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

# sphinx_gallery_thumbnail_path = "_static/char_text.png"
