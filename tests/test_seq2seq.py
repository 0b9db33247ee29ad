"""Embedding, attention and the encoder-decoder: against PyTorch, finite differences, decoding."""

import numpy as np
import pytest
from apps_backends import FASTEST
from parity import import_torch
from train_helpers import numerical_gradient

import numrnn
from numrnn import BahdanauAttention, Embedding, LuongAttention, Seq2Seq

# -- Embedding --------------------------------------------------------------------------------

@pytest.mark.parametrize("padding_idx", [None, 2, -1])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_embedding_equals_torch(rng, padding_idx, dtype):
    torch = import_torch()
    vocab, dim = 7, 4
    ours = Embedding(vocab, dim, padding_idx=padding_idx, dtype=dtype, seed=int(rng.integers(99)))
    theirs = torch.nn.Embedding(vocab, dim, padding_idx=padding_idx, dtype=torch.float64)
    if padding_idx is not None:   # both initialise the padding row to zeros
        assert not ours.state_dict()["weight"][padding_idx].any()
    theirs.load_state_dict({"weight": torch.from_numpy(ours.state_dict()["weight"])})
    ids = rng.integers(0, vocab, size=(5, 3))
    ids[0, :] = 1                      # repeated ids add up
    ids[1, 0] = vocab - 1
    saved = ids.copy()
    out = ours(ids)
    expected = theirs(torch.from_numpy(ids))
    grad = rng.normal(size=out.shape)
    expected.backward(torch.from_numpy(grad))
    ours.backward(grad)
    tolerance = 1e-6 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(out, expected.detach().numpy(), rtol=tolerance)
    np.testing.assert_allclose(ours.grads["weight"], theirs.weight.grad.numpy(), rtol=tolerance,
                               atol=tolerance)
    assert out.dtype == dtype and np.array_equal(ids, saved)


def test_embedding_padding_row_stays_zero_under_training():
    emb = Embedding(4, 3, padding_idx=0, dtype=np.float64, seed=0)
    optimizer = numrnn.AdamW(lr=0.1, weight_decay=0.1)
    for _ in range(3):
        out = emb(np.array([[0, 1], [0, 3]]))
        emb.backward(np.ones_like(out))
        optimizer.step(emb.parameters(), emb.grads)
    assert not emb.state_dict()["weight"][0].any()
    assert emb.state_dict()["weight"][1:].any()


def test_embedding_errors():
    emb = Embedding(4, 3)
    with pytest.raises(TypeError, match="ids must hold integers, got dtype float64"):
        emb(np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match=r"ids must lie in \[0, 3\].*got values in \[-1, 2\]"):
        emb(np.array([-1, 2]))
    with pytest.raises(ValueError, match=r"\[0, 3\].*got values in \[0, 4\]"):
        emb(np.array([[0], [4]]))
    with pytest.raises(ValueError, match="padding_idx must lie in"):
        Embedding(4, 3, padding_idx=4)
    with pytest.raises(RuntimeError, match="before forward"):
        Embedding(4, 3).backward(np.ones((1, 3)))
    emb(np.array([1, 2]))
    with pytest.raises(ValueError, match=r"grad_output must have shape \(2, 3\)"):
        emb.backward(np.ones((3, 3)))
    with pytest.raises(ValueError, match="state_dict does not match Embedding"):
        emb.load_state_dict({"weights": np.zeros((4, 3))})


# -- Attention ----------------------------------------------------------------------------------

def torch_attention(kind, params, query, keys, lengths):
    """The equations of each score, written with torch operations: (context, weights)."""
    torch = import_torch()
    q, k = query.transpose(0, 1), keys.transpose(0, 1)             # (B, T, Hq), (B, S, Hk)
    if kind == "dot":
        scores = q @ k.transpose(1, 2)
    elif kind == "general":
        scores = q @ params["weight"] @ k.transpose(1, 2)
    else:
        hidden = torch.tanh((q @ params["query_weight"].T)[:, :, None]
                            + (k @ params["key_weight"].T + params["bias"])[:, None])
        scores = hidden @ params["score_weight"]
    valid = torch.arange(k.shape[1])[None, None, :] < torch.from_numpy(lengths)[:, None, None]
    weights = torch.softmax(scores.masked_fill(~valid, -torch.inf), dim=-1)
    return (weights @ k).transpose(0, 1), weights.transpose(0, 1)


