"""One training step of an encoder-decoder with attention (the date example's model)."""

import numpy as np

import numrnn

from .common import PROFILE, Benchmark, check_learns, skip_unless_available

#: (source steps S, target steps T, batch B, embedding E, hidden H) per profile.
SEQ2SEQ_SIZES = {
    "tiny": {"S6_T4_B2_E4_H8": (6, 4, 2, 4, 8)},
    "small": {"S25_T10_B32_E32_H64": (25, 10, 32, 32, 64)},
    "large": {"S50_T30_B64_E64_H128": (50, 30, 64, 64, 128)},
}[PROFILE]
VOCAB = 40


class Seq2SeqTrainingStep(Benchmark):
    """Embeddings, bidirectional GRU encoder, "general" attention, GRU decoder, output head:
    forward, backward, gradient clipping and an Adam update on one batch of variable-length
    sources."""

    params = (["numpy", "cpu"], list(SEQ2SEQ_SIZES))
    param_names = ["backend", "size"]

    def setup(self, backend, size):
        skip_unless_available(backend)
        src_steps, tgt_steps, batch, embedding, hidden = SEQ2SEQ_SIZES[size]
        rng = np.random.default_rng(0)
        encoder = numrnn.GRU(embedding, hidden, bidirectional=True, backend=backend, seed=0)
        decoder = numrnn.GRU(embedding, 2 * hidden, backend=backend, seed=1)
        self.model = numrnn.Seq2Seq(encoder, decoder, src_vocab_size=VOCAB,
                                    tgt_vocab_size=VOCAB, start_token=0, end_token=1,
                                    src_padding_idx=0, optimizer=numrnn.Adam(lr=1e-2), seed=0)
        self.src = rng.integers(1, VOCAB, size=(batch, src_steps))
        self.src_lengths = rng.integers(1, src_steps + 1, size=batch)
        self.tgt = rng.integers(2, VOCAB, size=(batch, tgt_steps))
        check_learns(self._step)

    def _step(self):
        loss = self.model.train_batch(self.src, self.tgt, src_lengths=self.src_lengths)
        grads = self.model.grads
        numrnn.clip_grad_norm(grads, 1.0)
        self.model.optimizer.step(self.model.parameters(), grads)
        return loss

    def time_training_step(self, backend, size):
        self._step()
