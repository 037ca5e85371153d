"""Optimizers: one generic optimizer built from steppers and statistics, and the usual recipes.

Derived in Lesson 9, "Mini-batch training" (lessons/09_minibatch). The training loop's update,

    for p in model.parameters(): p -= lr * p.grad

moves into :meth:`SGD.step`, and resetting the gradients into :meth:`Optimizer.zero_grad`.
Like ``torch.optim``, hyper-parameters live in ``param_groups``: a list of dicts, each with the key
``'params'`` (a list of tensors) and its own ``'lr'``. A scheduler changes the learning rate by
writing ``pg['lr']`` for every ``pg`` in ``opt.param_groups``; giving different groups different
rates is how later lessons train parts of a model at different speeds. :class:`SGD` is checked
step for step against ``torch.optim.SGD`` in the tests.

Lesson 11 generalises the step. Every optimizer of the course (momentum, Adam, LAMB, with L2
regularisation or decoupled weight decay) is the same loop over the parameters; only two kinds of
small pieces change:

- **statistics**, objects with ``init_state(p)`` (the per-parameter state they keep, as a dict) and
  ``update(p, state, **hyper)`` (change that state from ``p.grad``): a running average of the
  gradients, of their squares, a count of steps;
- **steppers**, functions ``stepper(p, **hyper_and_state)`` that change ``p`` using its gradient,
  the hyper-parameters of its group and the state the statistics keep.

``Optimizer(params, steppers, stats, **defaults)`` runs, for each parameter that has a gradient,
first every statistic's ``update`` in order, then every stepper in order. Each piece declares the
hyper-parameters it reads, with defaults, in ``_defaults``; the optimizer merges them into every
parameter group, where schedulers can change them between steps. :func:`sgd_opt`, :func:`adam_opt`
and :func:`lamb_opt` assemble the usual optimizers; the tests check the first two step for step
against ``torch.optim.SGD``, ``Adam`` and ``AdamW``, and LAMB against the paper's algorithm.

No ``Module`` base: an optimizer takes tensors, from ``torch.nn.Module.parameters()`` (the library's
models) or from the hand-written ``foundations.nn.Module.parameters()`` of Lesson 9 alike.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import torch
from torch import Tensor

from foundations import checks

__all__ = [
    "SGD",
    "AverageGrad",
    "AverageSqrGrad",
    "L2Reg",
    "Optimizer",
    "Stat",
    "StepCount",
    "adam_opt",
    "adam_step",
    "debias",
    "lamb_opt",
    "lamb_step",
    "momentum_step",
    "nesterov_step",
    "sgd_opt",
    "sgd_step",
    "weight_decay",
]

F = TypeVar("F", bound=Callable[..., None])


def _hypers(**defaults: float) -> Callable[[F], F]:
    """Attach ``_defaults`` (the hyper-parameters a stepper reads, and their defaults) to a stepper."""

    def attach(f: F) -> F:
        f._defaults = dict(defaults)  # type: ignore[attr-defined]
        return f

    return attach


# ---- statistics --------------------------------------------------------------------------------


class Stat:
    """A statistic: per-parameter state that :meth:`Optimizer.step` updates before the steppers run.

    ``init_state(p)`` returns the state's starting dict (tensors shaped like ``p``, counts);
    ``update(p, state, **hyper)`` changes it in place from ``p.grad`` and the group's
    hyper-parameters. ``_defaults`` names the hyper-parameters it reads, with their defaults.
    Derived in Lesson 11, "A generic optimizer" (lessons/11_optimizers), which generalises
    Lesson 9's SGD.
    """

    _defaults: dict[str, Any] = {}

    def init_state(self, p: Tensor) -> dict[str, Any]:
        return {}

    def update(self, p: Tensor, state: dict[str, Any], **hyper: Any) -> None:
        raise NotImplementedError(f"{type(self).__name__} is a statistic without update: define update(p, state, **hyper)")

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"



class L2Reg(Stat):
    """L2 regularisation: add ``wd * p`` to the gradient, ``grad <- grad + wd * p``, before anything reads it.

    The gradient of ``wd/2 * ||p||^2`` added to the loss. It is a statistic, not a stepper, so that
    it runs first and the averages of the gradient (momentum, Adam's moments) see the regularised
    gradient, as in ``torch.optim.SGD(weight_decay=...)`` and ``torch.optim.Adam(weight_decay=...)``.
    It changes ``p.grad`` in place (the learner clears gradients after every step anyway). Compare
    :func:`weight_decay`, which acts on the weights directly.
    Derived in Lesson 11, "A generic optimizer" (lessons/11_optimizers), which generalises
    Lesson 9's SGD.
    """

    _defaults = {"wd": 0.0}

    def update(self, p: Tensor, state: dict[str, Any], wd: float, **_: Any) -> None:
        if wd != 0:
            assert p.grad is not None
            p.grad.add_(p, alpha=wd)


class AverageGrad(Stat):
    """A running average of the gradients, ``grad_avg``: momentum's buffer or Adam's first moment.

    ``dampened=False`` (SGD momentum, as ``torch.optim.SGD``): the average starts at the first
    gradient, then ``grad_avg <- mom * grad_avg + (1 - dampening) * grad`` (``dampening`` is 0 by
    default, so it is a sum that forgets old gradients geometrically).
    ``dampened=True`` (Adam): ``grad_avg <- mom * grad_avg + (1 - mom) * grad``, starting at 0, an
    exponentially weighted mean that :func:`debias` corrects for its start at 0.
    Derived in Lesson 11, "A generic optimizer" (lessons/11_optimizers), which generalises
    Lesson 9's SGD.
    """

    def __init__(self, dampened: bool = False) -> None:
        self.dampened = checks.boolean("AverageGrad", "dampened", dampened)
        self._defaults = {"mom": 0.9} if dampened else {"mom": 0.9, "dampening": 0.0}

    def init_state(self, p: Tensor) -> dict[str, Any]:
        if self.dampened:
            return {"grad_avg": torch.zeros_like(p, memory_format=torch.preserve_format)}
        return {"grad_avg": None}  # torch's rule: the buffer starts as the first gradient

    def update(self, p: Tensor, state: dict[str, Any], mom: float, dampening: float = 0.0, **_: Any) -> None:
        assert p.grad is not None
        avg = state["grad_avg"]
        if self.dampened:
            avg.mul_(mom).add_(p.grad, alpha=1 - mom)
        elif avg is None:
            state["grad_avg"] = p.grad.detach().clone()
        else:
            avg.mul_(mom).add_(p.grad, alpha=1 - dampening)

    def __repr__(self) -> str:
        return f"AverageGrad(dampened={self.dampened})"


class AverageSqrGrad(Stat):
    """A running mean of the squared gradients, ``sqr_avg <- sqr_mom * sqr_avg + (1 - sqr_mom) * grad**2``.

    Adam's second moment (``beta2`` is ``sqr_mom``), starting at 0; :func:`debias` corrects it.
    Derived in Lesson 11, "A generic optimizer" (lessons/11_optimizers), which generalises
    Lesson 9's SGD.
    """

    _defaults = {"sqr_mom": 0.99}

    def init_state(self, p: Tensor) -> dict[str, Any]:
        return {"sqr_avg": torch.zeros_like(p, memory_format=torch.preserve_format)}

    def update(self, p: Tensor, state: dict[str, Any], sqr_mom: float, **_: Any) -> None:
        assert p.grad is not None
        state["sqr_avg"].mul_(sqr_mom).addcmul_(p.grad, p.grad, value=1 - sqr_mom)


class StepCount(Stat):
    """The number of steps this parameter has taken, ``step`` (1 at the first step): what :func:`debias` needs.
    Derived in Lesson 11, "A generic optimizer" (lessons/11_optimizers), which generalises
    Lesson 9's SGD.
    """

    def init_state(self, p: Tensor) -> dict[str, Any]:
        return {"step": 0}

    def update(self, p: Tensor, state: dict[str, Any], **_: Any) -> None:
        state["step"] += 1


def debias(mom: float, step: int, dampening: float | None = None) -> float:
    """What a running average started at 0 has summed after ``step`` steps: divide by it to debias.

    With ``avg <- mom * avg + damp * x`` and ``avg`` starting at 0, after ``t`` steps of a constant
    ``x`` the average is ``damp * (1 - mom**t) / (1 - mom) * x``; ``dampening=None`` means
    ``damp = 1 - mom`` (Adam's moments), which gives ``1 - mom**t``.
    Derived in Lesson 11, "A generic optimizer" (lessons/11_optimizers), which generalises
    Lesson 9's SGD.
    """
    if dampening is None:
        return 1 - mom**step
    return dampening * (1 - mom**step) / (1 - mom)


# ---- steppers ----------------------------------------------------------------------------------


@_hypers()
def sgd_step(p: Tensor, lr: float, **_: Any) -> None:
    """The plain step, ``p <- p - lr * grad``.
    Derived in Lesson 11, "A generic optimizer" (lessons/11_optimizers), which generalises
    Lesson 9's SGD.
    """
    assert p.grad is not None
    p.add_(p.grad, alpha=-lr)


@_hypers(wd=0.0)
def weight_decay(p: Tensor, lr: float, wd: float, **_: Any) -> None:
    """Decoupled weight decay, ``p <- p - lr * wd * p`` (Loshchilov and Hutter's AdamW): shrink the weights.

    Applied to the weights, not the gradient, so no average of gradients sees it; with plain SGD it
    is the same step as :class:`L2Reg`, with momentum or Adam it is not.
    Derived in Lesson 11, "A generic optimizer" (lessons/11_optimizers), which generalises
    Lesson 9's SGD.
    """
    if wd != 0:
        p.mul_(1 - lr * wd)


@_hypers()
def momentum_step(p: Tensor, lr: float, grad_avg: Tensor, **_: Any) -> None:
    """The momentum step, ``p <- p - lr * grad_avg`` (needs :class:`AverageGrad`).
    Derived in Lesson 11, "A generic optimizer" (lessons/11_optimizers), which generalises
    Lesson 9's SGD.
    """
    p.add_(grad_avg, alpha=-lr)


@_hypers()
def nesterov_step(p: Tensor, lr: float, mom: float, grad_avg: Tensor, **_: Any) -> None:
    """Nesterov's momentum as ``torch.optim.SGD`` writes it, ``p <- p - lr * (grad + mom * grad_avg)``.

    A look ahead: the step uses where the momentum is about to take the weights.
    Derived in Lesson 11, "A generic optimizer" (lessons/11_optimizers), which generalises
    Lesson 9's SGD.
    """
    assert p.grad is not None
    p.add_(p.grad.add(grad_avg, alpha=mom), alpha=-lr)


@_hypers(eps=1e-8)
def adam_step(p: Tensor, lr: float, mom: float, sqr_mom: float, eps: float, step: int,
              grad_avg: Tensor, sqr_avg: Tensor, **_: Any) -> None:
    """Adam's step, ``p <- p - lr * (grad_avg / d1) / (sqrt(sqr_avg / d2) + eps)`` with ``d = debias(...)``.

    The debiased first moment divided by the root of the debiased second one: each coordinate moves
    by about ``lr``, whatever the gradient's scale. Needs :class:`AverageGrad` (``dampened=True``),
    :class:`AverageSqrGrad` and :class:`StepCount`.
    Derived in Lesson 11, "A generic optimizer" (lessons/11_optimizers), which generalises
    Lesson 9's SGD.
    """
    denom = (sqr_avg.sqrt() / math.sqrt(debias(sqr_mom, step))).add_(eps)
    p.addcdiv_(grad_avg, denom, value=-lr / debias(mom, step))


@_hypers(eps=1e-6, wd=0.0)
def lamb_step(p: Tensor, lr: float, mom: float, sqr_mom: float, eps: float, wd: float, step: int,
              grad_avg: Tensor, sqr_avg: Tensor, **_: Any) -> None:
    """LAMB's step (You et al. 2019, Algorithm 2): Adam's direction plus ``wd * p``, scaled per layer.

    ``r = (grad_avg / d1) / (sqrt(sqr_avg / d2) + eps) + wd * p``, then
    ``p <- p - lr * (||p|| / ||r||) * r``: every parameter tensor (a layer's weights, its biases)
    moves by ``lr`` times its own norm, whatever the scale of its gradients. The trust ratio
    ``||p|| / ||r||`` is taken as 1 when either norm is 0 (a bias that starts at zero still moves).
    Needs the same statistics as :func:`adam_step`.
    Derived in Lesson 11, "A generic optimizer" (lessons/11_optimizers), which generalises
    Lesson 9's SGD.
    """
    r = grad_avg / debias(mom, step) / ((sqr_avg / debias(sqr_mom, step)).sqrt() + eps)
    if wd != 0:
        r.add_(p, alpha=wd)
    p_norm, r_norm = float(p.norm()), float(r.norm())
    trust = p_norm / r_norm if p_norm > 0 and r_norm > 0 else 1.0
    p.add_(r, alpha=-lr * trust)


# ---- the optimizer -----------------------------------------------------------------------------


class Optimizer:
    """Holds ``param_groups`` and per-parameter ``state``; ``step`` runs the statistics, then the steppers.

    ``params`` is an iterable of tensors (``model.parameters()``) or a list of dicts, one per group,
    each with ``'params'`` and optionally its own hyper-parameters (other keys are kept too). Every
    group gets the hyper-parameters the steppers and statistics declare (their ``_defaults``),
    overridden by ``**defaults``, overridden by the group's own. Every parameter must be a leaf
    tensor that appears in only one group. ``state[p]`` is the dict the statistics keep for ``p``,
    made at its first step. Derived in Lesson 9, "Mini-batch training" (lessons/09_minibatch).
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        steppers: Sequence[Callable[..., None]] | Callable[..., None],
        stats: Sequence[Stat] = (),
        **defaults: Any,
    ) -> None:
        name = type(self).__name__
        self.steppers: list[Callable[..., None]] = list(steppers) if isinstance(steppers, (list, tuple)) else [steppers]  # type: ignore[list-item]
        for i, s in enumerate(self.steppers):
            if not callable(s) or isinstance(s, type):
                raise TypeError(checks.message(name, f"steppers[{i}]", "a function (p, **hyper)", s))
        self.stats: list[Stat] = list(stats)
        for i, st in enumerate(self.stats):
            if isinstance(st, type) or not (hasattr(st, "init_state") and hasattr(st, "update")):
                raise TypeError(checks.message(name, f"stats[{i}]", "a statistic with init_state and update", st))
        merged: dict[str, Any] = {}
        for piece in [*self.stats, *self.steppers]:
            merged.update(getattr(piece, "_defaults", {}))
        merged.update(defaults)
        if "lr" in merged:
            merged["lr"] = checks.real(name, "lr", merged["lr"], min=0.0)
        self.defaults: dict[str, Any] = merged
        if isinstance(params, Tensor):
            raise TypeError(f"{name}: expected an iterable of tensors or of dicts, got a single tensor; wrap it in a list")
        items = list(params)
        if not items:
            raise ValueError(f"{name}: expected at least one parameter, got an empty list")
        groups = items if isinstance(items[0], dict) else [{"params": items}]
        self.param_groups: list[dict[str, Any]] = []
        seen: set[int] = set()
        for i, group in enumerate(groups):
            self.param_groups.append(self._make_group(name, i, group, seen))
        self.state: dict[Tensor, dict[str, Any]] = {}

    def _make_group(self, name: str, i: int, group: object, seen: set[int]) -> dict[str, Any]:
        if not isinstance(group, dict) or "params" not in group:
            raise TypeError(f"{name}: expected group {i} to be a dict with a 'params' key, got {type(group).__name__}")
        ps = [group["params"]] if isinstance(group["params"], Tensor) else list(group["params"])
        if not ps:
            raise ValueError(f"{name}: expected at least one parameter in group {i}, got none")
        for p in ps:
            if not isinstance(p, Tensor):
                raise TypeError(f"{name}: expected group {i} to hold tensors, got {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError(f"{name}: expected leaf tensors (parameters), got a computed tensor in group {i}")
            if id(p) in seen:
                raise ValueError(f"{name}: a parameter appears in more than one group (again in group {i})")
            seen.add(id(p))
        out = {**self.defaults, **group, "params": ps}
        if "lr" not in out:
            raise ValueError(f"{name}: expected an lr, in the arguments or in group {i}, got none")
        out["lr"] = checks.real(name, f"group {i}'s lr", out["lr"], min=0.0)
        return out

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget every parameter's gradient: ``p.grad = None`` (default, as in torch) or fill it with 0."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    p.grad.detach_()
                    p.grad.zero_()

    def step(self) -> None:
        """One step: for each parameter with a gradient, update every statistic, then apply every stepper.

        Hyper-parameters are read from the parameter's group at every step, so a scheduler's change
        to ``pg['lr']`` (or ``pg['mom']``, ...) takes effect at the next step.
        """
        with torch.no_grad():
            for group in self.param_groups:
                hyper = {k: v for k, v in group.items() if k != "params"}
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    if p not in self.state:
                        self.state[p] = {k: v for st in self.stats for k, v in st.init_state(p).items()}
                    state = self.state[p]
                    for st in self.stats:
                        st.update(p, state, **hyper)
                    for stepper in self.steppers:
                        stepper(p, **hyper, **state)

    def state_dict(self) -> dict[str, Any]:
        """A copy of the hyper-parameters and per-parameter state, parameters named by position (as torch does).

        ``{"state": {i: {...}}, "param_groups": [{..., "params": [i, ...]}]}``, where ``i`` counts
        the parameters through all groups in order; tensors are copied, so later steps leave it alone.
        """
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            ids = []
            for p in group["params"]:
                index[id(p)] = len(index)
                ids.append(index[id(p)])
            groups.append({**{k: copy.deepcopy(v) for k, v in group.items() if k != "params"}, "params": ids})
        state = {index[id(p)]: _copy_state(s) for p, s in self.state.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` saved: every group's hyper-parameters and every parameter's state.

        The groups must hold as many parameters as when it was saved; the state is copied in (onto
        each parameter's device and dtype), so the saved dict can be loaded again.
        """
        name = type(self).__name__
        if not isinstance(state_dict, dict) or set(state_dict) != {"state", "param_groups"}:
            raise TypeError(checks.message(f"{name}.load_state_dict", "state_dict", "a dict from state_dict()", state_dict))
        saved = state_dict["param_groups"]
        sizes, ours = [len(g["params"]) for g in saved], [len(g["params"]) for g in self.param_groups]
        if sizes != ours:
            raise ValueError(f"{name}.load_state_dict: expected groups of sizes {ours}, got {sizes}")
        params = [p for g in self.param_groups for p in g["params"]]
        for group, kept in zip(self.param_groups, saved):
            group.update({k: copy.deepcopy(v) for k, v in kept.items() if k != "params"})
        self.state = {}
        for i, s in state_dict["state"].items():
            p = params[int(i)]
            self.state[p] = {
                k: v.detach().to(device=p.device, dtype=p.dtype if v.is_floating_point() else v.dtype, copy=True)
                if isinstance(v, Tensor) else copy.deepcopy(v)
                for k, v in s.items()
            }

    def __repr__(self) -> str:
        groups = ", ".join(
            f"{{{len(g['params'])} params, " + ", ".join(f"{k}={v}" for k, v in g.items() if k != "params") + "}"
            for g in self.param_groups
        )
        return f"{type(self).__name__}([{groups}])"


def _copy_state(state: dict[str, Any]) -> dict[str, Any]:
    return {k: v.detach().clone() if isinstance(v, Tensor) else copy.deepcopy(v) for k, v in state.items()}


class SGD(Optimizer):
    """Stochastic gradient descent: ``p <- p - lr * p.grad`` for every parameter, with its group's ``lr``.

    Parameters whose ``grad`` is ``None`` are left alone. Equals ``torch.optim.SGD`` without momentum
    or weight decay (Lesson 11 adds those, in :func:`sgd_opt`).
    Derived in Lesson 9, "Mini-batch training" (lessons/09_minibatch).
    """

    def __init__(self, params: Iterable[Tensor] | Iterable[dict[str, Any]], lr: float) -> None:
        super().__init__(params, [sgd_step], lr=lr)

    def step(self) -> None:
        with torch.no_grad():
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is not None:
                        p.add_(p.grad, alpha=-group["lr"])


# ---- recipes -----------------------------------------------------------------------------------


def _unit(fn: str, name: str, value: object) -> float:
    return checks.real(fn, name, value, min=0.0, max=1.0, max_open=True)


def sgd_opt(params: Iterable[Tensor] | Iterable[dict[str, Any]], lr: float, mom: float = 0.0, dampening: float = 0.0,
            nesterov: bool = False, wd: float = 0.0, decouple_wd: bool = False) -> Optimizer:
    """SGD with momentum, dampening, Nesterov and weight decay, stepping like ``torch.optim.SGD``.

    ``wd`` is L2 regularisation (:class:`L2Reg`, torch's ``weight_decay``) or, with
    ``decouple_wd=True``, decoupled :func:`weight_decay`. With ``mom=0`` there is no momentum
    buffer (a scheduler cannot add momentum later); the group keys are ``lr``, ``wd`` and, with
    momentum, ``mom`` and ``dampening``. Usable as a learner's ``opt_func``.
    Derived in Lesson 11, "A generic optimizer" (lessons/11_optimizers), which generalises
    Lesson 9's SGD.
    """
    fn = "sgd_opt"
    lr = checks.real(fn, "lr", lr, min=0.0)
    mom = _unit(fn, "mom", mom)
    dampening = checks.real(fn, "dampening", dampening, min=0.0, max=1.0)
    nesterov = checks.boolean(fn, "nesterov", nesterov)
    wd = checks.real(fn, "wd", wd, min=0.0)
    decouple_wd = checks.boolean(fn, "decouple_wd", decouple_wd)
    if nesterov and (mom == 0 or dampening != 0):
        raise ValueError(f"{fn}: expected mom > 0 and dampening == 0 with nesterov=True, got mom={mom:g}, dampening={dampening:g}")
    stats: list[Stat] = [] if decouple_wd else [L2Reg()]
    steppers: list[Callable[..., None]] = [weight_decay] if decouple_wd else []
    hyper: dict[str, Any] = {"lr": lr, "wd": wd}
    if mom == 0:
        steppers.append(sgd_step)
    else:
        stats.append(AverageGrad())
        steppers.append(nesterov_step if nesterov else momentum_step)
        hyper.update(mom=mom, dampening=dampening)
    return Optimizer(params, steppers, stats, **hyper)


def _adam_args(fn: str, lr: object, beta1: object, beta2: object, eps: object, wd: object) -> dict[str, float]:
    return {"lr": checks.real(fn, "lr", lr, min=0.0), "mom": _unit(fn, "beta1", beta1),
            "sqr_mom": _unit(fn, "beta2", beta2), "eps": checks.real(fn, "eps", eps, min=0.0),
            "wd": checks.real(fn, "wd", wd, min=0.0)}


def adam_opt(params: Iterable[Tensor] | Iterable[dict[str, Any]], lr: float, beta1: float = 0.9, beta2: float = 0.999,
             eps: float = 1e-8, wd: float = 0.0, decouple_wd: bool = True) -> Optimizer:
    """Adam (Kingma and Ba 2015): :func:`adam_step` on debiased averages of the gradients and their squares.

    ``decouple_wd=True`` (the default) is AdamW, ``torch.optim.AdamW(weight_decay=wd)``;
    ``decouple_wd=False`` is L2 regularisation, ``torch.optim.Adam(weight_decay=wd)``. The group keys
    are ``lr``, ``mom`` (``beta1``), ``sqr_mom`` (``beta2``), ``eps`` and ``wd``. Usable as a
    learner's ``opt_func``.
    Derived in Lesson 11, "A generic optimizer" (lessons/11_optimizers), which generalises
    Lesson 9's SGD.
    """
    hyper = _adam_args("adam_opt", lr, beta1, beta2, eps, wd)
    decouple_wd = checks.boolean("adam_opt", "decouple_wd", decouple_wd)
    moments: list[Stat] = [AverageGrad(dampened=True), AverageSqrGrad(), StepCount()]
    if decouple_wd:
        return Optimizer(params, [weight_decay, adam_step], moments, **hyper)
    return Optimizer(params, [adam_step], [L2Reg(), *moments], **hyper)


def lamb_opt(params: Iterable[Tensor] | Iterable[dict[str, Any]], lr: float, beta1: float = 0.9, beta2: float = 0.999,
             eps: float = 1e-6, wd: float = 0.0) -> Optimizer:
    """LAMB (You et al. 2019, "Large Batch Optimization for Deep Learning"): Adam with a per-layer trust ratio.

    :func:`lamb_step` on the same statistics as Adam; the weight decay is part of the step that the
    trust ratio scales. The group keys are those of :func:`adam_opt`. Usable as a learner's ``opt_func``.
    Derived in Lesson 11, "A generic optimizer" (lessons/11_optimizers), which generalises
    Lesson 9's SGD.
    """
    hyper = _adam_args("lamb_opt", lr, beta1, beta2, eps, wd)
    return Optimizer(params, [lamb_step], [AverageGrad(dampened=True), AverageSqrGrad(), StepCount()], **hyper)