def make_attention(kind, query_size, key_size, **options):
    if kind == "additive":
        return BahdanauAttention(query_size, key_size, attention_size=5, dtype=np.float64,
                                 seed=1, **options)
    return LuongAttention(query_size, key_size, score=kind, dtype=np.float64, seed=1, **options)


@pytest.mark.parametrize("kind", ["dot", "general", "additive"])
@pytest.mark.parametrize("steps", [1, 3])
def test_attention_equals_torch(rng, kind, steps):
    torch = import_torch()
    S, B, Hq = 5, 4, 3
    Hk = Hq if kind == "dot" else 6
    attention = make_attention(kind, Hq, Hk)
    query, keys = rng.normal(size=(steps, B, Hq)), rng.normal(size=(S, B, Hk))
    lengths = np.array([5, 1, 3, 2])
    saved = query.copy(), keys.copy()
    context, weights = attention(query, keys, lengths)
    grad_context, grad_weights = rng.normal(size=context.shape), rng.normal(size=weights.shape)
    grad_query, grad_keys = attention.backward(grad_context, grad_weights)

    params = {n: torch.tensor(v, requires_grad=True) for n, v in attention.state_dict().items()}
    tq, tk = torch.tensor(query, requires_grad=True), torch.tensor(keys, requires_grad=True)
    t_context, t_weights = torch_attention(kind, params, tq, tk, lengths)
    (torch.sum(t_context * torch.from_numpy(grad_context))
     + torch.sum(t_weights * torch.from_numpy(grad_weights))).backward()
    for ours, theirs in ((context, t_context), (weights, t_weights), (grad_query, tq.grad),
                         (grad_keys, tk.grad)):
        np.testing.assert_allclose(ours, theirs.detach().numpy(), rtol=1e-10, atol=1e-12)
    assert sorted(attention.grads) == sorted(params)
    for name, value in params.items():
        np.testing.assert_allclose(attention.grads[name], value.grad.numpy(), rtol=1e-10,
                                   atol=1e-12, err_msg=name)
    assert np.all(weights[:, 1, 1:] == 0) and np.all(grad_keys[3:, 3] == 0)
    assert np.array_equal(query, saved[0]) and np.array_equal(keys, saved[1])


@pytest.mark.parametrize("kind", ["dot", "general", "additive"])
def test_attention_layouts_agree(rng, kind):
    """batch_first and one query per sequence (B, H) give the time-major results, rearranged."""
    S, B, H = 4, 3, 5
    query, keys = rng.normal(size=(1, B, H)), rng.normal(size=(S, B, H))
    lengths = np.array([2, 4, 1])
    time_major = make_attention(kind, H, H)
    context, weights = time_major(query, keys, lengths)
    grads = time_major.backward(np.ones_like(context))
    one_step = make_attention(kind, H, H)
    c1, w1 = one_step(query[0], keys, lengths)
    g1 = one_step.backward(np.ones_like(c1))
    batch_first = make_attention(kind, H, H, batch_first=True)
    c2, w2 = batch_first(query.swapaxes(0, 1), keys.swapaxes(0, 1), lengths)
    g2 = batch_first.backward(np.ones_like(c2))
    np.testing.assert_allclose(c1, context[0], atol=1e-14)
    np.testing.assert_allclose(w2.swapaxes(0, 1), weights, atol=1e-14)
    np.testing.assert_allclose(g1[0], grads[0][0], atol=1e-14)
    np.testing.assert_allclose(g2[1].swapaxes(0, 1), grads[1], atol=1e-14)


def test_attention_errors():
    with pytest.raises(ValueError, match="score='dot' needs query_size == key_size"):
        LuongAttention(3, 4, score="dot")
    with pytest.raises(ValueError, match="score must be one of"):
        LuongAttention(3, 4, score="concat")
    attention = LuongAttention(3, 4)
    keys = np.zeros((5, 2, 4))
    with pytest.raises(ValueError, match=r"query must be .* B=2 .*got shape \(2, 2, 4\)"):
        attention(np.zeros((2, 2, 4)), keys)
    with pytest.raises(ValueError, match=r"keys must be \(S, B, 4\)"):
        attention(np.zeros((2, 3)), np.zeros((5, 2, 3)))
    with pytest.raises(ValueError, match=r"lengths must lie in \[1, 5\]"):
        attention(np.zeros((2, 3)), keys, lengths=np.array([0, 5]))
    with pytest.raises(RuntimeError, match="before forward"):
        LuongAttention(3, 4).backward(np.zeros((2, 4)))


