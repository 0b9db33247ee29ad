"""The implementation of :class:`numrnn.seq2seq.Seq2Seq`, one concern per module.

* :mod:`~numrnn._seq2seq.group`: the bookkeeping of a model made of named components
  (parameters, gradients, state, modes).
* :mod:`~numrnn._seq2seq.network`: the components, and the forward and backward passes that
  connect them.
* :mod:`~numrnn._seq2seq.data`: token ids as padded arrays, and the time-major batches of
  the encoder and the teacher-forced decoder.
* :mod:`~numrnn._seq2seq.training`: one batch's loss and gradients, scheduled sampling and
  the epochs of ``fit``.
* :mod:`~numrnn._seq2seq.decoding`: the log-probability of given targets, greedy decoding
  and beam search.
"""
