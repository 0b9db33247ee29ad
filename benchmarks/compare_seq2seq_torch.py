"""One training epoch of the date example's model: numrnn against the same model in PyTorch.

The model of ``docs/examples/dates.py`` -- embeddings, a bidirectional GRU encoder (source
lengths: ``pack_padded_sequence`` in PyTorch), a bridge to the decoder's initial state, a GRU
decoder over the whole target, Luong "general" attention masked by the source lengths, the
attentional layer and the output head, cross-entropy, gradient norm clipping and Adam -- is
written once more with ``torch.nn``. PyTorch's model gets numrnn's initial weights and the
first batch's loss must agree before anything is timed. Then each trains for one epoch on
the example's data (same batches, same order), the two interleaved and repeated; the table
gives the median and the range of the epoch times and the ratio of the medians.

Usage (from the repository root)::

    python benchmarks/compare_seq2seq_torch.py            # the example's full-mode sizes
    python benchmarks/compare_seq2seq_torch.py --quick    # tiny smoke run
"""

import argparse
import os
import sys
import time

import numpy as np
import scipy.linalg.cython_blas  # noqa: F401  (loaded before threadpool_limits sees the BLAS)
import torch
from threadpoolctl import threadpool_limits

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# From a checkout, measure the numrnn next to this script; the example provides the data.
sys.path[:0] = [ROOT, os.path.join(ROOT, "docs", "examples")]

import dates  # noqa: E402

import numrnn  # noqa: E402


class TorchSeq2Seq(torch.nn.Module):
    """numrnn.Seq2Seq's equations (GRU encoder and decoder, "general" attention) in torch."""

    def __init__(self, model):
        super().__init__()
        enc, dec = model.encoder, model.decoder
        self.src_embedding = torch.nn.Embedding(model.src_vocab_size, enc.input_size,
                                                padding_idx=model.src_embedding.padding_idx)
        self.encoder = torch.nn.GRU(enc.input_size, enc.hidden_size,
                                    bidirectional=enc.bidirectional)
        self.bridge = torch.nn.Linear(model.bridge.in_features, model.bridge.out_features)
        self.tgt_embedding = torch.nn.Embedding(model.tgt_vocab_size, dec.input_size)
        self.decoder = torch.nn.GRU(dec.input_size, dec.hidden_size)
        self.attention = torch.nn.Linear(model.attention.key_size, dec.hidden_size, bias=False)
        self.combine = torch.nn.Linear(model.combine.in_features, model.combine.out_features)
        self.head = torch.nn.Linear(model.head.in_features, model.head.out_features)
        self.load_state_dict({k: torch.from_numpy(v) for k, v in model.state_dict().items()})

    def forward(self, src, src_lengths, dec_in):
        packed = torch.nn.utils.rnn.pack_padded_sequence(
            self.src_embedding(src), src_lengths, enforce_sorted=False)
        keys, h_n = self.encoder(packed)
        keys, _ = torch.nn.utils.rnn.pad_packed_sequence(keys)             # (S, B, K)
        summary = torch.cat(list(h_n[-2:]), dim=-1)
        h0 = torch.tanh(self.bridge(summary))[None]
        queries, _ = self.decoder(self.tgt_embedding(dec_in), h0)          # (T, B, H)
        scores = torch.bmm(queries.transpose(0, 1) @ self.attention.weight,
                           keys.permute(1, 2, 0))                         # (B, T, S)
        valid = torch.arange(keys.shape[0])[None, None] < src_lengths[:, None, None]
        weights = torch.softmax(scores.masked_fill(~valid, -torch.inf), dim=-1)
        context = torch.bmm(weights, keys.transpose(0, 1)).transpose(0, 1)
        return self.head(torch.tanh(self.combine(torch.cat([context, queries], dim=-1))))


