"""RESULTS.md of :mod:`benchmarks.run`: each target marked, each miss explained with the run's figures."""

from __future__ import annotations

from pathlib import Path

from benchmarks.harness import CLIENT, Measurement
from benchmarks.report import NOTES_LINK, render
from benchmarks.systems import SERVER
from yolo26_triton.tools.statistics import StepTimes

BENCHMARKS = Path(__file__).resolve().parents[1]
CONTEXT = dict.fromkeys(
    (
        "command",
        "conditions",
        "images",
        "warmup",
        "duration",
        "dali_threads",
        "onnx_threads",
        "model",
        "load_before",
        "load_after",
        "started",
        "elapsed",
    ),
    "x",
)
"""The run's context, as ``benchmarks.run`` passes it to :func:`render`."""


def test_the_report_marks_each_target_and_explains_each_miss_with_the_run_s_figures() -> None:
    def m(system: str, level: int, images: int) -> Measurement:
        return Measurement(
            system, level, images, 1.0, 10.0, 20.0, 0, {CLIENT: 0.1 * images, SERVER: 0.9 * images}
        )

    loopback = [m("triton", 1, 20), m("triton", 8, 24), m("ultralytics", 1, 18), m("ultralytics", 8, 20)]
    loopback += [m("in-process", 1, 22), m("in-process", 8, 23)]
    steps = {1: [StepTimes("yolo26", 20, 20, 0.5, 0.2, 30.0, 0.3)]}
    report = render(
        loopback=loopback,
        link=[],
        link_probe=None,
        link_skipped="`unshare -n` failed",
        breakdown=steps,
        levels=(1, 8),
        context=CONTEXT,
        facts={"cpu": "test"},
    )
    assert "Skipped: `unshare -n` failed." in report
    assert "| a at c=8 / a at c=1 images/s | >= 1.5 | 1.20 | **no** |" in report
    assert "| a/c images/s at c=1, loopback | >= 1 | 1.11 | yes |" in report
    assert "| a/c images/s at c=4, 1 Gbit/s link | >= 2 | not run | - |" in report
    assert "scaled by 1.05 in this run" in report  # b's own c=8 / c=1, from the same run
    assert "yolo26 0.5 queued + 30.5 ms computing (batch 1.0)" in report
    assert "| triton | 1 | 20.00 | 10.0 | 20.0 | 0 | 100.0 | 900.0 |" in report  # CPU ms per image
    assert f"]({NOTES_LINK})" in report


def test_the_notes_link_reaches_the_notes_from_where_results_md_is_written() -> None:
    page, _, anchor = NOTES_LINK.partition("#")
    notes = (BENCHMARKS / page).resolve()
    assert notes.is_file()
    headings = [line.lstrip("#").strip() for line in notes.read_text().splitlines() if line.startswith("#")]
    assert anchor in {heading.lower().replace(" ", "-") for heading in headings}  # GitHub's anchor


def test_the_link_miss_says_from_c_s_own_rate_whether_the_link_held_it_back() -> None:
    from benchmarks.link import LinkProbe
    from benchmarks.report import C_UP_BYTES

    def m(system: str, level: int, images: float) -> Measurement:
        return Measurement(system, level, int(images * 10), 10.0, 10.0, 20.0, 0, {CLIENT: 1.0, SERVER: 9.0})

    def miss_for(c_over_link: float) -> str:
        loopback = [
            m(system, level, 17.0)
            for system in ("triton", "ultralytics", "in-process")
            for level in (1, 4, 8)
        ]
        link = [m("triton", 4, 17.0), m("ultralytics", 4, c_over_link)]
        report = render(
            loopback=loopback,
            link=link,
            link_probe=LinkProbe(1.0, 1.0),
            link_skipped=None,
            breakdown={},
            levels=(1, 4, 8),
            context=CONTEXT,
            facts={},
        )
        (line,) = [
            line
            for line in report.splitlines()
            if line.startswith("- **a/c images/s at c=4, 1 Gbit/s link**")
        ]
        return line

    # 17 images/s of 4.9 MB is 0.67 Gbit/s up: CPU-bound, not link-bound.
    assert "used 0.67 and 0.38 of the link's 1 Gbit/s each way: the link did not hold c back" in miss_for(
        17.0
    )
    at_ceiling = 1e9 / 8 / C_UP_BYTES  # 25 images/s fill the link upwards
    assert "the link held c back" in miss_for(round(at_ceiling, 1))
    assert "the link's ceiling of 25 images/s" in miss_for(17.0)
