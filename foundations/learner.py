"""The training loop with callbacks, in its final form: ``Learner``, ``Callback``, the events.

Derived in Lesson 9, "Callbacks" (lessons/09_callbacks), where the course builds it as a ``Runner``
beside a ``Learner`` container, and refactored into one ``Learner`` the way the 2019 course did in
its notebook 09b (told in Lesson 11). Every idea added to training (metrics, schedules, early
stopping, devices, mixed precision, ...) is a small **callback** reacting to the **events** the
loop announces; the loop itself never changes.

Built on ``torch.nn``: ``model`` is any callable module (a ``torch.nn.Module`` in the library; Lesson
9's hand-written :class:`foundations.nn.Module` works too), and the optimizer is whatever
``opt_func(param_groups, lr)`` returns (:class:`foundations.optim.SGD`, ``torch.optim.SGD``, ...).

The loop, and the events it fires (:meth:`Learner.fit`)::

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

**Stopping** is by exception, one per level, each caught where it belongs:
:class:`CancelTrainException` (stop training; ``after_cancel_train``), :class:`CancelEpochException`
(skip the rest of this pass; ``after_cancel_epoch``), :class:`CancelBatchException` (skip the rest of
this batch; ``after_cancel_batch``) and :class:`CancelStepException` (raised in ``after_backward``:
skip this batch's optimizer step, e.g. when mixed precision finds an overflow; ``after_cancel_step``).
``after_batch`` and ``after_fit`` always run, and gradients are always cleared after a training
batch, so a skipped step never leaks stale gradients into the next one. **A callback returns
nothing**: any other return value is an error (the 2019 loop stopped on ``True`` in Lesson 9 and
silently ignored return values after its 09b refactor).

**State** lives on the learner: ``learn.xb``, ``learn.yb``, ``learn.pred``, ``learn.loss``,
``learn.epoch``, ``learn.epochs``, ``learn.iter``, ``learn.iters``, ``learn.in_train``,
``learn.n_epochs``, ``learn.n_iter``, ``learn.model``, ``learn.opt``, ... (:data:`LEARNER_STATE`). A
callback *reads* it as ``self.loss`` (it delegates to ``self.learn``) and *writes* it as
``self.learn.xb = ...``; ``self.xb = ...`` in a callback raises instead of silently setting an
attribute of the callback that the loop never reads.

**Order.** Within an event, callbacks run in the order of their ``order`` (lowest first, ties in
the order they were added). The values are named in one table, :class:`Order`.

**Hyper-parameters.** A callback that sets a hyper-parameter of the optimizer names it in
:attr:`Callback.sets` (``ParamScheduler("lr", ...)`` and ``LRFinder`` set ``"lr"``); two callbacks
of one ``fit`` that set the same one are refused before training starts.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any, ClassVar

import torch
from torch import Tensor

from foundations import checks
from foundations.optim import SGD

__all__ = [
    "EVENTS",
    "LEARNER_STATE",
    "Callback",
    "CancelBatchException",
    "CancelEpochException",
    "CancelStepException",
    "CancelTrainException",
    "Learner",
    "Order",
    "TrainEvalCallback",
    "all_params",
    "camel2snake",
    "listify",
]

Metric = Callable[[Tensor, Tensor], Tensor]  # a loss or metric: (pred, yb) -> 0-d tensor

EVENTS: tuple[str, ...] = (
    "begin_fit",
    "begin_epoch",
    "begin_batch",
    "after_pred",
    "after_loss",
    "after_backward",
    "after_cancel_step",
    "after_step",
    "after_cancel_batch",
    "after_batch",
    "after_cancel_epoch",
    "begin_validate",
    "after_epoch",
    "after_cancel_train",
    "after_fit",
)
"""Every event :class:`Learner` fires. Derived in Lesson 9, "Callbacks" (lessons/09_callbacks)."""

LEARNER_STATE: frozenset[str] = frozenset(
    {
        "model", "data", "loss_func", "opt", "opt_func", "lr", "splitter", "cbs",
        "xb", "yb", "pred", "loss", "epoch", "epochs", "iter", "iters", "in_train", "n_epochs", "n_iter",
    }
)
"""The learner's attributes a callback reads through ``self`` but may only write as ``self.learn.<name>``.

