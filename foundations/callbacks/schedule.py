"""Setting a hyper-parameter by schedule, batch after batch.

Derived in Lesson 9, "Annealing" (lessons/09_annealing); the schedules themselves are
:mod:`foundations.schedule`. It touches only the optimizer's parameter groups, so it works with
any model the :class:`~foundations.learner.Learner` trains (``torch.nn`` or Lesson 9's ``foundations.nn``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from foundations.learner import Callback, Order, listify

__all__ = ["ParamScheduler"]

Sched = Callable[[float], float]  # a schedule: position in training -> value


class ParamScheduler(Callback):
    """Before every training batch, sets hyper-parameter ``pname`` of each parameter group by schedule.

    ``sched_funcs`` is one schedule (used for every group) or a list with one per parameter group;
    a schedule is a function of ``pos = n_epochs / epochs`` in [0, 1) (see
    :mod:`foundations.schedule`). It sets ``pname`` (``Order.HYPER``): a learner refuses two
    callbacks that set the same hyper-parameter in one ``fit``.
    Derived in Lesson 9, "Annealing" (lessons/09_annealing).
    """

    order = Order.HYPER

    def __init__(self, pname: str, sched_funcs: Sched | Sequence[Sched]) -> None:
        if not isinstance(pname, str):
            raise TypeError(f"ParamScheduler: expected pname to be a str such as 'lr', got {type(pname).__name__}")
        for f in listify(sched_funcs):
            if not callable(f):
                raise TypeError(f"ParamScheduler: expected schedules (functions of pos), got {type(f).__name__}")
        self.pname, self.sched_funcs = pname, sched_funcs

    @property
    def sets(self) -> tuple[str, ...]:
        return (self.pname,)

    @property
    def name(self) -> str:
        """``param_scheduler_lr`` for ``ParamScheduler("lr", ...)``: schedulers of two hyper-parameters fit together."""
        return f"param_scheduler_{self.pname}"

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
