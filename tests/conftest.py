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

import http.server
import os
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

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


# ---- a local HTTP server for the downloader's tests -------------------------------------------


class FileServer:
    """A tiny HTTP server in a thread: serves ``files`` (path -> bytes) and records ``hits``.

    ``truncate``: paths sent with the full Content-Length but only half the body. ``piece`` and
    ``pause``: send each body in pieces of that many bytes with that many seconds between them, so a
    download can be killed midway (0 pause: all at once).
    """

    def __init__(self, pause: float = 0.0, piece: int = 16 * 1024) -> None:
        self.files: dict[str, bytes] = {}
        self.truncate: set[str] = set()
        self.hits: list[str] = []
        self.pause, self.piece = pause, piece
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                server.hits.append(self.path)
                body = server.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.path in server.truncate:
                    body, self.close_connection = body[: len(body) // 2], True
                step = server.piece if server.pause else max(len(body), 1)
                try:
                    for i in range(0, len(body), step):
                        self.wfile.write(body[i : i + step])
                        self.wfile.flush()
                        time.sleep(server.pause)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def url(self, path: str) -> str:
        return self.base + path

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[FileServer]:
    """A file server that sends each body at once."""
    s = FileServer()
    yield s
    s.close()


@pytest.fixture
def slow() -> Iterator[FileServer]:
    """A file server that sends 16 KiB pieces 0.05 s apart."""
    s = FileServer(pause=0.05)
    yield s
    s.close()


@pytest.fixture
def one_thread() -> Iterator[None]:
    """One intra-op thread for the test (restored after): tiny LSTMs on a shared two-core machine are
    many times slower with two, and one thread fixes the order of floating-point sums."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