def torch_batches(sources, targets, batch_size, seed):
    """Time-major tensors of one epoch's batches: source ids and lengths, decoder inputs
    (start token, then the target) and outputs (the target, then the end token)."""
    order = np.random.default_rng(seed).permutation(len(sources))
    for begin in range(0, len(sources), batch_size):
        rows = order[begin:begin + batch_size]
        lengths = np.array([len(sources[r]) for r in rows])
        src = np.zeros((lengths.max(), len(rows)), dtype=np.int64)
        for b, r in enumerate(rows):
            src[:lengths[b], b] = sources[r]
        tgt = np.stack([targets[r] for r in rows], axis=1)
        dec_in = np.concatenate([np.zeros((1, len(rows)), dtype=np.int64), tgt])
        dec_out = np.concatenate([tgt, np.ones((1, len(rows)), dtype=np.int64)])
        yield tuple(torch.from_numpy(a) for a in (src, lengths, dec_in, dec_out))


def torch_epoch(net, optimizer, data):
    for src, src_lengths, dec_in, dec_out in data:
        optimizer.zero_grad()
        logits = net(src, src_lengths, dec_in)
        loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), dec_out.flatten())
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        optimizer.step()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny smoke run")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1,
                        help="BLAS and torch threads (default 1, as in the example)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    threadpool_limits(args.threads)
    count, embedding, hidden = (200, 8, 8) if args.quick else (6000, 32, 64)
    repeats = 1 if args.quick else args.repeats
    texts, isos, _ = dates.make_pairs(count, np.random.default_rng(0))
    alphabet = dates.source_alphabet()
    sources, targets = dates.encode_sources(texts, alphabet), dates.encode_targets(isos)
    model = dates.build_model(len(alphabet), embedding, hidden, 0.01, "cpu")
    net = TorchSeq2Seq(model)
    optimizer = torch.optim.Adam(net.parameters(), lr=0.01)
    # Every target has the same length (an ISO date): PyTorch needs no target mask.
    assert len({len(t) for t in targets}) == 1
    data = list(torch_batches(sources, targets, 32, seed=0))
    first = data[0]
    with torch.no_grad():
        logits = net(*first[:3])
        got = float(torch.nn.functional.cross_entropy(logits.flatten(0, 1), first[3].flatten()))
    rows = np.random.default_rng(0).permutation(len(sources))[:32]
    expected = model.train_batch([sources[r] for r in rows], [targets[r] for r in rows])
    if not abs(got - expected) < 1e-4:
        raise AssertionError(f"the two models differ: loss {got} (torch) vs {expected}")

    def fit_numrnn(epoch_seed):
        model.fit(sources, targets, epochs=1, batch_size=32, seed=epoch_seed, clip_norm=1.0,
                  progress=False)

    fit_numrnn(0)                               # compile and warm up both
    torch_epoch(net, optimizer, data[:4])
    times = {"numrnn": [], "torch": []}
    for repeat in range(repeats):
        start = time.perf_counter()
        fit_numrnn(repeat)
        times["numrnn"].append(time.perf_counter() - start)
        start = time.perf_counter()
        torch_epoch(net, optimizer, data)
        times["torch"].append(time.perf_counter() - start)
    with open("/proc/loadavg") if os.path.exists("/proc/loadavg") else open(os.devnull) as f:
        load = f.read().split()[:3]
    print(f"torch {torch.__version__}, numrnn {numrnn.__version__}, {args.threads} thread(s), "
          f"{len(data)} batches of 32, {repeats} interleaved repeats, load average "
          f"{' '.join(load) or 'n/a'}, {os.cpu_count()} CPUs\n")
    print("| model | numrnn s (median, range) | torch s (median, range) | speed-up |")
    print("|---|---:|---:|---:|")
    n, t = np.array(times["numrnn"]), np.array(times["torch"])
    print(f"| dates (E={embedding}, H={hidden}) | {np.median(n):.2f} ({n.min():.2f}-{n.max():.2f})"
          f" | {np.median(t):.2f} ({t.min():.2f}-{t.max():.2f}) | "
          f"{np.median(t) / np.median(n):.2f}x |")


if __name__ == "__main__":
    main()
