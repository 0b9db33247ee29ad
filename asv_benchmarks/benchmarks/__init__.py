"""asv benchmarks of numrnn; see docs/benchmarks.rst."""
