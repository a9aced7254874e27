"""Benchmarks: ``python -m bench.run`` (``make bench``); figures go to ``bench/RESULTS.md``."""
