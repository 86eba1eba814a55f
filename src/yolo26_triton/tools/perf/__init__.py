"""NVIDIA's perf_analyzer against our server: :mod:`.analyzer` (the binary, its libraries, the sweep)
and :mod:`.results` (its measurements as rows, our CSV and plot)."""
