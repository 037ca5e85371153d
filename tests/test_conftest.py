"""The shared test helpers of tests/conftest.py do what the tests rely on."""

from __future__ import annotations

import torch
from conftest import CLOSE32, CLOSE64, EXACT, F64, gen, randn, tiny_data
from hypothesis import settings


def test_hypothesis_profile_has_no_deadline() -> None:
    assert settings.default.deadline is None
    assert settings.default.print_blob is True
    assert settings(max_examples=7).deadline is None, "a test's own settings inherit the profile"


def test_randn_is_seeded_float64_and_independent_of_global_state() -> None:
    torch.manual_seed(1)
    a = randn(3, 4, seed=5)
    torch.manual_seed(2)
    assert torch.equal(a, randn(3, 4, seed=5)) and a.dtype == F64 and a.shape == (3, 4)
    assert not torch.equal(a, randn(3, 4, seed=6))
    assert randn(2, seed=0, dtype=torch.float32).dtype == torch.float32
    assert torch.equal(randn(5, seed=3), torch.randn(5, generator=gen(3), dtype=F64))


def test_tiny_data_is_reproducible_batch_for_batch() -> None:
    a, b = tiny_data(20, 10, 4, 3, 6, seed=2), tiny_data(20, 10, 4, 3, 6, seed=2)
    assert (len(a.train_dl), len(a.valid_dl), a.c_in, a.c_out) == (4, 1, 4, 3)
    for (xa, ya), (xb, yb) in zip(a.train_dl, b.train_dl):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    assert int(a.train_ds.y.max()) < 3 and a.train_ds.x.dtype == torch.float32


def test_tolerances_are_ordered() -> None:
    assert EXACT == {"atol": 0.0, "rtol": 0.0}
    assert CLOSE64["atol"] < CLOSE32["atol"] and CLOSE64["rtol"] < CLOSE32["rtol"]
