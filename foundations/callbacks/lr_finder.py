"""The learning-rate finder: sweep the learning rate up, batch by batch, until the loss explodes.

Derived in Lesson 10, "Early stopping and the learning-rate finder" (lessons/10_lr_finder), after
Smith (2017), "Cyclical learning rates for training neural networks". Plotted against the learning
rate on a log scale, the losses show which learning rates train and which blow up.

**Base:** the model is a ``torch.nn.Module`` (its ``state_dict`` is saved and restored), like every
model of the library after Lesson 9's hand-written ``foundations.nn.Module`` (the teaching version).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from foundations import checks
from foundations.learner import Callback, CancelEpochException, CancelTrainException, Order
from foundations.schedule import sched_exp

if TYPE_CHECKING:
    from matplotlib.axes import Axes  # plotting is for pages: importing the finder does not import matplotlib

__all__ = ["LRFinder", "lr_finder_should_stop"]


def lr_finder_should_stop(losses: Sequence[float], iteration: int, max_iter: int, factor: float = 10.0) -> bool:
    """The learning-rate finder's stopping rule, after the training batch number ``iteration`` (from 0).

    Stop when the sweep is done (``iteration >= max_iter``: the batch at ``max_lr`` has run), or when
    the loss has exploded: the latest loss ``losses[-1]`` is not finite, or is more than ``factor``
    times the best (smallest) loss so far. ``losses`` are the losses of batches ``0..iteration``.
    Derived in Lesson 10, "Early stopping and the learning-rate finder" (lessons/10_lr_finder).

    >>> lr_finder_should_stop([2.3, 1.0, 10.5], iteration=2, max_iter=100)
    True
    """
    if len(losses) == 0:
        raise ValueError("lr_finder_should_stop: expected at least one loss, got an empty list")
    if iteration >= max_iter:
        return True
    last = float(losses[-1])
    return not math.isfinite(last) or last > factor * min(float(l) for l in losses)


class LRFinder(Callback):
    """Sweeps the learning rate exponentially from ``min_lr`` to ``max_lr``; stops when the loss explodes.

    Before training batch ``i`` every parameter group gets ``lr = min_lr * (max_lr / min_lr) ** (i /
    max_iter)``; after its step, ``lrs`` and ``losses`` (flat lists, one entry per batch) get the
    learning rate and the loss, and :func:`lr_finder_should_stop` decides whether to raise
    ``CancelTrainException``. Validation is skipped. When training ends, the model's weights and the
    optimizer's state and hyper-parameters are put back as they were at ``begin_fit``
    (``restore=True``), so the finder can be run on the model you are about to train. It sets
    ``"lr"`` (``Order.HYPER``): a learner refuses it beside another callback that sets ``"lr"``.
    Derived in Lesson 10, "Early stopping and the learning-rate finder" (lessons/10_lr_finder).
    """

    order = Order.HYPER

    def __init__(
        self,
        max_iter: int = 100,
        min_lr: float = 1e-6,
        max_lr: float = 10.0,
        factor: float = 10.0,
        restore: bool = True,
    ) -> None:
        max_iter = checks.positive_int("LRFinder", "max_iter", max_iter)
        min_lr = checks.real("LRFinder", "min_lr", min_lr, positive=True)
        max_lr = checks.real("LRFinder", "max_lr", max_lr, positive=True)
        if not min_lr < max_lr:
            raise ValueError(f"LRFinder: expected min_lr < max_lr, got min_lr={min_lr:g}, max_lr={max_lr:g}")
        factor = checks.real("LRFinder", "factor", factor, min=1.0, min_open=True)
        self.max_iter, self.min_lr, self.max_lr = max_iter, min_lr, max_lr
        self.factor, self.restore = factor, checks.boolean("LRFinder", "restore", restore)
        self.sched = sched_exp(self.min_lr, self.max_lr)

    @property
    def sets(self) -> tuple[str, ...]:
        return ("lr",)

    def begin_fit(self) -> None:
        self.lrs: list[float] = []
        self.losses: list[float] = []
        self.sweep_lr = self.min_lr
        if self.restore:
            self._saved = _snapshot(self.model, self.opt)

    def begin_batch(self) -> None:
        if not self.in_train:
            return
        self.sweep_lr = self.sched(min(self.n_iter / self.max_iter, 1.0))
        for pg in self.opt.param_groups:
            pg["lr"] = self.sweep_lr

    def after_step(self) -> None:
        # after_step, not after_batch: every callback's after_batch still runs for this batch (in
        # the loop's `finally`), and then fit stops
        self.lrs.append(self.sweep_lr)
        self.losses.append(self.loss.detach().item())
        # len(losses) - 1, not learn.n_iter: TrainEvalCallback counts the batch only in after_batch
        if lr_finder_should_stop(self.losses, len(self.losses) - 1, self.max_iter, self.factor):
            raise CancelTrainException()

    def begin_validate(self) -> None:
        raise CancelEpochException()  # the finder only needs training batches

    def after_fit(self) -> None:
        if self.restore and hasattr(self, "_saved"):
            _restore(self.model, self.opt, self._saved)
            del self._saved

    def plot(self, skip_last: int = 0, ax: Axes | None = None) -> Axes:
        """Loss against learning rate (log scale), leaving out the last ``skip_last`` points."""
        import matplotlib.pyplot as plt  # plotting is for pages: the training loop does not need it

        if not getattr(self, "losses", None):
            raise ValueError("LRFinder.plot: nothing recorded yet: run fit first")
        n = len(self.losses)  # at least one point is left to draw
        skip_last = checks.integer("LRFinder.plot", f"skip_last ({n} points recorded)", skip_last, min=0, max=n - 1)
        n -= skip_last
        if ax is None:
            _, ax = plt.subplots(figsize=(6, 3.5))
        ax.plot(self.lrs[:n], self.losses[:n], label="training loss (per batch)")
        ax.set_xscale("log")
        ax.set(title="Learning-rate finder", xlabel="learning rate (log scale)", ylabel="loss")
        ax.legend()
        return ax


def _snapshot(model: Any, opt: Any) -> dict[str, Any]:
    """Copies of what a learning-rate sweep changes: the weights and the optimizer's settings."""
    weights = copy.deepcopy(model.state_dict())
    groups = [{k: copy.deepcopy(v) for k, v in pg.items() if k != "params"} for pg in opt.param_groups]
    opt_state = copy.deepcopy(opt.state_dict()) if hasattr(opt, "state_dict") else None
    return {"weights": weights, "groups": groups, "opt_state": opt_state}


def _restore(model: Any, opt: Any, saved: dict[str, Any]) -> None:
    model.load_state_dict(saved["weights"])
    if saved["opt_state"] is not None:
        opt.load_state_dict(saved["opt_state"])
    for pg, kept in zip(opt.param_groups, saved["groups"]):
        pg.update(kept)
