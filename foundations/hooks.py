"""Looking inside a model while it trains: forward hooks, and the statistics they collect.

Derived in Lesson 10, "A CNN and hooks" (lessons/10_cnn_hooks). A *forward hook* is a function
PyTorch calls every time a module has computed its output: ``fn(module, input, output)``. It sees
the activations without any change to the model or the training loop. This module wraps them:

- :class:`Hook` registers ``fn(hook, module, input, output)`` on one module; the hook object itself
  is where ``fn`` keeps what it records. ``hook.remove()`` takes it off again.
- :class:`ListContainer` is a list that can also be indexed by a list of ints or a mask of bools.
- :class:`Hooks` is a :class:`ListContainer` of one :class:`Hook` per module, and a context manager:
  ``with Hooks(model, append_stats) as hooks: run.fit(...)`` removes every hook when the block ends,
  also when training raises, so a forgotten hook never keeps recording (and keeping memory) in later
  runs.
- :func:`append_stats` records, for every forward pass in training mode, the activations' mean,
  standard deviation and histogram; :func:`get_hist` and :func:`get_min` read them back.
- :class:`ParamHook` / :class:`ParamHooks` are *backward* telemetry: tensor hooks on a layer's
  parameters that record, for every optimizer step, the gradient's norm, the weights' norm and the
  norm of the step actually taken (``|w_new - w_old|``); :class:`RecordSteps` is the callback that
  tells them when the optimizer has stepped.

**Base:** hooks are PyTorch's (``register_forward_hook``, ``Tensor.register_hook``), so the modules
hooked are ``torch.nn.Module`` objects, like every model of the library after Lesson 9's
hand-written ``foundations.nn.Module`` (the teaching version, which has no hooks).
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.hooks import RemovableHandle

from foundations import checks
from foundations.learner import Callback

__all__ = [
    "ActivationStats",
    "Hook",
    "HookFunc",
    "Hooks",
    "ListContainer",
    "ParamHook",
    "ParamHooks",
    "ParamStats",
    "RecordSteps",
    "append_stats",
    "get_hist",
    "get_min",
]

HookFunc = Callable[["Hook", nn.Module, tuple[Any, ...], Any], None]
"""What a :class:`Hook` calls after each forward pass: ``fn(hook, module, inputs, output)``.

