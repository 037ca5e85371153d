"""Shared helpers of the library's tests: seeded tensors, tolerances, a tiny learner, Hypothesis settings.

Test files import the helpers by name (``from conftest import F64, randn``): pytest puts ``tests/``
on ``sys.path`` when it loads this file, so ``conftest`` is this module.

- :data:`F64`, :func:`gen`, :func:`randn`: seeded tensors, float64 unless asked otherwise, so a
  comparison with an oracle fails on the maths and not on float32 rounding;
- :data:`EXACT`, :data:`CLOSE64`, :data:`CLOSE32`: the tolerances the tests use most
  (``check_close(got, expected, what=..., **CLOSE64)``);
- :func:`tiny_data`: a seeded :class:`~foundations.data.DataBunch` of random classification data
  (what the learner and callback tests train on);
- the Hypothesis profile ``"foundations"``, loaded here: no deadline (the first example of a test
  pays for PyTorch's warm-up, and the two-core machines are shared, so a per-example time limit
  fails tests that are correct), and the failing example printed so it can be replayed. A test
  still sets its own ``max_examples``. ``HYPOTHESIS_PROFILE=<name>`` loads another registered
  profile (Hypothesis's own ``default`` restores its 200 ms deadline).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import torch
from hypothesis import settings
from torch import Tensor

if TYPE_CHECKING:
    from foundations.data import DataBunch

F64 = torch.float64
"""The dtype of the oracles: float64 leaves the comparison to the maths, not to rounding."""

EXACT = {"atol": 0.0, "rtol": 0.0}
"""Bit for bit: the same operations in the same order (the learner against a hand-written loop)."""

CLOSE64 = {"atol": 1e-12, "rtol": 1e-10}
"""float64 results of the same maths computed in another order."""

CLOSE32 = {"atol": 1e-6, "rtol": 1e-5}
"""float32 results of the same maths computed in another order."""

settings.register_profile("foundations", deadline=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "foundations"))


def gen(seed: int) -> torch.Generator:
    """A CPU generator seeded with ``seed``: the same numbers every run, whatever ran before."""
    return torch.Generator().manual_seed(seed)


def randn(*shape: int, seed: int = 0, dtype: torch.dtype = F64) -> Tensor:
    """Standard normal numbers of ``shape`` from :func:`gen` ``(seed)``, in ``dtype`` (float64).

    >>> torch.equal(randn(2, 3, seed=1), randn(2, 3, seed=1))
    True
    """
    return torch.randn(*shape, generator=gen(seed), dtype=dtype)


def tiny_data(
    n_train: int, n_valid: int, n_in: int, n_out: int, bs: int, seed: int = 0, dtype: torch.dtype = torch.float32
) -> DataBunch:
    """A :class:`~foundations.data.DataBunch` of ``n_train + n_valid`` random inputs and labels.

    Inputs are ``randn(n, n_in)``, labels uniform in ``range(n_out)``, both from ``gen(seed)``; the
    training shuffle is seeded with ``seed + 1``, so two calls with the same arguments give the
    same batches in the same order.
    """
    from foundations.data import DataBunch, Dataset, get_dls

    g = gen(seed)
    x = torch.randn(n_train + n_valid, n_in, generator=g, dtype=dtype)
    y = torch.randint(0, n_out, (n_train + n_valid,), generator=g)
    train_ds, valid_ds = Dataset(x[:n_train], y[:n_train]), Dataset(x[n_train:], y[n_train:])
    dls = get_dls(train_ds, valid_ds, bs, generator=gen(seed + 1))
    return DataBunch(*dls, c_in=n_in, c_out=n_out)
