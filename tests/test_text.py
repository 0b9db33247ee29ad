"""CharVocabulary and CharLanguageModel: encoding, learning, bits per character, sampling."""

import pickle

import numpy as np
import pytest
from apps_backends import FASTEST, HOST_BACKENDS

from numrnn.text import CharLanguageModel, CharVocabulary

TEXT = "the cat sat on the mat. " * 12


@pytest.fixture(scope="module")
def model():
    return CharLanguageModel(hidden_size=24, seq_length=12, epochs=40, batch_size=8,
                             learning_rate=0.02, backend=FASTEST, seed=0).fit(TEXT)


def test_vocabulary_round_trip():
    vocab = CharVocabulary.from_text("banana!")
    assert vocab.chars == ["!", "a", "b", "n"] and len(vocab) == 4
    codes = vocab.encode("nab!")
    assert codes.tolist() == [3, 1, 2, 0] and vocab.decode(codes) == "nab!"
    assert vocab.one_hot(codes).shape == (4, 4)
    with pytest.raises(ValueError, match=r"prompt .*\['x', 'z'\]"):
        vocab.encode("zax", name="prompt")
    with pytest.raises(TypeError, match="text"):
        CharVocabulary.from_text(b"bytes")
    with pytest.raises(ValueError, match="text"):
        CharVocabulary.from_text("")


@pytest.mark.parametrize("backend", HOST_BACKENDS)
def test_learns_a_repetitive_text(backend):
    lm = CharLanguageModel(hidden_size=24, seq_length=12, epochs=40, batch_size=8,
                           learning_rate=0.02, backend=backend, seed=0).fit(TEXT)
    assert lm.loss_curve_[-1] < 0.5 * lm.loss_curve_[0]
    assert lm.bits_per_character(TEXT[:100]) < 1.0


def test_bits_per_character_matches_one_pass(model):
    # Streamed in chunks of 1024 characters, scored as if read in one pass.
    text = TEXT * 5
    codes = model.vocabulary_.encode(text)
    proba = model.model_.predict(model.vocabulary_.one_hot(codes[:-1])[None])[0]
    expected = -np.mean(np.log2(proba[np.arange(len(codes) - 1), codes[1:]]))
    assert len(text) > 1024
    assert model.bits_per_character(text) == pytest.approx(expected, rel=1e-5)


def test_sampling(model):
    a = model.sample(40, prompt="the ", seed=1)
    assert a.startswith("the ") and len(a) == 44
    assert a == model.sample(40, prompt="the ", seed=1)
    assert set(a) <= set(TEXT)
    # top_k=1 is greedy: the same text whatever the seed.
    greedy = [model.sample(30, prompt="the c", top_k=1, seed=s) for s in range(3)]
    assert greedy[0] == greedy[1] == greedy[2]
    assert greedy[0].startswith("the cat sat")
    # A very high temperature flattens the distribution: the text stops following TEXT.
    hot = model.sample(200, temperature=50.0, seed=0)
    assert "the cat sat" not in hot
    assert len(model.sample(5)) == 5


def test_same_seed_same_model():
    kwargs = {"hidden_size": 8, "seq_length": 10, "epochs": 2, "backend": FASTEST}
    a = CharLanguageModel(seed=3, **kwargs).fit(TEXT)
    b = CharLanguageModel(seed=3, **kwargs).fit(TEXT)
    c = CharLanguageModel(seed=4, **kwargs).fit(TEXT)
    assert a.loss_curve_ == b.loss_curve_ != c.loss_curve_
    assert a.bits_per_character(TEXT) == b.bits_per_character(TEXT)


def test_bad_input(model):
    with pytest.raises(RuntimeError, match="fit"):
        CharLanguageModel().sample(3)
    with pytest.raises(TypeError, match="text"):
        CharLanguageModel().fit(["a", "b"])
    with pytest.raises(ValueError, match="seq_length"):
        CharLanguageModel(seq_length=64).fit("too short")
    with pytest.raises(ValueError, match="temperature"):
        model.sample(5, temperature=0)
    with pytest.raises(ValueError, match="top_k"):
        model.sample(5, top_k=0)
    with pytest.raises(ValueError, match="length"):
        model.sample(0)
    with pytest.raises(ValueError, match="prompt"):
        model.sample(5, prompt="DOG")
    with pytest.raises(ValueError, match="text"):
        model.bits_per_character("t")
    with pytest.raises(ValueError, match="text"):
        model.bits_per_character("the dog")


def test_pickle_round_trip(model):
    copy = pickle.loads(pickle.dumps(model))
    assert copy.sample(20, prompt="the", seed=5) == model.sample(20, prompt="the", seed=5)
    assert copy.bits_per_character(TEXT[:50]) == model.bits_per_character(TEXT[:50])
