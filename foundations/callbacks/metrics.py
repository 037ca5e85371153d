"""Watching training: the loss and metrics averaged per epoch, and what each batch did.

Derived in Lesson 9, "Callbacks" (lessons/09_callbacks) and "Annealing" (lessons/09_annealing).

These read only the learner's predictions, losses and optimizer, so they work with any model the
:class:`~foundations.learner.Learner` trains (a ``torch.nn.Module`` in the library, or Lesson 9's
hand-written ``foundations.nn.Module``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from foundations import checks
from foundations.learner import Callback, listify

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from foundations.learner import Learner

__all__ = ["AvgStats", "AvgStatsCallback", "Recorder"]

Metric = Callable[[Tensor, Tensor], Tensor]  # (pred, yb) -> a batch mean, 0-d


class AvgStats:
    """The loss and metrics averaged over one pass of the data, each batch weighted by its size.

    After batches of sizes ``n_b`` with mean losses ``l_b``, the average loss is
    ``sum_b n_b l_b / sum_b n_b``, the mean over every sample, even when the last batch is smaller.
    ``metrics`` are functions ``metric(pred, yb)`` returning a batch mean, like
    :func:`foundations.losses.accuracy`. ``totals`` are the running sums, ``averages`` the means.
    Derived in Lesson 9, "Callbacks" (lessons/09_callbacks).
    """

    def __init__(self, metrics: Metric | Sequence[Metric], in_train: bool) -> None:
        self.metrics = listify(metrics)
        for m in self.metrics:
            if not callable(m):
                raise TypeError(f"AvgStats: expected metrics to be functions of (pred, yb), got {type(m).__name__}")
        self.in_train = checks.boolean("AvgStats", "in_train", in_train)
        self.reset()

    def reset(self) -> None:
        self.tot_loss, self.count = 0.0, 0
        self.tot_mets = [0.0] * len(self.metrics)

    @property
    def names(self) -> list[str]:
        return ["loss"] + [getattr(m, "__name__", type(m).__name__) for m in self.metrics]

    @property
    def totals(self) -> list[float]:
        """The running sums: ``[sum of n_b * loss_b, sum of n_b * metric_b, ...]``."""
        return [self.tot_loss, *self.tot_mets]

    @property
    def averages(self) -> list[float]:
        """``[average loss, average metric, ...]``; NaN before the first batch."""
        return [s / self.count if self.count else math.nan for s in self.totals]

    def accumulate(self, learn: Learner) -> None:
        """Add ``learn``'s current batch: its size, loss and metrics."""
        bn = learn.xb.shape[0]
        self.count += bn
        self.tot_loss += learn.loss.item() * bn
        for i, m in enumerate(self.metrics):
            self.tot_mets[i] += float(m(learn.pred, learn.yb)) * bn

    def __repr__(self) -> str:
        mode = "train" if self.in_train else "valid"
        if not self.count:
            return f"{mode}: no batches yet"
        return f"{mode}: " + ", ".join(f"{n} {v:.4f}" for n, v in zip(self.names, self.averages))


class AvgStatsCallback(Callback):
    """Averages the loss and ``metrics`` over each epoch's training and validation passes; prints them.

    A learner holds it as ``learn.avg_stats``; its ``train_stats`` and ``valid_stats`` are
    :class:`AvgStats`. Derived in Lesson 9, "Callbacks" (lessons/09_callbacks).
    """

    def __init__(self, metrics: Metric | Sequence[Metric], verbose: bool = True) -> None:
        self.train_stats = AvgStats(metrics, True)
        self.valid_stats = AvgStats(metrics, False)
        self.verbose = checks.boolean("AvgStatsCallback", "verbose", verbose)

    def begin_epoch(self) -> None:
        self.train_stats.reset()
        self.valid_stats.reset()

    def after_loss(self) -> None:
        stats = self.train_stats if self.in_train else self.valid_stats
        with torch.no_grad():
            stats.accumulate(self.learn)

    def after_epoch(self) -> None:
        if self.verbose:
            print(f"epoch {self.epoch + 1}: {self.train_stats} | {self.valid_stats}")


class Recorder(Callback):
    """Records, for every training batch, the learning rate of each parameter group and the loss.

    ``group_lrs[i]`` lists the learning rates of parameter group ``i``, ``lrs`` those of the last
    group (a flat list, like :class:`~foundations.callbacks.LRFinder`'s), ``losses`` the training
    losses, as floats. Derived in Lesson 9, "Annealing" (lessons/09_annealing).
    """

    def begin_fit(self) -> None:
        self.group_lrs: list[list[float]] = [[] for _ in self.opt.param_groups]
        self.losses: list[float] = []

    @property
    def lrs(self) -> list[float]:
        """The learning rate of the last parameter group at every training batch."""
        if not hasattr(self, "group_lrs"):
            raise ValueError("Recorder.lrs: nothing recorded yet: run fit first")
        return self.group_lrs[-1]

    def after_batch(self) -> None:
        if not self.in_train:
            return
        for pg, lrs in zip(self.opt.param_groups, self.group_lrs):
            lrs.append(float(pg["lr"]))
        self.losses.append(self.loss.detach().item())

    def plot_lr(self, pgid: int = -1, ax: Axes | None = None, label: str | None = None) -> Axes:
        """Plot the learning rate of parameter group ``pgid`` (default: the last) against the batch.

        Draws on ``ax`` (a new figure if ``None``) with the legend entry ``label``; returns the axes.
        """
        if not hasattr(self, "group_lrs"):
            raise ValueError("Recorder.plot_lr: nothing recorded yet: run fit first")
        n = len(self.group_lrs)
        pgid = checks.integer("Recorder.plot_lr", f"pgid (for {n} parameter groups)", pgid, min=-n, max=n - 1)
        ax = ax if ax is not None else _new_axes()
        ax.plot(self.group_lrs[pgid], label=label or f"parameter group {pgid % n}")
        ax.set(title="Learning rate during training", xlabel="training batch", ylabel="learning rate")
        ax.legend()
        return ax

    def plot_loss(self, ax: Axes | None = None, label: str | None = None) -> Axes:
        """Plot the training loss of every batch on ``ax`` (new figure if ``None``); return the axes."""
        if not hasattr(self, "losses"):
            raise ValueError("Recorder.plot_loss: nothing recorded yet: run fit first")
        ax = ax if ax is not None else _new_axes()
        ax.plot(self.losses, label=label or "training loss (per batch)")
        ax.set(title="Training loss", xlabel="training batch", ylabel="loss")
        ax.legend()
        return ax


def _new_axes() -> Axes:
    import matplotlib.pyplot as plt  # plotting is for pages: training does not import matplotlib

    return plt.subplots(figsize=(6, 3.5))[1]