# -- Encoder-decoder ----------------------------------------------------------------------------

SRC_VOCAB, TGT_VOCAB = 6, 5


def small_model(encoder_cell="GRU", decoder_cell="GRU", attention="general", *, backend="numpy",
                dtype=np.float64, bidirectional=False, encoder_options=None, hidden=4, seed=0):
    encoder = getattr(numrnn, encoder_cell)(3, hidden, bidirectional=bidirectional,
                                           dtype=dtype, backend=backend, seed=seed,
                                           **(encoder_options or {}))
    key_size = (2 if bidirectional else 1) * hidden
    decoder = getattr(numrnn, decoder_cell)(2, key_size if attention == "dot" else hidden,
                                           num_layers=2, dtype=dtype, backend=backend,
                                           seed=seed + 1)
    return Seq2Seq(encoder, decoder, src_vocab_size=SRC_VOCAB, tgt_vocab_size=TGT_VOCAB,
                   start_token=0, end_token=1, attention=attention, attention_size=3,
                   src_padding_idx=0, seed=seed)


def random_batch(rng, batch=3, src_steps=4, tgt_steps=3):
    src = rng.integers(0, SRC_VOCAB, size=(batch, src_steps))
    tgt = rng.integers(0, TGT_VOCAB, size=(batch, tgt_steps))
    src_lengths = np.array([src_steps, 1, 2, 3][:batch])
    tgt_lengths = np.array([tgt_steps, 0, 2, 1][:batch])
    return src, tgt, src_lengths, tgt_lengths


@pytest.mark.parametrize("cells, attention, bidirectional, encoder_options", [
    (("GRU", "GRU"), "general", True, {}),
    (("LSTM", "GRU"), "dot", False, {}),
    (("GRU", "LSTM"), "additive", True, {}),
    (("RNN", "LSTM"), "general", False, {}),
    (("LSTM", "RNN"), "general", True, {"proj_size": 2}),
])
def test_seq2seq_gradients_by_finite_differences(rng, cells, attention, bidirectional,
                                                 encoder_options):
    model = small_model(*cells, attention, bidirectional=bidirectional,
                        encoder_options=encoder_options)
    src, tgt, src_lengths, tgt_lengths = random_batch(rng)
    model.train_batch(src, tgt, src_lengths=src_lengths, tgt_lengths=tgt_lengths)
    grads = {k: v.copy() for k, v in model.grads.items()}
    params = model.parameters()
    assert sorted(grads) == sorted(params)

    def loss(_):
        model.parameters()            # marks the recurrent layers' parameters as changed
        return model.train_batch(src, tgt, src_lengths=src_lengths, tgt_lengths=tgt_lengths)

    for name, value in params.items():
        expected = numerical_gradient(loss, value)
        if name == "src_embedding.weight":   # the padding row gets no gradient, by design
            assert not grads[name][0].any()
            grads[name], expected = grads[name][1:], expected[1:]
        np.testing.assert_allclose(grads[name], expected, rtol=1e-5, atol=1e-8, err_msg=name)


def test_seq2seq_gradients_on_the_compiled_backend(rng):
    """The same check on the fastest backend, for the parameters of each component."""
    model = small_model("LSTM", "GRU", "additive", backend=FASTEST, bidirectional=True,
                        encoder_options={"batch_first": True})
    src, tgt, src_lengths, tgt_lengths = random_batch(rng)
    model.train_batch(src, tgt, src_lengths=src_lengths, tgt_lengths=tgt_lengths)
    grads = {k: v.copy() for k, v in model.grads.items()}

    def loss(_):
        model.parameters()
        return model.train_batch(src, tgt, src_lengths=src_lengths, tgt_lengths=tgt_lengths)

    for name in ("encoder.weight_ih_l0_reverse", "bridge.weight", "decoder.weight_hh_l1",
                 "attention.key_weight", "tgt_embedding.weight"):
        np.testing.assert_allclose(grads[name], numerical_gradient(loss, model.parameters()[name]),
                                   rtol=1e-5, atol=1e-8, err_msg=name)