Derived in Lesson 9, "Callbacks" (lessons/09_callbacks)."""


class Order:
    """The one table of callback orders: within an event, lower runs first.

    ======================  =====  ===========================================================
    name                    value  who, and why there
    ======================  =====  ===========================================================
    ``DEVICE``              -20    :class:`~foundations.callbacks.DeviceCallback`: the batch is
                                   on the device before anyone reads it
    ``DISTRIBUTED``         -15    :class:`~foundations.perf.DistributedTrainer`: wraps the
                                   model in DDP once it is on its device, shards the data
                                   before anything counts or reads a batch
    ``TRAIN_EVAL``          -10    :class:`TrainEvalCallback`: counts progress, switches
                                   train/eval, before the callbacks that read the counts
    ``DEFAULT``             0      everything else: metrics, the recorder, hooks, early stops
    ``HYPER``               10     :class:`~foundations.callbacks.ParamScheduler`,
                                   :class:`~foundations.callbacks.LRFinder`: set
                                   hyper-parameters before the step
    ``REGULARIZE``          15     :class:`~foundations.text.RNNRegularizer`: adds AR and TAR to
                                   the training loss after the metrics read the plain loss
    ``TRANSFORM``           20     :class:`~foundations.callbacks.BatchTransformCallback`:
                                   reshapes the batch, on the device, last before the model
    ``MIXUP``               22     :class:`~foundations.callbacks.MixUp`: mixes the batch once
                                   it is transformed (normalised) and before the model sees it
    ``PRECISION``           25     :class:`~foundations.callbacks.MixedPrecision`,
                                   :class:`~foundations.callbacks.AutocastCallback`: the
                                   final batch in the model's precision; scale the loss
    ``CLIP``                27     :class:`~foundations.callbacks.GradientClipping`: clips the
                                   gradients once precision has unscaled them
    ``PROGRESS``            30     :class:`~foundations.callbacks.ProgressCallback`: draws the
                                   bars and writes the metrics the others computed, last
    ======================  =====  ===========================================================

    Derived in Lesson 9, "Callbacks" (lessons/09_callbacks); the table is Lesson 11's refactor.
    """

    DEVICE: ClassVar[int] = -20
    DISTRIBUTED: ClassVar[int] = -15
    TRAIN_EVAL: ClassVar[int] = -10
    DEFAULT: ClassVar[int] = 0
    HYPER: ClassVar[int] = 10
    REGULARIZE: ClassVar[int] = 15
    TRANSFORM: ClassVar[int] = 20
    MIXUP: ClassVar[int] = 22
    PRECISION: ClassVar[int] = 25
    CLIP: ClassVar[int] = 27
    PROGRESS: ClassVar[int] = 30


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


# ---- stopping -----------------------------------------------------------------------------------


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


class CancelStepException(Exception):
    """Raise in ``after_backward`` to skip this batch's optimizer step; ``after_cancel_step`` fires.

    The gradients are cleared as after every training batch, so nothing stale reaches the next
    step. Mixed precision (Lesson 12) skips a step whose gradients overflowed this way.
    Derived in Lesson 9, "Callbacks" (lessons/09_callbacks), where the loop's exceptions are built;
    the course added this one in Lesson 11's refactor (the 2019 notebook 09b).
    """


# ---- callbacks ----------------------------------------------------------------------------------


class Callback:
    """Base class of callbacks: define methods named after the events of :data:`EVENTS`.

    ``order`` places it among the others (see :class:`Order`); ``sets`` names the optimizer
    hyper-parameters it sets (two callbacks setting the same one are refused). Reading an
    attribute the callback lacks reads the learner's (``self.loss`` is ``self.learn.loss``);
    writing one of the learner's (:data:`LEARNER_STATE`) must say so, ``self.learn.xb = ...``.
    ``name`` is the class name in snake case without "Callback": a learner stores an
    ``AvgStatsCallback`` as ``learn.avg_stats``. Methods return ``None``.
    Derived in Lesson 9, "Callbacks" (lessons/09_callbacks).
    """

    order: ClassVar[int] = Order.DEFAULT
    learn: Learner

    @property
    def sets(self) -> tuple[str, ...]:
        """The optimizer hyper-parameters this callback sets (``("lr",)``); none by default."""
        return ()

    def __getattr__(self, k: str) -> Any:
        # only called when normal lookup fails; never delegate dunders or `learn` itself
        if k.startswith("__") or k == "learn":
            raise AttributeError(k)
        learn = self.__dict__.get("learn")
        if learn is None:
            raise AttributeError(f"{type(self).__name__} has no attribute {k!r} (and no Learner yet)")
        return getattr(learn, k)

    def __setattr__(self, k: str, value: Any) -> None:
        if k in LEARNER_STATE:
            raise AttributeError(
                f"{type(self).__name__}: `self.{k} = ...` would set an attribute of the callback, which "
                f"the training loop never reads; to change the learner's {k}, write `self.learn.{k} = ...`"
            )
        object.__setattr__(self, k, value)

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
                "To stop or skip, raise CancelTrainException, CancelEpochException, "
                "CancelBatchException or CancelStepException."
            )


class TrainEvalCallback(Callback):
    """Counts progress and switches the model between training and evaluation mode.

    Sets ``learn.n_epochs`` (epochs done, as a float: 1.5 is halfway through the second epoch) and
    ``learn.n_iter`` (training batches done), ``model.train()`` / ``model.eval()``, and
    ``learn.in_train``. Every :class:`Learner` has one. Derived in Lesson 9, "Callbacks"
    (lessons/09_callbacks).
    """

    order = Order.TRAIN_EVAL

    def begin_fit(self) -> None:
        self.learn.n_epochs = 0.0
        self.learn.n_iter = 0

    def begin_epoch(self) -> None:
        self.learn.n_epochs = float(self.epoch)
        self.model.train()
        self.learn.in_train = True

    def after_batch(self) -> None:
        if not self.in_train:
            return
        # computed, not accumulated, so that n_epochs / epochs is exact at every batch
        self.learn.n_epochs = self.epoch + (self.iter + 1) / self.iters
        self.learn.n_iter += 1

    def begin_validate(self) -> None:
        self.model.eval()
        self.learn.in_train = False


def _check_callback(cb: object, where: str) -> Callback:
    if isinstance(cb, type) and issubclass(cb, Callback):
        raise TypeError(f"Learner: expected {where} to hold Callback objects, got the class {cb.__name__}: call it")
    if not isinstance(cb, Callback):
        raise TypeError(f"Learner: expected {where} to hold Callback objects, got {type(cb).__name__}")
    unknown = [a for a in dir(type(cb)) if re.match(r"(begin|after)_", a) and a not in EVENTS]
    if unknown:
        raise ValueError(
            f"Learner: {type(cb).__name__} defines {unknown}, which are not events; the events are {list(EVENTS)}"
        )
    return cb


def all_params(model: Any) -> list[dict[str, Any]]:
    """The default parameter splitter: every parameter of ``model`` in one group, ``[{"params": [...]}]``.

    A splitter turns a model into the parameter groups its optimizer gets; another one gives parts
    of the model their own hyper-parameters. Derived in Lesson 9, "Annealing" (lessons/09_annealing).
    """
    return [{"params": list(model.parameters())}]


# ---- the learner --------------------------------------------------------------------------------


class Learner:
    """A model, its data, a loss function and how to make its optimizer; ``fit`` trains it.

    - ``model``: a callable module with ``parameters()`` (a ``torch.nn.Module``);
    - ``data``: anything with ``train_dl`` and ``valid_dl`` (a :class:`foundations.data.DataBunch`);
    - ``loss_func(pred, yb)``: a 0-d tensor;
    - ``opt_func(param_groups, lr)``: the optimizer, made at the first ``fit`` (again with
      ``reset_opt=True``) from ``splitter(model)``, a list of parameter groups (one group of every
      parameter by default; Lesson 12's discriminative learning rates split it);
    - ``cbs``: callbacks kept for every ``fit``; ``fit(epochs, cbs=...)`` adds some for one call.

    Each callback is an attribute under its ``name`` (``learn.recorder``) while it belongs to the
    learner. See the module's docstring for the loop, stopping, state, order and hyper-parameters.
    Derived in Lesson 9, "Callbacks" (lessons/09_callbacks), in the form of Lesson 11's refactor.
    """

    def __init__(
        self,
        model: Any,
        data: Any,
        loss_func: Metric,
        opt_func: Callable[..., Any] = SGD,
        lr: float = 1e-2,
        splitter: Callable[[Any], Sequence[Any]] = all_params,
        cbs: Callback | Sequence[Callback] | None = None,
    ) -> None:
        if not callable(model) or not hasattr(model, "parameters"):
            raise TypeError(f"Learner: expected model to be a module (callable, with parameters()), got {type(model).__name__}")
        for name in ("train_dl", "valid_dl"):
            if not hasattr(data, name):
                raise TypeError(f"Learner: expected data to have train_dl and valid_dl (a DataBunch), got {type(data).__name__}")
        for name, f in (("loss_func", loss_func), ("opt_func", opt_func), ("splitter", splitter)):
            if not callable(f):
                raise TypeError(f"Learner: expected {name} to be callable, got {type(f).__name__}")
        lr = checks.real("Learner", "lr", lr, positive=True)
        self.model, self.data, self.loss_func = model, data, loss_func
        self.opt_func, self.lr, self.splitter = opt_func, lr, splitter
        self.opt: Any = None
        self.in_train = False
        self.cbs: list[Callback] = []
        self.add_cbs([TrainEvalCallback(), *listify(cbs)])

    # -- callbacks -------------------------------------------------------------------------------

    def add_cbs(self, cbs: Callback | Sequence[Callback]) -> list[Callback]:
        """Add callbacks to the learner; each becomes ``learn.<its name>``. Returns those added.

        All are checked before any is added, so a refused one leaves the learner as it was; a
        callback the learner already has is not added again (it would run twice per event).
        """
        new: list[Callback] = []
        for cb in listify(cbs):
            cb = _check_callback(cb, "cbs")
            if cb not in self.cbs and cb not in new:
                new.append(cb)
        self._check_hypers([*self.cbs, *new])
        names: dict[str, Callback] = {}
        for cb in new:
            taken = cb.name in names or (hasattr(self, cb.name) and getattr(self, cb.name) is not cb)
            if cb.name in LEARNER_STATE or taken:
                raise ValueError(
                    f"Learner: a callback named {cb.name!r} ({type(cb).__name__}) clashes with an attribute "
                    "of the learner or another callback"
                )
            names[cb.name] = cb
        for cb in new:
            object.__setattr__(cb, "learn", self)
            setattr(self, cb.name, cb)
            self.cbs.append(cb)
        return new

    def remove_cbs(self, cbs: Callback | Sequence[Callback]) -> None:
        """Take callbacks off the learner (the :class:`TrainEvalCallback` stays)."""
        for cb in listify(cbs):
            if isinstance(cb, TrainEvalCallback):
                raise ValueError("Learner: the TrainEvalCallback is part of every learner; it cannot be removed")
            if cb in self.cbs:
                self.cbs.remove(cb)
                if self.__dict__.get(cb.name) is cb:
                    delattr(self, cb.name)

    def _check_hypers(self, cbs: Sequence[Callback]) -> None:
        setters: dict[str, Callback] = {}
        for cb in cbs:
            for hp in cb.sets:
                if hp in setters:
                    raise ValueError(
                        f"Learner: {type(setters[hp]).__name__} and {type(cb).__name__} both set {hp!r}; "
                        "use one of them per fit (e.g. run the LRFinder in its own fit, then schedule)"
                    )
                setters[hp] = cb

    def __call__(self, event: str) -> None:
        """Fire ``event``: call each callback's method for it, in ``order``."""
        for cb in sorted(self.cbs, key=lambda cb: cb.order):
            cb(event)

    # -- the loop --------------------------------------------------------------------------------

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
            try:
                self("after_backward")
            except CancelStepException:
                self("after_cancel_step")
            else:
                self.opt.step()
                self("after_step")
        except CancelBatchException:
            self("after_cancel_batch")
        except CancelStepException:
            raise RuntimeError(
                "Learner: CancelStepException skips the optimizer step, so it belongs in after_backward; "
                "raised in another event there is no step left to skip (to skip the batch, raise "
                "CancelBatchException)"
            ) from None
        finally:
            if self.in_train:
                self.opt.zero_grad()  # after every training batch, cancelled or not: nothing leaks
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

    def fit(self, epochs: int, cbs: Callback | Sequence[Callback] | None = None, reset_opt: bool = False) -> None:
        """Train for ``epochs`` epochs, each a training pass and a validation pass.

        ``cbs`` are callbacks for this call only; ``reset_opt=True`` makes a fresh optimizer.
        """
        epochs = checks.positive_int("Learner.fit", "epochs", epochs)
        reset_opt = checks.boolean("Learner.fit", "reset_opt", reset_opt)
        extra = self.add_cbs(cbs)
        try:
            if self.opt is None or reset_opt:
                self.opt = self.opt_func(self.splitter(self.model), self.lr)
            self.epochs, self.loss = epochs, torch.tensor(0.0)
            try:
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
        finally:
            self.remove_cbs(extra)

    def __repr__(self) -> str:
        loss_name = getattr(self.loss_func, "__name__", type(self.loss_func).__name__)
        names = ", ".join(type(cb).__name__ for cb in self.cbs)
        return f"Learner(model={type(self.model).__name__}, loss_func={loss_name}, lr={self.lr:g}, cbs=[{names}])"
