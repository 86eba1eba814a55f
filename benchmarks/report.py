"""RESULTS.md of :mod:`benchmarks.run`: the tables, the targets met or missed, where the time goes.

The targets themselves: :mod:`benchmarks.targets`. A target whose levels were not run shows "not run".
"""

from __future__ import annotations

from collections.abc import Sequence

from yolo26_triton.contract import ENTRY_POINT
from yolo26_triton.tools.statistics import StepTimes

from .harness import CLIENT, Measurement
from .link import RATE, RATE_BITS_PER_S, LinkProbe
from .systems import SERVER
from .targets import LINK, LOOPBACK, Network, Results, Target, ratio, targets

NOTES_LINK = "../docs/performance.md#reading-a-run"
"""Where RESULTS.md (written into ``benchmarks/``) sends its reader for what every run shares."""


def _cpu(measurement: Measurement, clock: str) -> str:
    value = measurement.cpu_ms_per_image(clock)
    return "-" if value is None else f"{value:.1f}"


def measurement_table(measurements: Sequence[Measurement]) -> list[str]:
    """Markdown rows of images/s, latency and CPU per image."""
    lines = [
        "| system | concurrency | images/s | p50 ms | p99 ms | errors | client CPU ms/img "
        "| server CPU ms/img |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {m.system} | {m.concurrency} | {m.throughput:.2f} | {m.p50_ms:.1f} | {m.p99_ms:.1f} | {m.errors} "
        f"| {_cpu(m, CLIENT)} | {_cpu(m, SERVER)} |"
        for m in measurements
    ]
    return lines


