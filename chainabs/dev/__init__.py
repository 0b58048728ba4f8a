"""Developer tooling, kept out of the library proper: helpers for tests on a local chain, the sandbox deal
the tests and benchmarks stand up, and the benchmarks behind ``make bench``. May use every layer; no layer
imports it.
"""
