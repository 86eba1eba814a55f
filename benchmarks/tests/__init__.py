"""The benchmarks' own checks: their logic without a server (``pytest`` collects them with ``tests/``).

The project's tests never import the benchmarks; these are part of the benchmarks and import them.
"""
