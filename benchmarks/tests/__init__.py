"""The benchmarks' own checks: their logic without a server (`make bench-test`; `make test` runs tests/ only).

The project's tests never import the benchmarks; these are part of the benchmarks and import them.
"""
