"""The detector on onnxruntime (CPU profile, baseline and tests share these session settings).

One image alone runs faster on two threads than on one, but under load two one-thread sessions
side by side get more images through the same cores than two-thread sessions that share them
(no intra-op hand-offs, no thread waiting for a preempted sibling). :class:`OnnxDetector` can hold
both: with ``alone_intra_op_num_threads`` it runs an execution on that many threads when no other
detector execution of the server is in flight, and on ``intra_op_num_threads`` otherwise.
:class:`PeerExecutions` tells which, across the model instances' processes, with advisory file locks.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from numpy.typing import NDArray

from yolo26_triton.contract import DETECTIONS_OUTPUT


class PeerExecutions:
    """Which detector executions are in flight, across processes.

    Each participant (a Triton model instance) holds an exclusive ``flock`` on its own file in
    ``folder`` while it executes; the others it finds locked are in flight. The kernel drops a
    dead process's locks, so nothing stale survives a crash. Two executions that start within
    microseconds of each other may both see none: they then both take the "alone" layout for that
    one run, which costs some speed, never a result.
    """

    def __init__(self, folder: Path, participant: str) -> None:
        """Registers ``participant`` (unique among those sharing ``folder``)."""
        folder.mkdir(parents=True, exist_ok=True)
        self._folder = folder
        self._path = folder / f"{participant}.lock"
        self._own = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)

    @classmethod
    def for_repository(cls, repository: Path, participant: str) -> PeerExecutions:
        """The peers of one model repository (one server): a folder under the temporary directory."""
        digest = hashlib.sha256(str(repository.resolve()).encode()).hexdigest()[:16]
        return cls(Path(tempfile.gettempdir()) / f"yolo26-triton-detectors-{digest}", participant)

    @contextlib.contextmanager
    def running(self) -> Iterator[int]:
        """Marks this participant in flight for the ``with`` block; yields how many others are."""
        fcntl.flock(self._own, fcntl.LOCK_EX)
        try:
            yield sum(1 for path in self._folder.glob("*.lock") if path != self._path and _locked(path))
        finally:
            fcntl.flock(self._own, fcntl.LOCK_UN)

    def close(self) -> None:
        """Releases the file (the lock file stays for the next start)."""
        os.close(self._own)


def _locked(path: Path) -> bool:
    """Whether another process holds ``path``'s lock (probed without waiting, released at once)."""
    try:
        descriptor = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(descriptor)  # closing releases a lock taken here
    return False


_shared_arena: list[bool] = []
"""Whether this process registered onnxruntime's shared CPU arena (once per process)."""


def _session(model_path: Path, threads: int, *, shared_arena: bool = False) -> ort.InferenceSession:
    options = ort.SessionOptions()
    if shared_arena:
        # Sessions of one instance never run at once: one arena serves them all, instead of one
        # each that grows to the largest batch (about 600 MB for yolo26n at batch 16).
        if not _shared_arena:
            memory = ort.OrtMemoryInfo(
                "Cpu", ort.OrtAllocatorType.ORT_ARENA_ALLOCATOR, 0, ort.OrtMemType.DEFAULT
            )
            ort.create_and_register_allocator(memory, ort.OrtArenaCfg(0, -1, -1, -1))
            _shared_arena.append(True)
        options.add_session_config_entry("session.use_env_allocators", "1")
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    # Idle intra-op threads sleep instead of spinning: the cores are shared with decoding,
    # NMS and other instances, which spinning threads would starve.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])


class OnnxDetector:
    """Runs the exported YOLO26 ONNX model on batches of letterboxed images."""

    def __init__(
        self,
        model_path: Path,
        *,
        intra_op_num_threads: int,
        alone_intra_op_num_threads: int = 0,
        peers: PeerExecutions | None = None,
    ) -> None:
        """Loads the model.

        Args:
            model_path: The exported ONNX file.
            intra_op_num_threads: Threads of a run while other detector executions are in flight
                (or always, without ``peers``).
            alone_intra_op_num_threads: Threads of a run that has the server's detectors to itself;
                0 or the same number: one session only.
            peers: Who else is running; needed for the "alone" layout.

        Raises:
            ValueError: If a thread count is negative or zero where it must be positive.
        """
        if intra_op_num_threads < 1 or alone_intra_op_num_threads < 0:
            raise ValueError(
                f"intra_op_num_threads must be >= 1 and alone_intra_op_num_threads >= 0, got "
                f"{intra_op_num_threads} and {alone_intra_op_num_threads}"
            )
        adaptive = peers is not None and alone_intra_op_num_threads not in (0, intra_op_num_threads)
        self._session = _session(model_path, intra_op_num_threads, shared_arena=adaptive)
        self._alone = (
            _session(model_path, alone_intra_op_num_threads, shared_arena=True) if adaptive else None
        )
        self._peers = peers
        self.last_run_threads = 0
        """Intra-op threads of the latest run (0 before the first)."""
        self._threads = (intra_op_num_threads, alone_intra_op_num_threads)
        self._input_name = self._session.get_inputs()[0].name
        self._output_names = [output.name for output in self._session.get_outputs()]

    def outputs(self, images: NDArray[Any]) -> dict[str, NDArray[Any]]:
        """Every output of the model, by name, for a ``(batch, 3, size, size)`` batch of the model's
        input type (uint8 grey levels as the build exports it)."""
        if self._peers is None:
            return self._run(self._session, images)
        with self._peers.running() as others:
            if self._alone is not None and others == 0:
                return self._run(self._alone, images, self._threads[1])
            return self._run(self._session, images)

    def _run(
        self, session: ort.InferenceSession, images: NDArray[Any], threads: int = 0
    ) -> dict[str, NDArray[Any]]:
        self.last_run_threads = threads or self._threads[0]
        arrays = session.run(self._output_names, {self._input_name: images})
        return {name: np.asarray(array) for name, array in zip(self._output_names, arrays, strict=True)}

    def run(self, images: NDArray[Any]) -> NDArray[np.float32]:
        """The raw detections (``output0``) for a ``(batch, 3, size, size)`` batch."""
        return np.asarray(self.outputs(images)[DETECTIONS_OUTPUT], dtype=np.float32)

    @property
    def adaptive(self) -> bool:
        """Whether runs take the "alone" layout when no other detector execution is in flight."""
        return self._alone is not None

    def warm_up(self, image_shape: Sequence[int]) -> None:
        """Runs one image of zeros (``image_shape``, e.g. ``[3, 640, 640]``) through every session:
        Triton's warm-up request reaches only one of them."""
        dtype = {"tensor(uint8)": np.uint8}.get(self._session.get_inputs()[0].type, np.float32)
        images = np.zeros([1, *image_shape], dtype=dtype)
        self._run(self._session, images)
        if self._alone is not None:
            self._run(self._alone, images, self._threads[1])
