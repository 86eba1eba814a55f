"""The detector's thread layouts: two threads for a run alone, one each for runs side by side."""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from yolo26_triton.ops.onnx_detector import OnnxDetector, PeerExecutions


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A convolution on a UINT8 ``images`` input with dynamic batch and sides, and a second output, as
    the build exports the detector (a warm-up must give the sides, they are not in the graph)."""
    weights = numpy_helper.from_array(np.full((2, 3, 3, 3), 0.01, np.float32), "w")
    nodes = [
        helper.make_node("Cast", ["images"], ["float"], to=TensorProto.FLOAT),
        helper.make_node("Conv", ["float", "w"], ["output0"], pads=[1, 1, 1, 1]),
        helper.make_node("ReduceMax", ["float"], ["output_detector_id"], keepdims=0),
        # Fails unless each image is 3 x 16 x 16, as the real network fails on sides it cannot take.
        helper.make_node("Reshape", ["float", "per_image"], ["flat"]),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("images", TensorProto.UINT8, ["batch", 3, "height", "width"])],
        [
            helper.make_tensor_value_info("output0", TensorProto.FLOAT, ["batch", 2, "height", "width"]),
            helper.make_tensor_value_info("output_detector_id", TensorProto.FLOAT, []),
            helper.make_tensor_value_info("flat", TensorProto.FLOAT, ["batch", 768]),
        ],
        [weights, numpy_helper.from_array(np.array([-1, 3 * 16 * 16], np.int64), "per_image")],
    )
    path = tmp_path_factory.mktemp("model") / "model.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), str(path))
    return path


def _hold(
    folder: Path, started: multiprocessing.synchronize.Event, release: multiprocessing.synchronize.Event
) -> None:
    peers = PeerExecutions(folder, "other")
    with peers.running():
        started.set()
        release.wait(30)


@pytest.fixture
def busy_peer(tmp_path: Path) -> Iterator[Path]:
    """Another process in flight in ``tmp_path`` (a detector instance executing) during the test."""
    context = multiprocessing.get_context("spawn")
    started, release = context.Event(), context.Event()
    process = context.Process(target=_hold, args=(tmp_path, started, release))
    process.start()
    try:
        assert started.wait(60), "the peer process did not start"
        yield tmp_path
    finally:
        release.set()
        process.join(30)


def test_a_peer_in_flight_in_another_process_is_counted(busy_peer: Path) -> None:
    peers = PeerExecutions(busy_peer, "me")
    with peers.running() as others:
        assert others == 1
    peers.close()


def test_finished_or_dead_peers_are_not_counted(tmp_path: Path) -> None:
    first, second = PeerExecutions(tmp_path, "first"), PeerExecutions(tmp_path, "second")
    with first.running() as others:
        assert others == 0
    with second.running() as others:
        assert others == 0  # first's file is still there, unlocked
    (tmp_path / "stale.lock").write_bytes(b"")  # left by a process that died
    with second.running() as others:
        assert others == 0


def test_run_alone_takes_the_alone_threads_and_beside_a_peer_the_others(model: Path, busy_peer: Path) -> None:
    images = np.arange(2 * 3 * 16 * 16, dtype=np.int64).reshape(2, 3, 16, 16).astype(np.uint8)
    lone_folder = busy_peer / "lone"
    alone = OnnxDetector(
        model, intra_op_num_threads=1, alone_intra_op_num_threads=2, peers=PeerExecutions(lone_folder, "me")
    )
    beside = OnnxDetector(
        model, intra_op_num_threads=1, alone_intra_op_num_threads=2, peers=PeerExecutions(busy_peer, "me")
    )
    assert alone.adaptive and beside.adaptive

    alone_output = alone.run(images)
    assert alone.last_run_threads == 2
    beside_output = beside.run(images)
    assert beside.last_run_threads == 1
    np.testing.assert_array_equal(alone_output, beside_output)
    alone.warm_up([3, 16, 16])


def test_one_session_without_peers_or_an_alone_layout(model: Path, tmp_path: Path) -> None:
    plain = OnnxDetector(model, intra_op_num_threads=2)
    same = OnnxDetector(
        model, intra_op_num_threads=1, alone_intra_op_num_threads=1, peers=PeerExecutions(tmp_path, "x")
    )
    assert not plain.adaptive and not same.adaptive
    plain.run(np.zeros((1, 3, 16, 16), np.uint8))
    assert plain.last_run_threads == 2
    with pytest.raises(ValueError, match="intra_op_num_threads must be >= 1"):
        OnnxDetector(model, intra_op_num_threads=0)
