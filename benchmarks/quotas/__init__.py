"""Quotas under load: Triton's rate limiter, the detectors' priority and the queues, from Triton's trace.

    python -m benchmarks.quotas                                    # every scenario
    python -m benchmarks.quotas --duration 5 --scenario slots      # a quick look at one
    python -m benchmarks.quotas --out benchmarks/QUOTAS.md         # also write the report

Builds its own repository the supported way: the templates, then ``yolo26n.yaml`` (untrained) as
``yolo26`` (classic head, entry point ``detect_ensemble``) and as ``yolo26_end2end`` (NMS-free head,
entry point ``detect_end2end``, configs generated from ``yolo26``'s). Each configuration is a copy of
it, served on the embedded tritonserver (CPU profile) with Triton's trace on for every request
(``TIMESTAMPS``), and loaded from this process by closed-loop clients (the project's async client,
no retries: every refusal is seen). What happened is read from the trace once the server has
stopped (:mod:`yolo26_triton.serving.trace`): each request to a composing model has a queue start and
a compute start and end, and the requests of one batch share their compute timestamps, so one
(model, start, end) is one execution. Only requests that the measured load sent count (queued after
it began). Scenarios (docs, "Quotas: one model cannot starve another"):

- ``slots``: both entry points flooded; the most detector executions at once with the rate limiter
  off (``detector_slots=0``), on without ``--rate-limit-resource``, and on with 2 slots (global
  resource, the shipped configs; and per device).
- ``priority``: ``detect_end2end`` flooded, one light client on ``detect_ensemble``; how long
  requests to the shared steps (``validate``, ``preprocess``, ``postprocess``) wait in their queues
  with both detectors at priority 1 and at 1000 (shipped).
- ``split``: both entry points flooded; executions and images per detector model with equal
  priorities (1000, shipped) and with ``yolo26_end2end`` at 4000.
- ``starvation``: the integration test's load (tests/integration/test_quotas.py): 32 clients flood
  ``detect_end2end`` with a small JPEG, its queue lowered to 4, while one client sends 8 requests.
- ``history``: the rate limiter counts executions since the model was loaded: ``yolo26`` runs alone
  first, then ``detect_end2end`` is flooded while light clients use ``detect_ensemble``.
- ``shared-queue``: 120 and 240 clients flood ``detect_end2end``: when do the shared steps' queues (64
  each) fill up and refuse ``detect_ensemble``'s requests too?

Modules: :mod:`.load` (clients, one served configuration, its trace), :mod:`.bench` (the built
repository, the configurations served, the loads), :mod:`.scenarios` (what each scenario runs and
prints), :mod:`.report` (``QUOTAS.md``), ``__main__`` (the command line).
"""