def step_table(breakdown: dict[int, list[StepTimes]]) -> list[str]:
    """Markdown rows of the statistics extension's per-model averages."""
    lines = [
        "| concurrency | model | requests | batch | queue ms | input ms | infer ms | output ms |",
        "|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for level, steps in sorted(breakdown.items()):
        for step in steps:
            lines.append(
                f"| {level} | {step.model} | {step.requests} | {step.average_batch:.2f} | "
                f"{step.queue_ms:.1f} | {step.compute_input_ms:.1f} | {step.compute_infer_ms:.1f} | "
                f"{step.compute_output_ms:.1f} |"
            )
    return lines


C_UP_BYTES = 640 * 640 * 3 * 4
"""c's request: the FP32 letterboxed image, 3x640x640 floats."""
C_DOWN_BYTES = 84 * 8400 * 4
"""c's answer: the raw detections, (4 box + 80 class) rows x 8400 anchors of FP32."""


def explain_miss(target: Target, results: Results, breakdown: dict[int, list[StepTimes]]) -> str:
    """Where the time goes for a missed target, in this run's own figures, and what would close it."""
    steps = {level: {step.model: step for step in found} for level, found in breakdown.items()}

    def where(level: int, network: Network = LOOPBACK) -> str:
        if network != LOOPBACK:
            return ""  # the statistics are kept for the loopback run
        mine = steps.get(level, {})
        if not mine:
            return ""
        parts = [
            f"{name} {step.queue_ms:.1f} queued + "
            f"{step.compute_input_ms + step.compute_infer_ms + step.compute_output_ms:.1f} "
            f"ms computing (batch {step.average_batch:.1f})"
            for name, step in mine.items()
            if name != ENTRY_POINT
        ]
        ensemble = mine.get(ENTRY_POINT)
        total = (
            f"; the ensemble {ensemble.compute_infer_ms + ensemble.queue_ms:.1f} ms in all"
            if ensemble
            else ""
        )
        return f" At c={level}, per request: " + ", ".join(parts) + total + "."

    def cpu(network: Network, system: str, level: int) -> str:
        found = results.measurements.get((network, system, level))
        if found is None:
            return "?"
        client, server = found.cpu_ms_per_image(CLIENT), found.cpu_ms_per_image(SERVER)
        return f"{(client or 0) + (server or 0):.0f} ms (client {client or 0:.0f}, server {server or 0:.0f})"

    if target.kind == "a/c":
        level = int(target.name.split("c=")[1].split(",")[0])
        return (
            f"CPU per image on both sides: a {cpu(LOOPBACK, 'triton', level)}, "
            f"c {cpu(LOOPBACK, 'ultralytics', level)}."
            + where(level)
            + " On one machine c's client decodes and runs NMS on the same cores as the server; the "
            "ensemble's extra cost is its four Python-backend hops (validate, preprocess, yolo26, "
            "postprocess), each a round trip through the stub's shared memory, and DALI's CPU decode + "
            "letterbox, about twice OpenCV's CPU per image (benchmarks/COMPONENTS.md). What would close "
            "it: Triton's own DALI and onnxruntime backends (no stub hop; in the NGC image, not in the "
            "embedded binary)."
        )
    if target.kind == "a/b":
        level = int(target.name.split("c=")[1])
        return (
            f"CPU per image: a {cpu(LOOPBACK, 'triton', level)} against "
            f"b's {cpu(LOOPBACK, 'in-process', level)} "
            "(b: everything in one process)."
            + where(level)
            + " b passes arrays between its two stages in memory; a pays gRPC, the ensemble scheduler "
            "and a shared-memory round trip per step. What would close it: the native backends of the "
            "NGC image for preprocess and yolo26."
        )
    if target.kind == "link":
        c_link = results.throughput(LINK, "ultralytics", 4)
        c_loopback = results.throughput(LOOPBACK, "ultralytics", 4)
        if c_link is None:
            return ""
        up, down = (c_link * size * 8 / RATE_BITS_PER_S for size in (C_UP_BYTES, C_DOWN_BYTES))
        ceiling = RATE_BITS_PER_S / 8 / C_UP_BYTES
        held = "the link held c back" if up > 0.9 else "the link did not hold c back"
        return (
            f"c answered {c_link:.1f} images/s over the link ({c_loopback or 0:.1f} on loopback); its "
            f"tensors, {C_UP_BYTES / 1e6:.1f} MB up and {C_DOWN_BYTES / 1e6:.1f} MB down per image, used "
            f"{up:.2f} and {down:.2f} of the link's {RATE_BITS_PER_S / 1e9:.0f} Gbit/s each way: {held}. "
            f"Both systems share the same 2 cores with their clients (CPU per image: c "
            f"{cpu(LINK, 'ultralytics', 4)}, a {cpu(LINK, 'triton', 4)}), so a cannot answer twice as "
            f"fast as c while c stays under the link's ceiling of {ceiling:.0f} images/s "
            f"({RATE_BITS_PER_S / 1e9:.0f} Gbit/s / {C_UP_BYTES / 1e6:.1f} MB). What would close it: a "
            "server with more CPU than this machine (or a GPU), whose a outruns that ceiling."
        )
    if target.kind == "cpu":
        return "The client's CPU per image is the load generator process's CPU time over the window."
    if target.kind == "scaling":
        b_scaling = ratio(
            results.throughput(LOOPBACK, "in-process", 8), results.throughput(LOOPBACK, "in-process", 1)
        )
        same_ops = (
            f" b, the same ops in one process, scaled by {b_scaling:.2f} in this run." if b_scaling else ""
        )
        return (
            "a at c=1 already keeps both cores busy for most of each request (the detector runs alone "
            "on two threads, about two thirds of the CPU per image); what concurrency adds is the "
            "overlap of the other steps and one-thread runs side by side, which spend less CPU per "
            "image. The faster a lone request (a/b at c=1), the less there is left to gain."
            + same_ops
            + where(1)
            + where(8)
        )
    return ""


def render(
    *,
    loopback: Sequence[Measurement],
    link: Sequence[Measurement],
    link_probe: LinkProbe | None,
    link_skipped: str | None,
    breakdown: dict[int, list[StepTimes]],
    levels: Sequence[int],
    context: dict[str, str],
    facts: dict[str, str],
) -> str:
    """RESULTS.md."""
    results = Results.of(loopback, link)
    lines = [
        "# Benchmark results",
        "",
        "Generated by `benchmarks/run.py` (`make bench`; do not edit by hand, rerun it). "
        "a = `detect_ensemble` on the embedded tritonserver, CPU profile, gRPC, the project's async client; "
        "b = the same decode + letterbox + onnxruntime + NMS in one process (two-stage micro-batching "
        "service, same thread budget); c = Ultralytics' documented Triton path, "
        "`YOLO('http://HOST:PORT/ultralytics_yolo26', task='detect')` (pre/post-processing in the client, "
        "one YOLO object per calling thread) against the same detector served with its FP32 input, "
        "as Ultralytics exports it.",
        "",
        f"Command: `{context['command']}`",
        "",
        f"Conditions: {context['conditions']}",
        "",
        f"Images: {context['images']} (cycled; callers start on different images). "
        f"Per level: {context['warmup']} s warm-up, {context['duration']} s measured. "
        f"Thread budget: DALI {context['dali_threads']}, onnxruntime {context['onnx_threads']} "
        "(read from the repository's CPU configs, used by a and b alike). "
        f"Model: {context['model']}. CPU per image: CPU time over the window divided by the images "
        "answered in it; client = the load generator's process, server = tritonserver and its stubs.",
        "",
        f"## {LOOPBACK.capitalize()}",
        "",
        *measurement_table(loopback),
        "",
        f"## Over a {LINK} (network namespace, `tc` HTB, {RATE} each way)",
        "",
    ]
    if link_skipped:
        lines.append(f"Skipped: {link_skipped}.")
    else:
        if link_probe is not None:
            lines.append(
                f"Link measured before the server started, one TCP stream each way at once: "
                f"{link_probe.up_gbit_s:.2f} Gbit/s up, {link_probe.down_gbit_s:.2f} Gbit/s down."
            )
            lines.append("")
        lines += measurement_table(link)
    lines += ["", "## Targets", "", "| target | threshold | measured | met |", "|---|---|---:|---|"]
    missed: list[tuple[Target, float]] = []
    for target in targets(levels):
        value, met = target.evaluate(results)
        shown = "not run" if value is None else f"{value:.2f}"
        verdict = "-" if met is None else ("yes" if met else "**no**")
        lines.append(f"| {target.name} | {target.shown_threshold} | {shown} | {verdict} |")
        if met is False and value is not None:
            missed.append((target, value))
    lines += ["", "## Missed targets: where the time goes (this run's figures) and what would close it", ""]
    if missed:
        lines += [
            f"- **{t.name}** ({value:.2f}): {explain_miss(t, results, breakdown)}" for t, value in missed
        ]
    else:
        lines.append("None missed.")
    lines += [
        "",
        "## Where the time goes in a (statistics extension, averages per request over each window)",
        "",
        "queue = waiting for the model's dynamic batcher and instance; infer = the model's `execute()` "
        "share per request (Python-backend IPC of inputs and outputs included in input/output); "
        "batch = requests per execution.",
        "",
        *step_table(breakdown),
        "",
        "## Machine",
        "",
        *(f"- {key}: {value}" for key, value in facts.items()),
        f"- load average before: {context['load_before']}; after: {context['load_after']}",
        f"- started {context['started']}, took {context['elapsed']} s",
        "",
    ]
    lines += [
        "## Notes",
        "",
        "How to read a run (c's detector, the order of the measurements, a busy machine): "
        f"[docs/performance.md, Reading a run]({NOTES_LINK}).",
        "",
    ]
    return "\n".join(lines)
