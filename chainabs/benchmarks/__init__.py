"""Benchmark modules: each registers its functions with :func:`chainabs.bench.benchmark`."""
