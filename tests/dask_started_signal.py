"""A `dask worker --preload` for the study tests: the worker appends the key of every task
it starts executing to the file named by ``$STUDY_STARTED_FILE``, so a test can act (kill
the worker) once a trial is running there, without guessing with a sleep."""

from __future__ import annotations

import os
from typing import Any

from distributed import Worker, WorkerPlugin

ENV = "STUDY_STARTED_FILE"


class StartedSignal(WorkerPlugin):
    """Writes ``KEY\\n`` to ``path`` when a task enters the executing state."""

    def __init__(self, path: str) -> None:
        self.path = path

    def transition(self, key: Any, start: str, finish: str, **kwargs: Any) -> None:
        """Called by the worker for each task state change."""
        if finish == "executing":
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.write(f"{key}\n")
                handle.flush()


async def dask_setup(worker: Worker) -> None:
    """Preload hook: install the plugin on this worker."""
    await worker.plugin_add(StartedSignal(os.environ[ENV]), name="study-started-signal")
