"""perf_analyzer's measurements: its ``-f`` CSV report read into rows, and our CSV and plot of them."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from pathlib import Path

from yolo26_triton.tools.errors import PerfError


@dataclass(frozen=True)
class PerfRow:
    """One measurement of perf_analyzer: one protocol at one concurrency.

    Latencies are in milliseconds; ``throughput`` is inferences (= images) per second.
    The ``server_*`` and ``client_*`` columns are perf_analyzer's average breakdown of a request.
    """

    protocol: str
    concurrency: int
    throughput: float
    p50_ms: float
    p90_ms: float
    p95_ms: float
    p99_ms: float
    client_send_ms: float
    network_server_ms: float
    server_queue_ms: float
    server_compute_input_ms: float
    server_compute_infer_ms: float
    server_compute_output_ms: float
    client_recv_ms: float


_CSV_COLUMNS_US = {
    "p50_ms": "p50 latency",
    "p90_ms": "p90 latency",
    "p95_ms": "p95 latency",
    "p99_ms": "p99 latency",
    "client_send_ms": "Client Send",
    "network_server_ms": "Network+Server Send/Recv",
    "server_queue_ms": "Server Queue",
    "server_compute_input_ms": "Server Compute Input",
    "server_compute_infer_ms": "Server Compute Infer",
    "server_compute_output_ms": "Server Compute Output",
    "client_recv_ms": "Client Recv",
}
"""Our field -> perf_analyzer 2.51's ``-f`` CSV column (values in microseconds)."""


def parse_perf_csv(text: str, protocol: str) -> list[PerfRow]:
    """Rows of a perf_analyzer ``-f`` report (``Concurrency,Inferences/Second,...,p99 latency``).

    Raises:
        PerfError: If a needed column is missing or the report has no rows.
    """
    reader = csv.DictReader(io.StringIO(text))
    needed = {"Concurrency", "Inferences/Second", *_CSV_COLUMNS_US.values()}
    missing = needed - set(reader.fieldnames or ())
    if missing:
        raise PerfError(f"perf_analyzer report lacks the columns {sorted(missing)}: {reader.fieldnames}")
    rows = [
        PerfRow(
            protocol=protocol,
            concurrency=int(record["Concurrency"]),
            throughput=float(record["Inferences/Second"]),
            **{field: float(record[column]) / 1000.0 for field, column in _CSV_COLUMNS_US.items()},
        )
        for record in reader
        if record.get("Concurrency", "").strip()
    ]
    if not rows:
        raise PerfError("perf_analyzer report has no measurements")
    return rows


def write_rows(rows: Iterable[PerfRow], path: Path) -> Path:
    """Writes ``rows`` as CSV with a header of :class:`PerfRow`'s field names."""
    names = [field.name for field in fields(PerfRow)]
    with path.open("w", newline="") as sink:
        writer = csv.writer(sink)
        writer.writerow(names)
        for row in rows:
            writer.writerow(
                [
                    f"{value:.3f}" if isinstance(value, float) else value
                    for value in (getattr(row, n) for n in names)
                ]
            )
    return path


def plot_rows(rows: Sequence[PerfRow], path: Path, title: str) -> Path:
    """Plots throughput and p50/p99 latency against concurrency, one line per protocol, to a PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(11, 4.5), layout="constrained")
    FigureCanvasAgg(figure)
    throughput_axes, latency_axes = figure.subplots(1, 2)
    for protocol in dict.fromkeys(row.protocol for row in rows):
        mine = sorted((row for row in rows if row.protocol == protocol), key=lambda row: row.concurrency)
        levels = [row.concurrency for row in mine]
        throughput_axes.plot(levels, [row.throughput for row in mine], marker="o", label=protocol)
        latency_axes.plot(levels, [row.p50_ms for row in mine], marker="o", label=f"{protocol} p50")
        latency_axes.plot(
            levels, [row.p99_ms for row in mine], marker="^", linestyle="--", label=f"{protocol} p99"
        )
    throughput_axes.set(xlabel="concurrency", ylabel="images / s", title="throughput")
    latency_axes.set(xlabel="concurrency", ylabel="ms", title="latency")
    for axes in (throughput_axes, latency_axes):
        axes.set_xscale("log", base=2)
        axes.set_xticks(sorted({row.concurrency for row in rows}))
        axes.get_xaxis().set_major_formatter("{x:.0f}")
        axes.grid(True, alpha=0.3)
        axes.legend()
    figure.suptitle(title)
    figure.savefig(path, dpi=100)
    return path
