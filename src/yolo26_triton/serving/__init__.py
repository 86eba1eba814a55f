"""Serving: the embedded ``tritonserver`` launcher (the CPU profile's server, and a NGC binary's).

Depends on :mod:`yolo26_triton.contract` only; nothing here imports the client, the exporter or ops.
"""