def test_scheduled_sampling_feeds_the_model_its_own_tokens(rng):
    """With teacher_forcing=0 the decoder reads its greedy tokens; the gradient is that of the
    teacher-forced pass on those tokens."""
    model = small_model()
    src, tgt, src_lengths, _ = random_batch(rng)
    tgt = np.full((3, 4), 2)
    greedy = model.decode(src, src_lengths=src_lengths)
    model.train_batch(src, tgt, src_lengths=src_lengths, teacher_forcing=0.0)
    fed_back = model.grads
    for row, decoded in enumerate(greedy):
        if len(decoded.tokens) < 4:
            continue   # the greedy sequence ended, then its later inputs differ
        inputs = model.tgt_embedding._ids[1:, row]
        np.testing.assert_array_equal(inputs, decoded.tokens[:4])
    model.train_batch(src, tgt, src_lengths=src_lengths, teacher_forcing=1.0)
    assert not np.allclose(fed_back["head.weight"], model.grads["head.weight"])


def peaked_random_model(seed):
    """An untrained model whose larger weights make peaked, varied distributions, so that
    beams of different widths find different sequences."""
    model = small_model("GRU", "LSTM", "additive", dtype=np.float64, hidden=6, seed=seed)
    for value in model.parameters().values():
        value *= 3.0
    model.parameters()
    return model


def decode_widths(model, src, lengths, widths):
    return {width: model.decode(src, src_lengths=lengths, beam_width=width, max_length=8)
            for width in widths}


def test_beam_width_one_is_greedy_decoding(rng):
    model = peaked_random_model(int(rng.integers(1000)))
    src = rng.integers(0, SRC_VOCAB, size=(40, 5))
    lengths = rng.integers(1, 6, size=40)
    decoded = decode_widths(model, src, lengths, (None, 1))
    for g, b in zip(decoded[None], decoded[1], strict=True):
        np.testing.assert_array_equal(g.tokens, b.tokens)
        assert g.log_prob == b.log_prob
        np.testing.assert_array_equal(g.attention, b.attention)


def test_wider_beams_score_no_worse():
    """A wider beam finds sequences at least as likely as a narrower one, on fixed draws.

    Beam search is a heuristic, so this is not a theorem: with fresh draws of these peaked
    random models, 1 of 100 runs (of 120 sources each, measured) held a source where width 2
    pruned the greedy path and ended lower. The date example counts the same on its trained
    model.
    """
    rng = np.random.default_rng(0)
    improved = 0
    for seed in range(3):
        model = peaked_random_model(seed)
        src = rng.integers(0, SRC_VOCAB, size=(40, 5))
        lengths = rng.integers(1, 6, size=40)
        beams = decode_widths(model, src, lengths, (1, 2, 3, 5, 8))
        widths = list(beams)
        for narrow, wide in zip(widths[:-1], widths[1:], strict=True):
            assert all(w.log_prob >= n.log_prob - 1e-12
                       for n, w in zip(beams[narrow], beams[wide], strict=True))
        improved += sum(w.log_prob > g.log_prob + 1e-6
                        for g, w in zip(beams[1], beams[8], strict=True))
    assert improved   # not vacuous: wide beams beat greedy decoding somewhere


def test_decoded_scores_are_the_model_probabilities(rng):
    """Step-by-step decoding and the whole-sequence forward give the same log-probabilities,
    for sequences the model ended and sequences that max_length ended."""
    model = small_model("LSTM", "GRU", "general", bidirectional=True)
    src = rng.integers(0, SRC_VOCAB, size=(12, 4))
    lengths = rng.integers(1, 5, size=12)
    for end_bias, ended_by in ((-3.0, "max_length"), (6.0, "model")):
        model.head.parameters()["bias"][1] += end_bias     # the end token: rare, or likely
        for width in (None, 3):
            decoded = model.decode(src, src_lengths=lengths, beam_width=width, max_length=4)
            expected = model.log_probability(src, [d.tokens for d in decoded],
                                             src_lengths=lengths)
            np.testing.assert_allclose([d.log_prob for d in decoded], expected, rtol=1e-10)
            if ended_by == "max_length":
                assert any(len(d.tokens) == 3 for d in decoded)
            else:
                assert all(len(d.tokens) < 3 for d in decoded)
            for d, length in zip(decoded, lengths, strict=True):
                assert d.attention.shape == (len(d.tokens) + 1, length)
                np.testing.assert_allclose(d.attention.sum(axis=1), 1.0)
        model.head.parameters()["bias"][1] -= end_bias


