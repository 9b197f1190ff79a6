"""Benchmark harnesses (library code); the ``qcoinf bench`` commands parse and print."""