Derived in Lesson 10, "A CNN and hooks" (lessons/10_cnn_hooks)."""


def _calling(ref: weakref.ReferenceType[Hook]) -> Callable[[nn.Module, tuple[Any, ...], Any], None]:
    """PyTorch's hook function for the :class:`Hook` behind ``ref``.

    It holds the hook through a weak reference: the module keeps this function, and if it kept the
    hook itself, a hook nobody refers to any more would stay registered for as long as the module lives.
    """

    def call(module: nn.Module, inputs: tuple[Any, ...], output: Any) -> None:
        hook = ref()
        if hook is not None:
            hook.fn(hook, module, inputs, output)

    return call


class Hook:
    """Calls ``fn(self, module, inputs, output)`` after every forward pass of ``module``, until removed.

    ``fn`` may store what it likes on the hook (``hook.stats`` for :func:`append_stats`). ``remove()``
    unregisters it (calling it twice is harmless); so does dropping the last reference to the hook
    (``__del__``), so keep the hook in a variable (or in :class:`Hooks`) while you want it to record.
    Derived in Lesson 10, "A CNN and hooks" (lessons/10_cnn_hooks).
    """

    def __init__(self, module: nn.Module, fn: HookFunc) -> None:
        if not isinstance(module, nn.Module):
            raise TypeError(f"Hook: expected a torch.nn.Module, got {type(module).__name__}")
        if not callable(fn):
            raise TypeError(f"Hook: expected fn(hook, module, inputs, output) to be callable, got {type(fn).__name__}")
        self.module, self.fn = module, fn
        self._handle: RemovableHandle | None = module.register_forward_hook(_calling(weakref.ref(self)))

    @property
    def removed(self) -> bool:
        """Whether this hook is off its module."""
        return getattr(self, "_handle", None) is None

    def remove(self) -> None:
        """Take the hook off its module; later forward passes no longer call ``fn``."""
        if getattr(self, "_handle", None) is not None:
            self._handle.remove()
            self._handle = None

    def __del__(self) -> None:
        self.remove()

    def __repr__(self) -> str:
        state = "removed" if self.removed else "active"
        fn = getattr(self.fn, "func", self.fn)  # the function inside a functools.partial
        return f"Hook({type(self.module).__name__}, {getattr(fn, '__name__', type(fn).__name__)}, {state})"


class ListContainer:
    """A list that can also be indexed by a list of ints or a list (or tensor) of bools.

    ``lc[2]``, ``lc[1:3]``, ``lc[[0, 2]]`` and ``lc[[True, False, True]]`` all work; the last two (and
    a slice) return a plain list. ``len``, iteration, assignment and deletion by int work as for a
    list. Derived in Lesson 10, "A CNN and hooks" (lessons/10_cnn_hooks).

    >>> lc = ListContainer(["a", "b", "c"])
    >>> lc[0], lc[1:], lc[[0, 2]], lc[[False, True, True]]
    ('a', ['b', 'c'], ['a', 'c'], ['b', 'c'])
    """

    def __init__(self, items: Iterable[Any] | None = None) -> None:
        if items is None:
            items = []
        if isinstance(items, (str, bytes)) or not isinstance(items, Iterable):
            raise TypeError(f"ListContainer: expected an iterable of items, got {type(items).__name__}")
        self.items: list[Any] = list(items)

    def __getitem__(self, idx: int | slice | list[int] | list[bool] | Tensor) -> Any:
        if isinstance(idx, slice) or checks.is_int(idx):
            return self.items[idx]
        if isinstance(idx, Tensor):
            idx = idx.tolist()
        if not isinstance(idx, (list, tuple)):
            raise TypeError(
                f"ListContainer: expected an int, a slice, a list of ints or a list of bools, got {type(idx).__name__}"
            )
        if idx and all(isinstance(i, bool) for i in idx):
            if len(idx) != len(self.items):
                raise IndexError(f"ListContainer: expected a mask of {len(self.items)} bools, got {len(idx)}")
            return [o for m, o in zip(idx, self.items) if m]
        if not all(checks.is_int(i) for i in idx):
            raise TypeError(f"ListContainer: expected a list of ints or of bools, got {idx!r:.80}")
        return [self.items[i] for i in idx]

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[Any]:
        return iter(self.items)

    def __setitem__(self, i: int, o: Any) -> None:
        self.items[i] = o

    def __delitem__(self, i: int) -> None:
        del self.items[i]

    def __repr__(self) -> str:
        shown = ", ".join(map(repr, self.items[:10])) + (", ..." if len(self) > 10 else "")
        return f"{type(self).__name__} ({len(self)} items)\n[{shown}]"


def modules_to_hook(
    modules: nn.Module | Iterable[nn.Module],
    owner: str,
    what: str,
    keep: Callable[[nn.Module], bool] = lambda m: True,
) -> list[nn.Module]:
    """The modules a hook container hooks: a list as given, or a model's direct children that ``keep``.

    Refuses anything that is not a ``torch.nn.Module`` and an empty result, naming ``owner``.
    Derived in Lesson 10, "A CNN and hooks" (lessons/10_cnn_hooks).
    """
    if isinstance(modules, nn.Module):
        modules = [m for m in modules.children() if keep(m)]
    mods = list(modules)
    for i, m in enumerate(mods):
        if not isinstance(m, nn.Module):
            raise TypeError(f"{owner}: expected torch.nn.Module objects, got {type(m).__name__} at position {i}")
    if not mods:
        raise ValueError(f"{owner}: expected at least one {what} to hook, got none")
    return mods


class Hooks(ListContainer):
    """One :class:`Hook` with ``fn`` on each of ``modules``; a context manager that removes them all at exit.

    ``modules`` is a list of modules or a model (then its direct children, the layers of an
    ``nn.Sequential``). ``with Hooks(model, append_stats) as hooks: ...`` removes every hook when the
    block ends, whether it ends normally or by an exception. ``remove()`` does the same by hand, and
    deleting a hook from the container (``del hooks[0]``) removes that one.
    Derived in Lesson 10, "A CNN and hooks" (lessons/10_cnn_hooks).
    """

    def __init__(self, modules: nn.Module | Iterable[nn.Module], fn: HookFunc) -> None:
        mods = modules_to_hook(modules, "Hooks", "module")
        super().__init__(Hook(m, fn) for m in mods)

    def __enter__(self) -> Hooks:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.remove()  # returns None: an exception raised in the block propagates

    def remove(self) -> None:
        """Remove every hook from its module."""
        for h in getattr(self, "items", []):  # no items if __init__ raised
            h.remove()

    def __delitem__(self, i: int) -> None:
        self[i].remove()
        super().__delitem__(i)

    def __del__(self) -> None:
        self.remove()


# ---- activation statistics -------------------------------------------------------------------


@dataclass
class ActivationStats:
    """What :func:`append_stats` records for one module: one entry per training forward pass.

    ``means[t]``, ``stds[t]``: mean and standard deviation of all the output's elements at pass ``t``;
    ``hists[t]``: counts in ``bins`` equal bins over ``[lo, hi]`` (values outside are not counted);
    ``numels[t]``: how many elements the output had. Derived in Lesson 10, "A CNN and hooks"
    (lessons/10_cnn_hooks).
    """

    bins: int
    lo: float
    hi: float
    means: list[float] = field(default_factory=list)
    stds: list[float] = field(default_factory=list)
    hists: list[Tensor] = field(default_factory=list)
    numels: list[int] = field(default_factory=list)

    def bin_edges(self) -> Tensor:
        """The ``bins + 1`` edges of the histogram bins, from ``lo`` to ``hi`` (float64)."""
        return torch.linspace(self.lo, self.hi, self.bins + 1, dtype=torch.float64)


def _check_hist_args(bins: object, hist_range: object) -> tuple[int, float, float]:
    fn, what = "append_stats", "a pair (lo, hi) of finite numbers with lo < hi"
    bins = checks.positive_int(fn, "bins", bins)
    if not (isinstance(hist_range, (tuple, list)) and all(map(checks.is_real, hist_range))):
        raise TypeError(checks.message(fn, "hist_range", what, hist_range))
    lo, hi = (float(v) for v in hist_range) if len(hist_range) == 2 else (math.nan, math.nan)
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(checks.message(fn, "hist_range", what, hist_range))
    return bins, lo, hi


def append_stats(
    hook: Hook,
    mod: nn.Module,
    inp: tuple[Any, ...],
    outp: Tensor,
    *,
    bins: int = 40,
    hist_range: tuple[float, float] = (0.0, 10.0),
) -> None:
    """A hook function: in training mode, append the output's mean, std and histogram to ``hook.stats``.

    ``hook.stats`` is an :class:`ActivationStats`, created at the first call. The histogram counts
    the output's values in ``bins`` equal bins over ``hist_range`` (``torch.histc``; the course's
    40 bins over ``[0, 10]`` by default). Use ``functools.partial(append_stats, bins=..,
    hist_range=..)`` to change them. Passes in evaluation mode (validation) are skipped.
    Derived in Lesson 10, "A CNN and hooks" (lessons/10_cnn_hooks).
    """
    if not isinstance(outp, Tensor):
        raise TypeError(f"append_stats: expected the module's output to be a tensor, got {type(outp).__name__}")
    bins, lo, hi = _check_hist_args(bins, hist_range)
    if not hasattr(hook, "stats"):
        hook.stats = ActivationStats(bins, lo, hi)
    st: ActivationStats = hook.stats
    if (st.bins, st.lo, st.hi) != (bins, lo, hi):
        raise ValueError(
            f"append_stats: this hook records {st.bins} bins over ({st.lo}, {st.hi}), got {bins} over ({lo}, {hi})"
        )
    if not mod.training:
        return
    with torch.no_grad():
        x = outp.detach() if outp.is_floating_point() else outp.detach().float()
        st.means.append(x.mean().item())
        st.stds.append(x.std().item() if x.numel() > 1 else math.nan)
        st.hists.append(torch.histc(x, bins, lo, hi).cpu())
        st.numels.append(x.numel())


def _stats(fn: str, hook: Hook) -> ActivationStats:
    st = getattr(hook, "stats", None)
    if not isinstance(st, ActivationStats):
        raise ValueError(f"{fn}: expected a hook that recorded with append_stats, got one with no stats")
    if not st.hists:
        raise ValueError(f"{fn}: expected at least one recorded training batch, got none")
    return st


def get_hist(hook: Hook) -> Tensor:
    """The recorded histograms as one tensor of counts, shape ``(bins, n_batches)``: time along the columns.

    Shown with ``imshow(get_hist(h).log1p(), origin="lower")``: the course's "colorful dimension"
    plot, one column per training batch, low values at the bottom.
    Derived in Lesson 10, "A CNN and hooks" (lessons/10_cnn_hooks).
    """
    return torch.stack(_stats("get_hist", hook).hists).t().float()


def get_min(hook: Hook, bins: slice | int) -> Tensor:
    """Per training batch, the share of the output's elements in the histogram bins ``bins``.

    ``bins`` is a slice of bin indices, or an int ``k`` for the lowest ``k`` bins (``slice(0, k)``).
    With the course's 40 bins over ``[0, 10]``, ``get_min(h, 2)`` is the share of activations in
    ``[0, 0.5)``: near zero, for a ReLU. The share is of *all* elements, those outside the
    histogram's range included. Returns a float tensor of shape ``(n_batches,)``.
    Derived in Lesson 10, "A CNN and hooks" (lessons/10_cnn_hooks).
    """
    st = _stats("get_min", hook)
    if checks.is_int(bins):
        if not 1 <= bins <= st.bins:
            raise ValueError(f"get_min: expected between 1 and {st.bins} bins, got {bins}")
        bins = slice(0, bins)
    if not isinstance(bins, slice):
        raise TypeError(f"get_min: expected bins to be a slice of bin indices or an int, got {type(bins).__name__}")
    if len(range(st.bins)[bins]) == 0:
        raise ValueError(f"get_min: the slice {bins} selects none of the {st.bins} bins")
    counts = get_hist(hook)[bins].sum(0)
    return counts / torch.tensor(st.numels, dtype=torch.float32)


# ---- backward telemetry: gradients and updates per layer --------------------------------------


@dataclass
class ParamStats:
    """What a :class:`ParamHook` records for one module: one entry per optimizer step.

    All norms are of the module's parameters taken together (weights and biases as one vector):
    ``grad_norms[t]`` is ``|g|``, the gradient of step ``t``; ``weight_norms[t]`` is ``|w|`` before
    the step; ``update_norms[t]`` is ``|w_new - w_old|``, the step the optimizer actually took.
    Derived in Lesson 10, "A CNN and hooks" (lessons/10_cnn_hooks).
    """

    grad_norms: list[float] = field(default_factory=list)
    weight_norms: list[float] = field(default_factory=list)
    update_norms: list[float] = field(default_factory=list)

    def grad_ratios(self) -> Tensor:
        """``|g| / |w|`` per step, a float64 tensor of shape ``(n_steps,)``."""
        return torch.tensor(self.grad_norms, dtype=torch.float64) / torch.tensor(self.weight_norms, dtype=torch.float64)

    def update_ratios(self) -> Tensor:
        """``|w_new - w_old| / |w_old|`` per step, a float64 tensor of shape ``(n_steps,)``.

        For plain SGD this is ``lr * |g| / |w|``; with momentum or weight decay it is what the step was.
        """
        return torch.tensor(self.update_norms, dtype=torch.float64) / torch.tensor(self.weight_norms, dtype=torch.float64)


def _on_grad(ref: weakref.ReferenceType[ParamHook], i: int) -> Callable[[Tensor], None]:
    """The tensor hook for parameter ``i`` of the :class:`ParamHook` behind ``ref`` (weakly held, as for Hook)."""

    def call(grad: Tensor) -> None:
        hook = ref()
        if hook is not None:
            hook._record_grad(i, grad)

    return call


class ParamHook:
    """Tensor hooks on the parameters of ``module``: record gradient, weight and update norms, until removed.

    ``p.register_hook`` makes autograd call a function with each parameter's gradient during
    ``backward()``; at that moment the weights are still those before the optimizer's step, so the
    hook keeps a copy of them. Call :meth:`step` after ``opt.step()``: it appends ``|g|``, ``|w_old|``
    and ``|w_new - w_old|`` to ``self.stats`` (a :class:`ParamStats`). :meth:`reset` forgets a
    backward pass that no step followed. ``remove()`` takes the hooks off (twice is harmless), as
    does dropping the last reference to this object.
    Derived in Lesson 10, "A CNN and hooks" (lessons/10_cnn_hooks).
    """

    def __init__(self, module: nn.Module) -> None:
        if not isinstance(module, nn.Module):
            raise TypeError(f"ParamHook: expected a torch.nn.Module, got {type(module).__name__}")
        self.module = module
        self.params = [p for p in module.parameters() if p.requires_grad]
        if not self.params:
            raise ValueError(f"ParamHook: expected a module with trainable parameters, got {type(module).__name__} with none")
        self.stats = ParamStats()
        self._sq: list[Tensor | None] = [None] * len(self.params)
        self._old: list[Tensor | None] = [None] * len(self.params)
        ref = weakref.ref(self)
        self._handles: list[RemovableHandle] | None = [p.register_hook(_on_grad(ref, i)) for i, p in enumerate(self.params)]

    def _record_grad(self, i: int, grad: Tensor) -> None:
        with torch.no_grad():
            sq = grad.detach().double().pow(2).sum()
            self._sq[i] = sq if self._sq[i] is None else self._sq[i] + sq
            if self._old[i] is None:
                self._old[i] = self.params[i].detach().clone()

    def reset(self) -> None:
        """Forget the gradients recorded since the last :meth:`step` (a batch whose step was skipped)."""
        self._sq = [None] * len(self.params)
        self._old = [None] * len(self.params)

    def step(self) -> bool:
        """Record the step just taken; ``False`` (and nothing recorded) if no gradient arrived since the last one.

        A parameter that got no gradient counts with a zero gradient and its current value as ``w_old``.
        """
        if all(s is None for s in self._sq):
            return False
        g2 = w2 = u2 = 0.0
        with torch.no_grad():
            for p, sq, old in zip(self.params, self._sq, self._old):
                w = p.detach().double()
                w_old = w if old is None else old.double()
                g2 += 0.0 if sq is None else sq.item()
                w2 += w_old.pow(2).sum().item()
                u2 += (w - w_old).pow(2).sum().item()
        self.stats.grad_norms.append(math.sqrt(g2))
        self.stats.weight_norms.append(math.sqrt(w2))
        self.stats.update_norms.append(math.sqrt(u2))
        self.reset()
        return True

    @property
    def removed(self) -> bool:
        """Whether the hooks are off the parameters."""
        return getattr(self, "_handles", None) is None

    def remove(self) -> None:
        """Take the hooks off; later backward passes no longer record."""
        handles = getattr(self, "_handles", None)
        if handles is not None:
            for h in handles:
                h.remove()
            self._handles = None

    def __del__(self) -> None:
        self.remove()

    def __repr__(self) -> str:
        state = "removed" if self.removed else "active"
        return f"ParamHook({type(self.module).__name__}, {len(self.params)} parameters, {len(self.stats.grad_norms)} steps, {state})"


class ParamHooks(Hooks):
    """One :class:`ParamHook` per module; a context manager that removes them all at exit.

    Removal (``with``, ``remove()``, ``del ph[i]``) is :class:`Hooks`'s; only the hooks differ.

    ``modules`` is a list of modules, or a model (then those of its direct children that have
    trainable parameters). ``with ParamHooks(model) as ph: run.fit(..)`` with
    ``RecordSteps(ph)`` among the callbacks records every layer's ``|g|/|w|`` and update ratio for
    every step, and the hooks come off when the block ends, also when training raises.
    Derived in Lesson 10, "A CNN and hooks" (lessons/10_cnn_hooks).
    """

    def __init__(self, modules: nn.Module | Iterable[nn.Module]) -> None:
        mods = modules_to_hook(modules, "ParamHooks", "module with parameters",
                               keep=lambda m: any(p.requires_grad for p in m.parameters()))
        hooks: list[ParamHook] = []
        try:
            for m in mods:
                hooks.append(ParamHook(m))
        except (TypeError, ValueError):
            for h in hooks:
                h.remove()
            raise
        ListContainer.__init__(self, hooks)

    def step(self) -> None:
        """:meth:`ParamHook.step` for each hook: call after every ``opt.step()``."""
        for h in self:
            h.step()

    def reset(self) -> None:
        """:meth:`ParamHook.reset` for each hook."""
        for h in self:
            h.reset()


class RecordSteps(Callback):
    """Tells :class:`ParamHooks` when the optimizer has stepped: ``step()`` after each step.

    ``begin_batch`` forgets a backward pass whose step was skipped (a cancelled batch), so each
    record belongs to exactly one step. Derived in Lesson 10, "A CNN and hooks" (lessons/10_cnn_hooks).
    """

    def __init__(self, hooks: ParamHooks) -> None:
        if not isinstance(hooks, ParamHooks):
            raise TypeError(f"RecordSteps: expected ParamHooks, got {type(hooks).__name__}")
        self.hooks = hooks

    def begin_batch(self) -> None:
        self.hooks.reset()

    def after_step(self) -> None:
        self.hooks.step()