def test_length_normalization_prefers_longer_sequences(rng):
    model = small_model(seed=2)
    src = rng.integers(0, SRC_VOCAB, size=(30, 4))
    plain = model.decode(src, beam_width=4, max_length=6)
    normalised = model.decode(src, beam_width=4, max_length=6, length_normalization=1.0)
    assert (sum(len(d.tokens) for d in normalised) >= sum(len(d.tokens) for d in plain))


def test_fit_learns_to_reverse_with_the_training_tools(tmp_path):
    rng = np.random.default_rng(0)
    src = [rng.integers(2, 6, size=n) for n in rng.integers(1, 6, size=300)]
    tgt = [s[::-1] for s in src]
    encoder = numrnn.GRU(8, 16, bidirectional=True, backend=FASTEST, seed=0)
    decoder = numrnn.LSTM(8, 16, backend=FASTEST, seed=1)
    model = Seq2Seq(encoder, decoder, src_vocab_size=6, tgt_vocab_size=6, start_token=0,
                    end_token=1, optimizer=numrnn.Adam(lr=0.02), seed=0)
    schedule = numrnn.StepLR(model.optimizer, step_size=20, gamma=0.5)
    model.fit(src, tgt, epochs=30, batch_size=32, seed=0, clip_norm=1.0, schedule=schedule,
              teacher_forcing=0.9, progress=True)
    assert model.history_["loss"][-1] < 0.05 * model.history_["loss"][0]
    assert model.history_["lr"][-1] == pytest.approx(0.01)
    test = [rng.integers(2, 6, size=n) for n in (1, 3, 5)]
    for width in (None, 3):
        decoded = model.decode(test, beam_width=width)
        assert [d.tokens.tolist() for d in decoded] == [s[::-1].tolist() for s in test]

    path = tmp_path / "seq2seq.npz"
    numrnn.save(path, model)
    loaded = numrnn.load(path)
    assert isinstance(loaded, Seq2Seq) and not loaded.decoder.training
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(loaded.state_dict()[key], value)
    assert loaded.get_config() == model.get_config()
    np.testing.assert_array_equal(loaded.log_probability(test, [s[::-1] for s in test]),
                                  model.log_probability(test, [s[::-1] for s in test]))
    loaded.fit(src[:32], tgt[:32], epochs=1, progress=False)   # training resumes


def test_seq2seq_errors():
    gru = numrnn.GRU(3, 4, backend="numpy")
    options = {"src_vocab_size": 5, "tgt_vocab_size": 5, "start_token": 0, "end_token": 1}
    with pytest.raises(TypeError, match="encoder must be a numrnn RNN, LSTM or GRU"):
        Seq2Seq("gru", gru, **options)
    with pytest.raises(ValueError, match="decoder must be unidirectional"):
        Seq2Seq(gru, numrnn.GRU(3, 4, bidirectional=True, backend="numpy"), **options)
    with pytest.raises(ValueError, match=r"end_token must lie in \[0, 4\]"):
        Seq2Seq(gru, gru, **{**options, "end_token": 5})
    with pytest.raises(ValueError, match="score='dot' needs query_size == key_size"):
        Seq2Seq(numrnn.GRU(3, 4, bidirectional=True, backend="numpy"), gru, attention="dot",
                **options)
    model = Seq2Seq(gru, numrnn.GRU(3, 4, backend="numpy"), **options)
    with pytest.raises(ValueError, match=r"src must lie in \[0, 4\]"):
        model.decode(np.array([[1, 5]]))
    with pytest.raises(TypeError, match="src must hold integers"):
        model.decode(np.array([[1.0, 2.0]]))
    with pytest.raises(ValueError, match=r"src_lengths must lie in \[1, 2\]"):
        model.decode(np.array([[1, 2]]), src_lengths=np.array([0]))
    with pytest.raises(ValueError, match="tgt must have one sequence per source"):
        model.train_batch(np.array([[1, 2]]), np.array([[1], [2]]))
    with pytest.raises(ValueError, match="teacher_forcing must be a finite number in"):
        model.fit([[1, 2]], [[1]], teacher_forcing=1.5, progress=False)
    with pytest.raises(ValueError, match="state_dict does not match Seq2Seq"):
        model.load_state_dict({})
