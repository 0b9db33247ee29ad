"""The network of :class:`~numrnn.seq2seq.Seq2Seq`: its components (:func:`add_components`)
and the passes through them, the equations of :mod:`numrnn.seq2seq`.

:func:`forward` runs the encoder, the bridge, the decoder over the whole (teacher-forced)
target sequence, the attention and the two dense layers on time-major token ids, and records
what :func:`backward` needs on the model's tape; :func:`step` runs the decoder one token at a
time for decoding.
"""

import numpy as np

from numrnn import _trainutil as tu
from numrnn._recurrent import RNN
from numrnn.activations import log_softmax
from numrnn.attention import BahdanauAttention, LuongAttention
from numrnn.embedding import Embedding
from numrnn.heads import Dense

__all__ = ["SCORES", "add_components", "backward", "check_layers", "encode", "forward", "step"]

#: Score functions by name: attention class and its keyword arguments.
SCORES = {"dot": (LuongAttention, {"score": "dot"}),
          "general": (LuongAttention, {"score": "general"}),
          "additive": (BahdanauAttention, {})}


def check_layers(encoder, decoder):
    """Refuse an encoder or decoder that is no recurrent layer, a bidirectional decoder and
    two dtypes."""
    for name, layer in (("encoder", encoder), ("decoder", decoder)):
        if not isinstance(layer, RNN):
            raise TypeError(f"{name} must be a numrnn RNN, LSTM or GRU, got "
                            f"{type(layer).__name__}")
    if decoder.bidirectional:
        raise ValueError("decoder must be unidirectional: it writes one token at a time")
    if decoder.dtype != encoder.dtype:
        raise ValueError(f"decoder dtype {decoder.dtype} differs from encoder dtype "
                         f"{encoder.dtype}")


def add_components(model, encoder, decoder, attention_size, src_padding_idx, tgt_padding_idx):
    """Give ``model`` its components, seeded from ``model.seed``, in :meth:`state_dict` order.

    Needs the model's vocabulary sizes, ``attention_score`` and ``dtype``.
    """
    directions = 2 if encoder.bidirectional else 1
    key_size = directions * (encoder.proj_size or encoder.hidden_size)
    query_size = decoder.proj_size or decoder.hidden_size
    # Feature size of each part of the decoder state: h, and c for an LSTM.
    model._state_sizes = [query_size] + ([decoder.hidden_size]
                                         if decoder._spec.cell.has_cell_state else [])
    seeds = (int(s) for s in np.random.SeedSequence(model.seed).generate_state(6))
    dtype = model.dtype
    attention_class, options = SCORES[model.attention_score]
    if model.attention_score == "additive":
        options = {"attention_size": attention_size}
    model.src_embedding = Embedding(model.src_vocab_size, encoder.input_size,
                                    padding_idx=src_padding_idx, dtype=dtype, seed=next(seeds))
    model.encoder = encoder
    model.bridge = Dense(key_size, decoder.num_layers * sum(model._state_sizes), dtype=dtype,
                         seed=next(seeds))
    model.tgt_embedding = Embedding(model.tgt_vocab_size, decoder.input_size,
                                    padding_idx=tgt_padding_idx, dtype=dtype, seed=next(seeds))
    model.decoder = decoder
    model.attention = attention_class(query_size, key_size, dtype=dtype, seed=next(seeds),
                                      **options)
    model.combine = Dense(key_size + query_size, query_size, dtype=dtype, seed=next(seeds))
    model.head = Dense(query_size, model.tgt_vocab_size, activation="softmax", dtype=dtype,
                       seed=next(seeds))


def encode(model, src, src_lengths):
    """Encoder outputs (S, B, K), the decoder's initial state and what backward needs,
    from src (S, B)."""
    x = model.src_embedding(src)
    keys, h_n = _run(model.encoder, x, None, src_lengths)
    hidden = h_n[0] if isinstance(h_n, tuple) else h_n
    directions = 2 if model.encoder.bidirectional else 1
    summary = np.concatenate(list(hidden[-directions:]), axis=-1)
    bridged = np.tanh(model.bridge(summary))
    layers, batch = model.decoder.num_layers, summary.shape[0]
    parts = np.split(bridged, np.cumsum([layers * size for size in model._state_sizes])[:-1],
                     axis=1)
    state = [np.ascontiguousarray(part.reshape(batch, layers, -1).swapaxes(0, 1))
             for part in parts]
    return keys, (tuple(state) if len(state) == 2 else state[0]), (h_n, bridged)


def forward(model, src, src_lengths, dec_in, tgt_lengths):
    """Logits (T, B, V) of the decoder fed ``dec_in`` (T, B); records the tape."""
    keys, state, encoded = encode(model, src, src_lengths)
    queries, _ = _run(model.decoder, model.tgt_embedding(dec_in), state, tgt_lengths)
    context, _ = model.attention(queries, keys, src_lengths)
    attentional = np.tanh(model.combine(np.concatenate([context, queries], axis=-1)))
    model._tape = (encoded, attentional, context.shape[-1])
    return model.head(attentional)


def backward(model, grad_logits):
    """Backpropagate ``d loss / d logits`` of the latest :func:`forward` to every
    component's ``grads``."""
    (h_n, bridged), attentional, key_size = model._tape
    grad = model.head.backward(grad_logits) * (1 - attentional * attentional)
    grad_context, grad_queries = np.split(model.combine.backward(grad), [key_size], axis=-1)
    grad_attention_queries, grad_keys = model.attention.backward(grad_context)
    grad_x, grad_state = _backward(model.decoder, grad_queries + grad_attention_queries, None)
    model.tgt_embedding.backward(grad_x)
    parts = grad_state if isinstance(grad_state, tuple) else (grad_state,)
    grad_bridged = np.concatenate([p.swapaxes(0, 1).reshape(p.shape[1], -1) for p in parts],
                                  axis=1) * (1 - bridged * bridged)
    grad_summary = model.bridge.backward(grad_bridged)
    hidden = h_n[0] if isinstance(h_n, tuple) else h_n
    directions = 2 if model.encoder.bidirectional else 1
    grad_hidden = np.zeros_like(hidden)
    grad_hidden[-directions:] = np.stack(np.split(grad_summary, directions, axis=-1))
    grad_hn = (grad_hidden, np.zeros_like(h_n[1])) if isinstance(h_n, tuple) else grad_hidden
    grad_x, _ = _backward(model.encoder, grad_keys, grad_hn)
    model.src_embedding.backward(grad_x)


def step(model, tokens, state, keys, src_lengths):
    """One decoder step for ``tokens`` (B,): log-probabilities (B, V) in float64, the new
    state and the attention weights (B, S)."""
    query, state = model.decoder.step(model.tgt_embedding(tokens), state)
    context, weights = model.attention(query, keys, src_lengths)
    attentional = np.tanh(model.combine(np.concatenate([context, query], axis=-1)))
    return log_softmax(model.head(attentional).astype(np.float64)), state, weights


def _run(layer, x, hx, lengths):
    """A recurrent layer over time-major ``x``, returning a time-major output."""
    output, h_n = layer(tu.swap_batch_time(x, layer.batch_first), hx=hx, lengths=lengths)
    return tu.swap_batch_time(output, layer.batch_first), h_n


def _backward(layer, grad_output, grad_hn):
    """``layer.backward`` for time-major gradients; returns a time-major ``grad_x``."""
    grad_x, grad_hx = layer.backward(tu.swap_batch_time(grad_output, layer.batch_first),
                                     grad_hn)
    return tu.swap_batch_time(grad_x, layer.batch_first), grad_hx
