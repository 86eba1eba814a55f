"""Benchmarks of the YOLO26 Triton service (not tests): ``benchmarks.run``, ``benchmarks.tune``,
``benchmarks.quotas``, ``benchmarks.nms``."""
