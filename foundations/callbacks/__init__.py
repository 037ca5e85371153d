"""Callbacks for :class:`foundations.learner.Learner`, one module per family.

- :mod:`~foundations.callbacks.metrics`: :class:`AvgStats`, :class:`AvgStatsCallback` (loss and
  metrics averaged per epoch) and :class:`Recorder` (learning rates and losses per batch) — Lesson 9;
- :mod:`~foundations.callbacks.schedule`: :class:`ParamScheduler`, hyper-parameters by schedule —
  Lesson 9, "Annealing";
- :mod:`~foundations.callbacks.device`: :class:`DeviceCallback`, :class:`BatchTransformCallback`,
  :func:`view_tfm` — Lesson 10;
- :mod:`~foundations.callbacks.lr_finder`: :class:`LRFinder` and its stopping rule — Lesson 10;
- :mod:`~foundations.callbacks.progress`: :class:`ProgressCallback` (fastprogress bars and a metrics
  table) — Lesson 11;
- :mod:`~foundations.callbacks.fp16`: :class:`MixedPrecision`, :class:`AutocastCallback` and
  :class:`LossScaler` (half-precision training, loss scaling) — Lesson 12;
- :mod:`~foundations.callbacks.mixup`: :class:`MixUp` and its pieces (the Beta distribution, mixing
  a batch, the per-sample mixed loss) — Lesson 12;
- :mod:`~foundations.callbacks.clip`: :class:`GradientClipping` — Lesson 12, "AWD-LSTM".

Where each runs within an event is the table :class:`foundations.learner.Order`. This package
imports the core (``foundations.learner``, ``foundations.schedule``, ...) and ``foundations.data``;
the core never imports it.
"""

from foundations.callbacks.clip import GradientClipping
from foundations.callbacks.device import BatchTransformCallback, DeviceCallback, default_device, view_tfm
from foundations.callbacks.fp16 import AutocastCallback, LossScaler, MixedPrecision
from foundations.callbacks.lr_finder import LRFinder, lr_finder_should_stop
from foundations.callbacks.metrics import AvgStats, AvgStatsCallback, Recorder
from foundations.callbacks.mixup import (
    MixUp,
    beta_pdf,
    mix_batch,
    mixup_lambdas,
    mixup_loss,
    per_sample_loss,
    sample_beta,
)
from foundations.callbacks.progress import ProgressCallback, format_time
from foundations.callbacks.schedule import ParamScheduler

__all__ = [
    "AutocastCallback",
    "AvgStats",
    "AvgStatsCallback",
    "BatchTransformCallback",
    "DeviceCallback",
    "GradientClipping",
    "LRFinder",
    "LossScaler",
    "MixUp",
    "MixedPrecision",
    "ParamScheduler",
    "ProgressCallback",
    "Recorder",
    "beta_pdf",
    "default_device",
    "format_time",
    "lr_finder_should_stop",
    "mix_batch",
    "mixup_lambdas",
    "mixup_loss",
    "per_sample_loss",
    "sample_beta",
    "view_tfm",
]
