"""The training loop with callbacks: DataBunch, Learner, Runner, Callback, and Lesson 9's callbacks.

Derived in Lesson 9, "Callbacks" (lessons/09_callbacks), and "Annealing" (lessons/09_annealing).
The training loop of "Mini-batch training" (lessons/09_minibatch) is short, but every idea we add
to it (metrics, schedules, early stopping, moving batches to a GPU, ...) would make it longer.
Instead the loop stays fixed and *announces* what it is doing: before and after each step it fires
an **event**, and small **callback** objects react to the events they care about.

The loop, and the events it fires (``Runner.fit``)::

    begin_fit
    for each epoch:
        begin_epoch                         (training pass)
        for each training batch:
            begin_batch, after_pred, after_loss, after_backward, after_step, after_batch
        begin_validate                      (validation pass, under torch.no_grad)
        for each validation batch:
            begin_batch, after_pred, after_loss, after_batch     (no backward, no step)
        after_epoch
    after_fit

Stopping. The 2019 Lesson 9 code stopped training when a callback *returned* ``True``; Lesson 10
replaced that with exceptions, and so do we: a callback raises :class:`CancelTrainException`
(stop training), :class:`CancelEpochException` (skip the rest of this pass over the data) or
:class:`CancelBatchException` (skip the rest of this batch). The loop catches each at the right
level, fires ``after_cancel_train``/``after_cancel_epoch``/``after_cancel_batch``, and carries on
from there; ``after_batch`` and ``after_fit`` always run. A callback that returns anything but
``None`` is an error, so 2019-style code cannot be silently ignored.

Shared state lives on the runner (``run.xb``, ``run.pred``, ``run.loss``, ``run.epoch``,
``run.n_epochs``, ``run.in_train``, ...). A callback *reads* it as ``self.loss`` (``Callback``
delegates unknown attributes to its runner) and *writes* it as ``self.run.loss = ...``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any, ClassVar

import matplotlib.pyplot as plt
import torch
from matplotlib.axes import Axes
from torch import Tensor

from foundations.nn import Linear, Module, ReLU, Sequential
from foundations.optim import SGD, Optimizer

__all__ = [
    "EVENTS",
    "AvgStats",
    "AvgStatsCallback",
    "Callback",
    "CancelBatchException",
    "CancelEpochException",
    "CancelTrainException",
    "DataBunch",
    "Learner",
    "ParamScheduler",
    "Recorder",
    "Runner",
    "TrainEvalCallback",
    "camel2snake",
    "get_model",
    "listify",
]

Metric = Callable[[Tensor, Tensor], Tensor]  # a loss or metric: (pred, yb) -> 0-d tensor
Sched = Callable[[float], float]  # a schedule: position in training -> value

EVENTS: tuple[str, ...] = (
    "begin_fit",
    "begin_epoch",
    "begin_batch",
    "after_pred",
    "after_loss",
    "after_backward",
    "after_step",
    "after_cancel_batch",
    "after_batch",
    "after_cancel_epoch",
    "begin_validate",
    "after_epoch",
    "after_cancel_train",
    "after_fit",
)
"""Every event :class:`Runner` fires. Derived in Lesson 9, "Callbacks" (lessons/09_callbacks)."""


# ---- small helpers ------------------------------------------------------------------------------


def listify(o: Any) -> list[Any]:
    """``o`` as a list: ``None -> []``; a list stays; a string or a single object is wrapped; an
    iterable is listed. Derived in Lesson 9, "Callbacks" (lessons/09_callbacks).

    >>> listify(None), listify(3), listify("ab"), listify((1, 2))
    ([], [3], ['ab'], [1, 2])
    """
    if o is None:
        return []
    if isinstance(o, list):
        return o
    if isinstance(o, (str, bytes, Tensor)) or not isinstance(o, Iterable):
        return [o]
    return list(o)


_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def camel2snake(name: str) -> str:
    """``"TrainEvalCallback" -> "train_eval_callback"``: a class name as an attribute name.

    An underscore goes wherever a lower-case letter or digit meets a capital, and before the last
    capital of an acronym followed by a lower-case letter (``"HTTPServer" -> "http_server"``).
    Derived in Lesson 9, "Callbacks" (lessons/09_callbacks).
    """
    if not isinstance(name, str):
        raise TypeError(f"camel2snake: expected a str, got {type(name).__name__}")
    return _CAMEL_BOUNDARY.sub("_", name).lower()


# ---- data, model, learner -----------------------------------------------------------------------


class DataBunch:
    """A training and a validation ``DataLoader``, and how many inputs and outputs a model needs.

    ``c_in`` and ``c_out`` are what a model factory needs to know: for MNIST as flat vectors,
    ``c_in=784`` and ``c_out=10`` classes. Derived in Lesson 9, "Callbacks" (lessons/09_callbacks).
    """

    def __init__(
        self, train_dl: Iterable[Any], valid_dl: Iterable[Any], c_in: int | None = None, c_out: int | None = None
    ) -> None:
        for name, dl in (("train_dl", train_dl), ("valid_dl", valid_dl)):
            if not isinstance(dl, Iterable) or not hasattr(dl, "__len__"):
                raise TypeError(
                    f"DataBunch: expected {name} to be a DataLoader (iterable, with len), got {type(dl).__name__}"
                )
        for name, c in (("c_in", c_in), ("c_out", c_out)):
            if c is not None and (isinstance(c, bool) or not isinstance(c, int) or c < 1):
                raise ValueError(f"DataBunch: expected {name} to be a positive int or None, got {c!r}")
        self.train_dl, self.valid_dl, self.c_in, self.c_out = train_dl, valid_dl, c_in, c_out

    @property
    def train_ds(self) -> Any:
        """The training ``Dataset`` (the training ``DataLoader``'s ``ds``)."""
        return self.train_dl.ds

    @property
    def valid_ds(self) -> Any:
        """The validation ``Dataset``."""
        return self.valid_dl.ds

    def __repr__(self) -> str:
        return (
            f"DataBunch({len(self.train_dl)} training batches, {len(self.valid_dl)} validation batches, "
            f"c_in={self.c_in}, c_out={self.c_out})"
        )


class Learner:
    """What training needs, in one place: a model, its optimizer, a loss function and the data.

    A plain container; :class:`Runner` does the training. Derived in Lesson 9, "Callbacks"
    (lessons/09_callbacks).
    """

    def __init__(self, model: Callable[[Tensor], Tensor], opt: Any, loss_func: Metric, data: DataBunch) -> None:
        if not callable(model):
            raise TypeError(f"Learner: expected model to be callable (a Module), got {type(model).__name__}")
        if not all(hasattr(opt, a) for a in ("step", "zero_grad", "param_groups")):
            raise TypeError(
                f"Learner: expected opt to be an optimizer (step, zero_grad, param_groups), got {type(opt).__name__}"
            )
        if not callable(loss_func):
            raise TypeError(f"Learner: expected loss_func to be callable, got {type(loss_func).__name__}")
        if not isinstance(data, DataBunch):
            raise TypeError(f"Learner: expected data to be a DataBunch, got {type(data).__name__}")
        self.model, self.opt, self.loss_func, self.data = model, opt, loss_func, data

    def __repr__(self) -> str:
        loss_name = getattr(self.loss_func, "__name__", type(self.loss_func).__name__)
        return f"Learner(model={type(self.model).__name__}, opt={type(self.opt).__name__}, loss_func={loss_name})"


def get_model(data: DataBunch, lr: float = 0.5, nh: int = 50) -> tuple[Module, Optimizer]:
    """The course's MNIST MLP, ``Linear(n_in, nh) -> ReLU -> Linear(nh, c_out)``, and SGD at ``lr``.

    ``n_in`` is the width of the training inputs (``data.train_ds.x.shape[1]``, 784 for MNIST);
    ``c_out`` comes from ``data.c_out``. Derived in Lesson 9, "Callbacks" (lessons/09_callbacks).
    """
    if not isinstance(data, DataBunch):
        raise TypeError(f"get_model: expected data to be a DataBunch, got {type(data).__name__}")
    if data.c_out is None:
        raise ValueError("get_model: expected a DataBunch with c_out (how many classes), got c_out=None")
    if isinstance(nh, bool) or not isinstance(nh, int) or nh < 1:
        raise ValueError(f"get_model: expected nh to be a positive int, got {nh!r}")
    x = data.train_ds.x
    if x.ndim != 2:
        raise ValueError(f"get_model: expected flat inputs of shape (N, n_in), got {tuple(x.shape)}")
    model = Sequential(Linear(x.shape[1], nh), ReLU(), Linear(nh, data.c_out))
    return model, SGD(model.parameters(), lr)


# ---- callbacks and the runner -------------------------------------------------------------------


class CancelTrainException(Exception):
    """Raise in a callback to stop training: ``after_cancel_train`` then ``after_fit`` fire.

    Derived in Lesson 9, "Callbacks" (lessons/09_callbacks).
    """


class CancelEpochException(Exception):
    """Raise in a callback to skip the rest of this pass over the data (training or validation).

    Raised in ``begin_epoch`` it skips that epoch's training; in ``begin_validate``, its validation.
    ``after_cancel_epoch`` fires and the loop carries on. Derived in Lesson 9, "Callbacks"
    (lessons/09_callbacks).
    """


class CancelBatchException(Exception):
    """Raise in a callback to skip the rest of this batch (no backward or step if not done yet).

    ``after_cancel_batch`` then ``after_batch`` fire. Derived in Lesson 9, "Callbacks"
    (lessons/09_callbacks).
    """


class Callback:
    """Base class of callbacks: define methods named after the events of :data:`EVENTS`.

    ``_order`` sorts callbacks (lower runs first, ties keep their order). Reading an attribute the
    callback lacks reads the runner's (``self.loss`` is ``self.run.loss``); to *change* the runner's
    state, assign to ``self.run.<name>``. ``name`` is the class name in snake case without
    "Callback": a runner stores an ``AvgStatsCallback`` as ``run.avg_stats``.
    Derived in Lesson 9, "Callbacks" (lessons/09_callbacks).
    """

    _order: ClassVar[int] = 0

    def set_runner(self, run: Runner) -> None:
        self.run = run

    def __getattr__(self, k: str) -> Any:
        # only called when normal lookup fails; never delegate dunders or `run` itself
        if k.startswith("__") or k == "run":
            raise AttributeError(k)
        run = self.__dict__.get("run")
        if run is None:
            raise AttributeError(f"{type(self).__name__} has no attribute {k!r} (and no Runner yet)")
        return getattr(run, k)

    @property
    def name(self) -> str:
        return camel2snake(re.sub(r"Callback$", "", type(self).__name__) or "callback")

    def __call__(self, event: str) -> None:
        """Run this callback's method for ``event``, if it has one."""
        f = getattr(type(self), event, None)
        if f is None:
            return
        res = f(self)
        if res is not None:
            raise TypeError(
                f"{type(self).__name__}.{event}: expected callbacks to return None, got {res!r}. "
                "To stop, raise CancelTrainException, CancelEpochException or CancelBatchException."
            )


class TrainEvalCallback(Callback):
    """Counts progress and switches the model between training and evaluation mode.

    Sets ``run.n_epochs`` (epochs done, as a float: 1.5 is halfway through the second epoch) and
    ``run.n_iter`` (training batches done), ``model.train()`` / ``model.eval()``, and
    ``run.in_train``. Every :class:`Runner` has one. Derived in Lesson 9, "Callbacks"
    (lessons/09_callbacks).
    """

    def begin_fit(self) -> None:
        self.run.n_epochs = 0.0
        self.run.n_iter = 0

    def begin_epoch(self) -> None:
        self.run.n_epochs = float(self.epoch)
        self.model.train()
        self.run.in_train = True

    def after_batch(self) -> None:
        if not self.in_train:
            return
        # computed, not accumulated, so that n_epochs / epochs is exact at every batch
        self.run.n_epochs = self.epoch + (self.iter + 1) / self.iters
        self.run.n_iter += 1

    def begin_validate(self) -> None:
        self.model.eval()
        self.run.in_train = False


def _check_callback(cb: object, source: str) -> Callback:
    if not isinstance(cb, Callback):
        raise TypeError(f"Runner: expected {source} to give Callback objects, got {type(cb).__name__}")
    unknown = [a for a in dir(type(cb)) if re.match(r"(begin|after)_", a) and a not in EVENTS]
    if unknown:
        raise ValueError(
            f"Runner: {type(cb).__name__} defines {unknown}, which are not events; the events are {list(EVENTS)}"
        )
    return cb


class Runner:
    """The training loop: ``Runner(cbs, cb_funcs).fit(epochs, learn)`` fires :data:`EVENTS`.

    ``cbs`` are callback objects; ``cb_funcs`` are functions (or classes, or ``partial`` s) that make
    them. A :class:`TrainEvalCallback` always comes first. Each callback is also an attribute of the
    runner under its ``name`` (``run.avg_stats``, ``run.recorder``). See the module docstring for
    the loop and for how a callback stops it.
    Derived in Lesson 9, "Callbacks" (lessons/09_callbacks).
    """

    def __init__(
        self,
        cbs: Callback | Sequence[Callback] | None = None,
        cb_funcs: Callable[[], Callback] | Sequence[Callable[[], Callback]] | None = None,
    ) -> None:
        cbs = [_check_callback(cb, "cbs") for cb in listify(cbs)]
        cbs += [_check_callback(f(), "cb_funcs") for f in listify(cb_funcs)]
        self.cbs: list[Callback] = [TrainEvalCallback(), *cbs]
        for cb in self.cbs:
            if hasattr(self, cb.name) or cb.name in ("opt", "model", "loss_func", "data"):
                raise ValueError(
                    f"Runner: a callback named {cb.name!r} ({type(cb).__name__}) clashes with an attribute "
                    "or another callback"
                )
            setattr(self, cb.name, cb)
        self.learn: Learner | None = None
        self.in_train = False

    def _learner(self) -> Learner:
        if self.learn is None:
            raise AttributeError("Runner: there is no Learner outside fit(epochs, learn)")
        return self.learn

    @property
    def opt(self) -> Any:
        return self._learner().opt

    @property
    def model(self) -> Any:
        return self._learner().model

    @property
    def loss_func(self) -> Callable[[Tensor, Tensor], Tensor]:
        return self._learner().loss_func

    @property
    def data(self) -> DataBunch:
        return self._learner().data

    def __call__(self, event: str) -> None:
        """Fire ``event``: call each callback's method for it, in ``_order``."""
        for cb in sorted(self.cbs, key=lambda cb: cb._order):
            cb(event)

    def one_batch(self, xb: Tensor, yb: Tensor) -> None:
        """Predict, compute the loss and, when training, backpropagate and step; fire events between."""
        try:
            self.xb, self.yb = xb, yb
            self("begin_batch")
            self.pred = self.model(self.xb)
            self("after_pred")
            self.loss = self.loss_func(self.pred, self.yb)
            self("after_loss")
            if not self.in_train:
                return
            self.loss.backward()
            self("after_backward")
            self.opt.step()
            self("after_step")
        except CancelBatchException:
            self("after_cancel_batch")
        finally:
            if self.in_train:
                self.opt.zero_grad()  # even after a cancelled batch: no gradient leaks into the next
            self("after_batch")

    def all_batches(self, dl: Iterable[tuple[Tensor, Tensor]], event: str) -> None:
        """Fire ``event`` (``begin_epoch`` or ``begin_validate``), then run every batch of ``dl``.

        :class:`CancelEpochException` ends the pass early and fires ``after_cancel_epoch``.
        """
        try:
            self.iters = len(dl)
            self(event)
            for self.iter, (xb, yb) in enumerate(dl):
                self.one_batch(xb, yb)
        except CancelEpochException:
            self("after_cancel_epoch")

    def fit(self, epochs: int, learn: Learner) -> None:
        """Train ``learn`` for ``epochs`` epochs, each a training pass and a validation pass."""
        if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
            raise ValueError(f"Runner.fit: expected epochs to be a positive int, got {epochs!r}")
        if not isinstance(learn, Learner):
            raise TypeError(f"Runner.fit: expected learn to be a Learner, got {type(learn).__name__}")
        self.epochs, self.learn, self.loss = epochs, learn, torch.tensor(0.0)
        try:
            for cb in self.cbs:
                cb.set_runner(self)
            self("begin_fit")
            for epoch in range(epochs):
                self.epoch = epoch
                self.all_batches(self.data.train_dl, "begin_epoch")
                with torch.no_grad():
                    self.all_batches(self.data.valid_dl, "begin_validate")
                self("after_epoch")
        except CancelTrainException:
            self("after_cancel_train")
        finally:
            self("after_fit")
            self.learn = None


# ---- metrics ------------------------------------------------------------------------------------


class AvgStats:
    """The loss and metrics averaged over one pass of the data, each batch weighted by its size.

    After batches of sizes ``n_b`` with mean losses ``l_b``, the average loss is
    ``sum_b n_b l_b / sum_b n_b``, the mean over every sample, even when the last batch is smaller.
    ``metrics`` are functions ``metric(pred, yb)`` returning a batch mean, like
    :func:`foundations.losses.accuracy`. Derived in Lesson 9, "Callbacks" (lessons/09_callbacks).
    """

    def __init__(self, metrics: Metric | Sequence[Metric], in_train: bool) -> None:
        self.metrics = listify(metrics)
        for m in self.metrics:
            if not callable(m):
                raise TypeError(f"AvgStats: expected metrics to be functions of (pred, yb), got {type(m).__name__}")
        self.in_train = in_train
        self.reset()

    def reset(self) -> None:
        self.tot_loss, self.count = 0.0, 0
        self.tot_mets = [0.0] * len(self.metrics)

    @property
    def names(self) -> list[str]:
        return ["loss"] + [getattr(m, "__name__", type(m).__name__) for m in self.metrics]

    @property
    def all_stats(self) -> list[float]:
        """The running sums: ``[sum of n_b * loss_b, sum of n_b * metric_b, ...]``."""
        return [self.tot_loss, *self.tot_mets]

    @property
    def avg_stats(self) -> list[float]:
        """``[average loss, average metric, ...]``; NaN before the first batch."""
        return [s / self.count if self.count else math.nan for s in self.all_stats]

    def accumulate(self, run: Runner) -> None:
        """Add ``run``'s current batch: its size, loss and metrics."""
        bn = run.xb.shape[0]
        self.count += bn
        self.tot_loss += run.loss.item() * bn
        for i, m in enumerate(self.metrics):
            self.tot_mets[i] += float(m(run.pred, run.yb)) * bn

    def __repr__(self) -> str:
        mode = "train" if self.in_train else "valid"
        if not self.count:
            return f"{mode}: no batches yet"
        return f"{mode}: " + ", ".join(f"{n} {v:.4f}" for n, v in zip(self.names, self.avg_stats))


class AvgStatsCallback(Callback):
    """Averages the loss and ``metrics`` over each epoch's training and validation passes; prints them.

    ``run.avg_stats.train_stats`` and ``run.avg_stats.valid_stats`` are :class:`AvgStats`.
    Derived in Lesson 9, "Callbacks" (lessons/09_callbacks).
    """

    def __init__(self, metrics: Metric | Sequence[Metric], verbose: bool = True) -> None:
        self.train_stats = AvgStats(metrics, True)
        self.valid_stats = AvgStats(metrics, False)
        self.verbose = verbose

    def begin_epoch(self) -> None:
        self.train_stats.reset()
        self.valid_stats.reset()

    def after_loss(self) -> None:
        stats = self.train_stats if self.in_train else self.valid_stats
        with torch.no_grad():
            stats.accumulate(self.run)

    def after_epoch(self) -> None:
        if self.verbose:
            print(f"epoch {self.epoch + 1}: {self.train_stats} | {self.valid_stats}")


# ---- recording and scheduling hyper-parameters --------------------------------------------------


class Recorder(Callback):
    """Records, for every training batch, the learning rate of each parameter group and the loss.

    ``lrs[i]`` is the list of learning rates of parameter group ``i``; ``losses`` the list of
    training losses, as floats. Derived in Lesson 9, "Annealing" (lessons/09_annealing).
    """

    def begin_fit(self) -> None:
        self.lrs: list[list[float]] = [[] for _ in self.opt.param_groups]
        self.losses: list[float] = []

    def after_batch(self) -> None:
        if not self.in_train:
            return
        for pg, lrs in zip(self.opt.param_groups, self.lrs):
            lrs.append(float(pg["lr"]))
        self.losses.append(self.loss.detach().item())

    def plot_lr(self, pgid: int = -1, ax: Axes | None = None, label: str | None = None) -> Axes:
        """Plot the learning rate of parameter group ``pgid`` (default: the last) against the batch.

        Draws on ``ax`` (a new figure if ``None``) with the legend entry ``label``; returns the axes.
        """
        if not hasattr(self, "lrs"):
            raise ValueError("Recorder.plot_lr: nothing recorded yet: run fit first")
        n = len(self.lrs)
        if isinstance(pgid, bool) or not isinstance(pgid, int) or not -n <= pgid < n:
            raise ValueError(
                f"Recorder.plot_lr: expected pgid in [{-n}, {n}) for {n} parameter groups, got {pgid!r}"
            )
        if ax is None:
            _, ax = plt.subplots(figsize=(6, 3.5))
        ax.plot(self.lrs[pgid], label=label or f"parameter group {pgid % n}")
        ax.set(title="Learning rate during training", xlabel="training batch", ylabel="learning rate")
        ax.legend()
        return ax

    def plot_loss(self, ax: Axes | None = None, label: str | None = None) -> Axes:
        """Plot the training loss of every batch on ``ax`` (new figure if ``None``); return the axes."""
        if not hasattr(self, "losses"):
            raise ValueError("Recorder.plot_loss: nothing recorded yet: run fit first")
        if ax is None:
            _, ax = plt.subplots(figsize=(6, 3.5))
        ax.plot(self.losses, label=label or "training loss (per batch)")
        ax.set(title="Training loss", xlabel="training batch", ylabel="loss")
        ax.legend()
        return ax


class ParamScheduler(Callback):
    """Before every training batch, sets hyper-parameter ``pname`` of each parameter group by schedule.

    ``sched_funcs`` is one schedule (used for every group) or a list with one per parameter group;
    a schedule is a function of ``pos = n_epochs / epochs`` in [0, 1) (see
    :mod:`foundations.schedule`). Derived in Lesson 9, "Annealing" (lessons/09_annealing).
    """

    _order = 1

    def __init__(self, pname: str, sched_funcs: Sched | Sequence[Sched]) -> None:
        if not isinstance(pname, str):
            raise TypeError(f"ParamScheduler: expected pname to be a str such as 'lr', got {type(pname).__name__}")
        for f in listify(sched_funcs):
            if not callable(f):
                raise TypeError(f"ParamScheduler: expected schedules (functions of pos), got {type(f).__name__}")
        self.pname, self.sched_funcs = pname, sched_funcs

    def begin_fit(self) -> None:
        pgs = self.opt.param_groups
        one_each = isinstance(self.sched_funcs, (list, tuple))
        funcs = list(self.sched_funcs) if one_each else [self.sched_funcs] * len(pgs)
        if len(funcs) != len(pgs):
            raise ValueError(
                f"ParamScheduler: expected one schedule per parameter group ({len(pgs)}), got {len(funcs)}"
            )
        for i, pg in enumerate(pgs):
            if self.pname not in pg:
                raise ValueError(
                    f"ParamScheduler: expected parameter group {i} to have {self.pname!r}, got keys {sorted(pg)}"
                )
        self.funcs = funcs

    def set_param(self) -> None:
        pos = self.n_epochs / self.epochs
        for pg, f in zip(self.opt.param_groups, self.funcs):
            pg[self.pname] = f(pos)

    def begin_batch(self) -> None:
        if self.in_train:
            self.set_param()
