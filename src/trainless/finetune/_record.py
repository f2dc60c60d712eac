"""The record of a real fine-tuning run: the ground truth every prediction is checked against."""

from __future__ import annotations

import csv
import io
import json
import math
import os
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from .._io import ensure_writable_dir, write_json, write_text
from ._config import FinetuneConfig


class RunStatus(str, Enum):
    """How a fine-tuning run ended."""

    COMPLETED = "completed"
    """All steps ran and every recorded loss is finite."""
    DIVERGED = "diverged"
    """The loss became NaN or inf; the run stopped there: lower the learning rate."""


@dataclass(frozen=True)
class RunRecord:
    """Per-step record of one fine-tuning run (frozen; fields fixed).

    eval_steps: the steps t (0..T, optimizer steps taken before the evaluation) at which the whole-train-set
        loss / error / weight distance were recorded; 0 and the last step are always included.
    loss, error, weight_distance: at ``eval_steps``; loss is the mean over the N training samples
        (DESIGN.md convention), error the fraction misclassified, weight_distance ||w_t - w_0||_2 over the
        trained parameters.
    lr: the learning rate used by step t, for t = 0..steps_run-1.
    batches: the sample indices of the batch of step t (into the training set), t = 0..steps_run-1.
    step_seconds: wall time of each optimizer step (forward, backward, update; evaluation excluded).
    peak_rss_mib: the process's peak resident memory at the end of the run (MiB).
    test_n, test_loss, test_error: the held-out set's size and its mean loss and error rate at
        ``eval_steps`` (at w_t, before step t); 0 and empty when the run had no test data.
    """

    config: FinetuneConfig
    model: str
    data: str
    n: int
    class_labels: tuple[int, ...]
    trainable: str
    num_trainable: int
    head_start: dict[str, Any]
    device: str
    eval_steps: tuple[int, ...]
    loss: tuple[float, ...]
    error: tuple[float, ...]
    weight_distance: tuple[float, ...]
    lr: tuple[float, ...]
    batches: tuple[tuple[int, ...], ...]
    step_seconds: tuple[float, ...]
    eval_seconds: float
    total_seconds: float
    peak_rss_mib: float
    status: RunStatus
    message: str
    test_n: int = 0
    test_loss: tuple[float, ...] = ()
    test_error: tuple[float, ...] = ()

    @property
    def steps_run(self) -> int:
        return len(self.step_seconds)

    @property
    def final_loss(self) -> float:
        return self.loss[-1]

    @property
    def final_error(self) -> float:
        return self.error[-1]

    @property
    def median_step_seconds(self) -> float:
        s = sorted(self.step_seconds)
        return s[len(s) // 2] if s else math.nan

    def to_dict(self) -> dict[str, Any]:
        d = {f: getattr(self, f) for f in self.__dataclass_fields__}
        d["config"] = self.config.to_dict()
        d["status"] = self.status.value
        d["class_labels"] = list(self.class_labels)
        for key in ("eval_steps", "loss", "error", "weight_distance", "lr", "step_seconds", "test_loss", "test_error"):
            d[key] = list(d[key])
        d["batches"] = [list(b) for b in self.batches]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunRecord:
        d = dict(d)
        d["config"] = FinetuneConfig.from_dict(d["config"])
        d["status"] = RunStatus(d["status"])
        for key in ("class_labels", "eval_steps", "loss", "error", "weight_distance", "lr", "step_seconds"):
            d[key] = tuple(d[key])
        for key in ("test_loss", "test_error"):  # absent from records written before test data existed
            d[key] = tuple(d.get(key, ()))
        d["batches"] = tuple(tuple(b) for b in d["batches"])
        return cls(**d)

    def curves_csv(self) -> str:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        cols = [self.loss, self.error, self.weight_distance]
        header = ["step", "loss", "error", "weight_distance"]
        if self.test_loss:
            cols += [self.test_loss, self.test_error]
            header += ["test_loss", "test_error"]
        w.writerow(header)
        for step, *row in zip(self.eval_steps, *cols, strict=True):
            w.writerow([step, *(repr(float(v)) for v in row)])
        return buf.getvalue()

    def save(self, out_dir: str | os.PathLike[str]) -> tuple[Path, Path]:
        """Write ``run.json`` (everything) and ``curves.csv`` (step, loss, error, weight_distance) into
        ``out_dir`` (created if missing), each atomically. Returns the two paths. Raises TrainlessError naming
        the directory when it cannot be written."""
        out = ensure_writable_dir(out_dir)
        json_path, csv_path = out / "run.json", out / "curves.csv"
        write_json(json_path, self.to_dict())
        write_text(csv_path, self.curves_csv())
        return json_path, csv_path


def load_record(path: str | os.PathLike[str]) -> RunRecord:
    """Read a ``run.json`` written by :meth:`RunRecord.save`."""
    with open(path, encoding="utf-8") as fh:
        return RunRecord.from_dict(json.load(fh))
