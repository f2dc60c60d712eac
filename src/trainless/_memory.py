"""Peak memory of a block of code: resident set size sampled by a thread, and CUDA's own counter."""

from __future__ import annotations

import os
import threading
import time
from types import TracebackType

import torch

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def rss_mib() -> float:
    """Current resident set size of this process in MiB (Linux /proc; 0 where unavailable)."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * _PAGE / 2**20
    except OSError:  # pragma: no cover - non-Linux
        return 0.0


class PeakMemory:
    """``with PeakMemory() as pm: ...`` then ``pm.peak_rss_mib`` (process RSS peak during the block, sampled
    every ``interval`` s, so spikes shorter than that can be missed) and ``pm.peak_cuda_mib``."""

    def __init__(self, interval: float = 0.002) -> None:
        self.interval = interval
        self.peak_rss_mib = 0.0
        self.start_rss_mib = 0.0
        self.peak_cuda_mib = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_rss_mib = max(self.peak_rss_mib, rss_mib())
            time.sleep(self.interval)

    def __enter__(self) -> PeakMemory:
        self.start_rss_mib = self.peak_rss_mib = rss_mib()
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.peak_rss_mib = max(self.peak_rss_mib, rss_mib())
        if torch.cuda.is_available():
            self.peak_cuda_mib = torch.cuda.max_memory_allocated() / 2**20
