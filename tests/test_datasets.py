"""Tests for foundations.data's datasets: the registry, the verifying downloader, the safe un-tarrer,
MNIST, normalize, the progress bar and the command line.

Everything runs against small files made here, each registered with its own size and sha256 through a
test-only :class:`DatasetSpec`, a local HTTP server on 127.0.0.1 and a temporary cache. The real-MNIST
checks read the shared mirror through ``FOUNDATIONS_MIRROR`` and are skipped when it is unset.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import re
import shutil
import socket
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from conftest import FileServer

import foundations.data.download as download_mod
import foundations.data.pickles as pickles_mod
import foundations.progress as progress_mod
from foundations.data.archives import fetch, untar
from foundations.data.cache import DATA_ENV, UNTAR_MARKER, cache_dir, is_cached
from foundations.data.cli import cache_status, main
from foundations.data.download import MIRROR_ENV, download
from foundations.data.errors import DownloadError, UnknownDatasetError, UnsafeArchiveError
from foundations.data.mnist import MNIST, get_mnist, get_mnist_test, read_idx
from foundations.data.registry import GROUPS, REGISTRY, Check, DatasetSpec
from foundations.data.transforms import normalize
from foundations.data.verification import verify
from foundations.progress import PROGRESS_ENV, Progress, human_bytes

pytestmark = pytest.mark.data

REAL_MIRROR = os.environ.get(MIRROR_ENV, "").strip()


# --------------------------------------------------------------------------------------------------
# Fixtures: a temporary cache, a local server, test-only registry entries
# --------------------------------------------------------------------------------------------------


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty cache folder; no mirror; progress on (tests that look at it choose the mode)."""
    folder = tmp_path / "cache"
    monkeypatch.setenv(DATA_ENV, str(folder))
    monkeypatch.delenv(MIRROR_ENV, raising=False)
    monkeypatch.delenv(PROGRESS_ENV, raising=False)
    return folder


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def entry(name: str, data: bytes, url: str | None, path: str | None = None, folder: str | None = None) -> DatasetSpec:
    """A test-only registry entry accepting exactly ``data`` (one version, "mirror copy", by sha256)."""
    return DatasetSpec(
        name=name,
        path=path or (f"{folder}.tgz" if folder else f"{name}.bin"),
        url=url,
        kind="tgz" if folder else "file",
        note="test data",
        checks=(Check("sha256", sha(data), len(data), "mirror copy", "test"),),
        folder=folder,
    )


def payload(n: int, seed: int = 0) -> bytes:
    g = torch.Generator().manual_seed(seed)
    return bytes(torch.randint(0, 256, (n,), generator=g, dtype=torch.uint8).tolist())


def leftovers(folder: Path) -> list[str]:
    """Every file (not folder) under ``folder``, relative: what a failed call must not leave behind."""
    if not folder.exists():
        return []
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if not p.is_dir())


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


# --------------------------------------------------------------------------------------------------
# The registry
# --------------------------------------------------------------------------------------------------


def test_registry_names_group_and_notes() -> None:
    assert set(REGISTRY) == {
        "mnist_pkl", "mnist_train_images", "mnist_train_labels", "mnist_test_images",
        "mnist_test_labels", "imagenette2-160", "imdb_sample", "imdb", "wikitext-2-valid-test",
    }
    assert GROUPS["mnist"] == ("mnist_train_images", "mnist_train_labels", "mnist_test_images", "mnist_test_labels")
    assert all(n in REGISTRY for n in GROUPS["mnist"])
    r = REGISTRY
    assert r["wikitext-2-valid-test"].url is None
    assert r["mnist_train_images"].url == "https://ossci-datasets.s3.amazonaws.com/mnist/train-images-idx3-ubyte.gz"
    assert r["mnist_train_images"].path == "mnist_idx/train-images-idx3-ubyte.gz"
    assert r["imagenette2-160"].path == "imagenette2-160.tgz" and r["imagenette2-160"].folder == "imagenette2-160"
    assert "rebuilt" in r["mnist_pkl"].note and "derived" in r["imagenette2-160"].note
    assert "repackaged" in r["imdb"].note and "repackaged" in r["imdb_sample"].note
    for ds in r.values():  # the mirror path is the file name the public URL serves
        if ds.url is not None:
            assert ds.url.rsplit("/", 1)[1] == ds.path.rsplit("/", 1)[-1], ds.name
        assert ds.kind == ("tgz" if ds.path.endswith(".tgz") else "file"), ds.name


@pytest.mark.skipif(not REAL_MIRROR, reason=f"{MIRROR_ENV} is unset: no mirror with a MANIFEST.md to compare with")
def test_registry_matches_mirror_manifest() -> None:
    text = (Path(REAL_MIRROR) / "MANIFEST.md").read_text(encoding="utf-8")
    rows = dict(
        (m[1], (int(m[2].replace(",", "")), m[3]))
        for m in re.finditer(r"^\| `([^`]+)` \| ([\d,]+) \| `([0-9a-f]{64})` \|$", text, re.M)
    )
    assert len(rows) == len(REGISTRY) == 9
    for ds in REGISTRY.values():
        assert rows[ds.path] == (ds.size, ds.sha256), ds.name
        assert (Path(REAL_MIRROR) / ds.path).stat().st_size == ds.size, ds.name


def test_registry_accepts_the_public_files_by_their_publishers_checks() -> None:
    r = REGISTRY

    def kinds(name: str, label: str) -> list[tuple[str, str | None, int | None, str]]:
        return [(c.kind, c.digest, c.size, c.source) for c in r[name].checks_for(label)]

    for ds in r.values():  # the first check is always the mirror copy's sha256 from MANIFEST.md
        assert ds.checks[0].kind == "sha256" and ds.checks[0].source == "course mirror MANIFEST.md", ds.name
    assert kinds("imagenette2-160", "public file") == [
        ("md5", "e793b78cc4c9e9a4ccc0c1155377a412", 99_003_388, "torchvision Imagenette"),
        ("md5-first-MiB", "c475f8f7617a200ba35b9facc48443c3", 99_003_388, "fastai checks.txt"),
    ]
    assert kinds("imdb", "public file") == [("md5-first-MiB", "90f9b1c4ff43a90d67553c9240dc0249", 144_440_600, "fastai checks.txt")]
    assert kinds("imdb_sample", "public file") == [("md5-first-MiB", "0842e61a9867caa2e6fbdb14fa703d61", 571_827, "fastai checks.txt")]
    assert kinds("mnist_pkl", "public file") == [("mnist-pickle", None, None, "no published checksum for this copy")]
    assert r["imdb"].partial("public file") and "partial" in r["imdb"].note
    assert not r["imagenette2-160"].partial("public file"), "torchvision's md5 covers the whole file"
    assert not r["imdb_sample"].partial("public file"), "571,827 bytes: the first MiB is the whole file"
    assert "structure check" in r["mnist_pkl"].note and "a02cd19f81d51c426d7ca14024243ce9" in r["mnist_pkl"].note
    for name in GROUPS["mnist"]:  # the IDX files are the originals: one version, sha256 and torchvision's md5
        assert r[name].labels == ("original file",) and [c.kind for c in r[name].checks] == ["sha256", "md5"], name
    assert r["mnist_train_images"].checks[1].digest == "f68b3c2dcbeaaa9fbdd348bbdeb94873"
    assert r["wikitext-2-valid-test"].labels == ("mirror copy",)
    for ds in r.values():
        assert ds.labels[0] in ("mirror copy", "original file"), ds.name


def test_unknown_name_lists_the_known_ones(cache: Path) -> None:
    with pytest.raises(UnknownDatasetError, match=r"unknown dataset 'mnits'.*known datasets: .*mnist_pkl.*wikitext-2-valid-test"):
        download("mnits")
    with pytest.raises(UnknownDatasetError, match=r"'mnist' is a group: use fetch\('mnist'\)"):
        download("mnist")
    with pytest.raises(UnknownDatasetError, match="unknown dataset 'nope'") as info:
        fetch("nope")
    assert isinstance(info.value, KeyError) and str(info.value).startswith("unknown dataset 'nope'; known")


MIRROR_CHECK = Check("sha256", "0" * 64, 1, "mirror copy", "test")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"path": "../x.bin"}, "expected a relative mirror path"),
        ({"path": "/etc/x.bin"}, "expected a relative mirror path"),
        ({"kind": "zip"}, "expected kind 'file' or 'tgz', got 'zip'"),
        ({"kind": "tgz"}, "needs the name of its top-level folder"),
        ({"checks": ()}, "expected a non-empty tuple of Check, got ()"),
        ({"checks": [MIRROR_CHECK]}, "expected a non-empty tuple of Check"),
        ({"checks": (MIRROR_CHECK, "md5")}, "expected every check to be a Check, got str"),
        ({"checks": (Check("md5", "0" * 32, 1, "public file", "x"),)}, "the first check must be the sha256 of the mirror's copy, got a 'md5' check"),
        (
            {"checks": (MIRROR_CHECK, Check("md5", "0" * 32, 5, "public file", "a"), Check("md5-first-MiB", "1" * 32, 6, "public file", "b"))},
            "the checks labelled 'public file' disagree on the size: 5 vs 6",
        ),
    ],
)
def test_dataset_entry_validation(kwargs: dict[str, object], message: str) -> None:
    base: dict[str, object] = dict(name="t", path="t.bin", url=None, kind="file", note="", checks=(MIRROR_CHECK,))
    with pytest.raises(ValueError, match=re.escape(message)):
        DatasetSpec(**{**base, **kwargs})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("sha256", "abc", 1), "expected sha256 as 64 lowercase hex digits, got 'abc'"),
        (("sha256", "A" * 64, 1), "expected sha256 as 64 lowercase hex digits"),
        (("md5", "0" * 64, 1), "expected md5 as 32 lowercase hex digits"),
        (("md5-first-MiB", "0" * 31, 1), "expected md5-first-MiB as 32 lowercase hex digits"),
        (("sha256", "0" * 64, 0), "expected a positive size, got 0"),
        (("sha256", "0" * 64, None), "a sha256 check needs the file's size in bytes"),
        (("mnist-pickle", "0" * 32, None), "a structure check has no digest"),
        (("crc32", "0" * 8, 1), "expected kind 'sha256', 'md5', 'md5-first-MiB' or 'mnist-pickle', got 'crc32'"),
    ],
)
def test_check_validation(args: tuple[object, object, object], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        Check(*args, "public file", "test")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="expected a non-empty label and source"):
        Check("md5", "0" * 32, 1, "public file", " ")


def test_check_partial_and_spec_sizes() -> None:
    small = Check("md5-first-MiB", "0" * 32, 1 << 20, "public file", "fastai checks.txt")
    big = Check("md5-first-MiB", "0" * 32, (1 << 20) + 1, "public file", "fastai checks.txt")
    assert not small.partial and big.partial
    assert small.describe() == "md5 of the first MiB 000000000000... (the whole file) [fastai checks.txt]"
    assert big.describe() == "md5 of the first MiB 000000000000... (partial: the rest of the file is unchecked) [fastai checks.txt]"
    ds = DatasetSpec("t", "t.tgz", None, "tgz", "", (MIRROR_CHECK, big), folder="t")
    assert ds.labels == ("mirror copy", "public file") and ds.size == 1 and ds.sha256 == "0" * 64
    assert ds.size_of("public file") == (1 << 20) + 1 and ds.max_size == (1 << 20) + 1
    assert ds.partial("public file") and not ds.partial("mirror copy")
    both = DatasetSpec("t", "t.tgz", None, "tgz", "", (MIRROR_CHECK, big, Check("md5", "1" * 32, big.size, "public file", "tv")), folder="t")
    assert not both.partial("public file"), "a whole-file md5 makes the version fully checked"
    shape = DatasetSpec("t", "t.gz", None, "file", "", (Check("sha256", "0" * 64, 100, "mirror copy", "m"), Check("mnist-pickle", None, None, "public file", "none")))
    assert shape.size_of("public file") is None and shape.max_size == 200, "unknown size: up to twice the largest known"


def test_cache_dir_follows_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DATA_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "foundations"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "foundations"
    monkeypatch.setenv(DATA_ENV, str(tmp_path / "data"))
    assert cache_dir() == tmp_path / "data"


# --------------------------------------------------------------------------------------------------
# Downloading
# --------------------------------------------------------------------------------------------------


def test_download_over_http_with_terminal_progress(
    cache: Path, server: FileServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = payload(300_000)
    server.files["/d/blob.bin"] = data
    ds = entry("blob", data, server.url("/d/blob.bin"))
    monkeypatch.setattr(download_mod, "CHUNK", 1000)  # 300 chunks, so the throttle has something to throttle
    err = FakeTTY()
    monkeypatch.setattr(sys, "stderr", err)
    start = time.monotonic()
    path = download(ds)
    elapsed = time.monotonic() - start
    assert path == cache / "blob.bin"
    assert path.read_bytes() == data
    assert (cache / "blob.bin.sha256").read_text().splitlines() == [
        f"{sha(data)}  blob.bin", "# accepted as: mirror copy", f"# checks: sha256:{sha(data)}:300000", "# size: 300000"
    ], "sha256sum format first; sha256sum -c skips the # lines"
    assert leftovers(cache) == ["blob.bin", "blob.bin.sha256"]
    assert server.hits == ["/d/blob.bin"]
    out = err.getvalue()
    assert out.startswith("\rblob [------------------------------]   0.0% 0 B/300.0 kB")
    assert out.endswith("blob: 300.0 kB from the public URL, sha256 verified (mirror copy)".ljust(len(out.split("\r")[1])) + "\n")
    assert "\n" not in out[:-1], "a terminal progress bar rewrites one line"
    # Throttled to 10 redraws a second: 300 chunks must not give 300 redraws.
    redraws = out.count("\r") - 1  # the first draw and the final message are not throttled
    assert redraws <= 1 + elapsed / 0.1 + 1, (redraws, elapsed)


def test_progress_in_a_notebook_updates_one_output(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import IPython.display

    data = payload(50_000, seed=1)
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "nb.bin").write_bytes(data)
    monkeypatch.setenv(MIRROR_ENV, str(mirror))
    calls: list[tuple[str, bool]] = []

    class Handle:
        def update(self, obj: dict[str, str], raw: bool = False) -> None:
            assert raw
            calls.append((obj["text/plain"], True))

    def display(obj: dict[str, str], raw: bool = False, display_id: bool = False) -> Handle:
        assert raw and display_id
        calls.append((obj["text/plain"], False))
        return Handle()

    monkeypatch.setattr(IPython.display, "display", display)
    monkeypatch.setattr(progress_mod, "in_notebook", lambda: True)
    monkeypatch.setattr(download_mod, "CHUNK", 100)  # 500 chunks
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    download(entry("nb", data, None))
    assert calls[0] == ("nb [------------------------------]   0.0% 0 B/50.0 kB", False)
    assert calls[-1] == ("nb: 50.0 kB from the mirror, sha256 verified (mirror copy)", True)
    assert [is_update for _, is_update in calls[1:]] == [True] * (len(calls) - 1), "one display, then updates"
    assert len(calls) < 10, f"{len(calls)} display calls for 500 chunks: not throttled"
    assert err.getvalue() == ""


def test_progress_off_and_plain(cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    a, b = payload(2000, seed=2), payload(3000, seed=3)
    (mirror / "a.bin").write_bytes(a)
    (mirror / "b.bin").write_bytes(b)
    monkeypatch.setenv(MIRROR_ENV, str(mirror))
    err = FakeTTY()
    monkeypatch.setattr(sys, "stderr", err)
    monkeypatch.setenv(PROGRESS_ENV, "0")
    download(entry("a", a, None))
    assert err.getvalue() == ""
    monkeypatch.delenv(PROGRESS_ENV)
    plain = io.StringIO()  # not a terminal: a log gets the final line only
    monkeypatch.setattr(sys, "stderr", plain)
    download(entry("b", b, None))
    assert plain.getvalue() == "b: 3.0 kB from the mirror, sha256 verified (mirror copy)\n"


def test_progress_counts_batches_for_training(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same bar, in counts: what Lesson 11's training progress will show."""
    err = FakeTTY()
    monkeypatch.setattr(sys, "stderr", err)
    bar = Progress("epoch 1", 469, enabled=True, unit="batches")
    bar.last = float("-inf")  # let the next update redraw at once
    bar.update(188)
    bar.close("epoch 1: 469 batches")
    assert err.getvalue().split("\r")[1:] == [
        "epoch 1 [------------------------------]   0.0% 0/469 batches",
        "epoch 1 [############------------------]  40.1% 188/469 batches",
        "epoch 1: 469 batches".ljust(len("epoch 1 [############------------------]  40.1% 188/469 batches")) + "\n",
    ]
    assert [human_bytes(n) for n in (999, 1000, 16_720_086, 1.5e9, 2e12)] == ["999 B", "1.0 kB", "16.7 MB", "1.5 GB", "2000.0 GB"]


def test_progress_is_core_and_imports_no_data_module() -> None:
    """foundations.progress is shared by downloads and training, so it sits in the core."""
    import ast
    import inspect

    import foundations.progress

    tree = ast.parse(inspect.getsource(foundations.progress))
    imported = sorted(
        {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        | {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    )
    assert imported == ["IPython", "IPython.display", "__future__", "os", "sys", "time", "typing"], imported


def test_second_call_is_served_from_cache_without_any_request(
    cache: Path, server: FileServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = payload(20_000, seed=4)
    server.files["/c.bin"] = data
    ds = entry("c", data, server.url("/c.bin"))
    first = download(ds)
    assert len(server.hits) == 1
    assert download(ds) == first
    assert len(server.hits) == 1, "a cached, verified file must not be fetched again"
    # Served from a mirror folder, then the mirror disappears: the cache still answers.
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    d2 = payload(1000, seed=5)
    (mirror / "m.bin").write_bytes(d2)
    monkeypatch.setenv(MIRROR_ENV, str(mirror))
    ds2 = entry("m", d2, server.url("/m.bin"))
    assert download(ds2).read_bytes() == d2
    shutil.rmtree(mirror)
    server.close()
    assert download(ds2).read_bytes() == d2
    assert download(ds).read_bytes() == data
    assert is_cached(ds) and is_cached(ds2)
    assert server.hits == ["/c.bin"]


def test_force_downloads_again(cache: Path, server: FileServer) -> None:
    data = payload(2000, seed=17)
    server.files["/f.bin"] = data
    ds = entry("f", data, server.url("/f.bin"))
    download(ds)
    download(ds, force=True)
    assert server.hits == ["/f.bin", "/f.bin"]
    assert leftovers(cache) == ["f.bin", "f.bin.sha256"]


def test_fetch_a_group(cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = payload(100, seed=18), payload(200, seed=19)
    (tmp_path / "grp").mkdir()
    (tmp_path / "grp" / "a.bin").write_bytes(a)
    (tmp_path / "grp" / "b.bin").write_bytes(b)
    monkeypatch.setenv(MIRROR_ENV, str(tmp_path))
    registry = {"ga": entry("ga", a, None, path="grp/a.bin"), "gb": entry("gb", b, None, path="grp/b.bin")}
    monkeypatch.setitem(GROUPS, "grp", ("ga", "gb"))
    assert fetch("grp", registry=registry) == cache / "grp"
    assert leftovers(cache) == ["grp/a.bin", "grp/a.bin.sha256", "grp/b.bin", "grp/b.bin.sha256"]


def test_mirror_folder_is_tried_before_the_public_url(
    cache: Path, server: FileServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = payload(5000, seed=6)
    server.files["/pub/sub/f.bin"] = data
    mirror = tmp_path / "mirror"
    (mirror / "sub").mkdir(parents=True)
    (mirror / "sub" / "f.bin").write_bytes(data)
    monkeypatch.setenv(MIRROR_ENV, str(mirror))
    ds = entry("f", data, server.url("/pub/sub/f.bin"), path="sub/f.bin")
    assert download(ds) == cache / "sub" / "f.bin"
    assert server.hits == []
    # The mirror lacks the next file: the public URL serves it.
    other = payload(4000, seed=7)
    server.files["/pub/g.bin"] = other
    assert download(entry("g", other, server.url("/pub/g.bin"))).read_bytes() == other
    assert server.hits == ["/pub/g.bin"]


def test_mirror_given_as_http_and_file_urls(
    cache: Path, server: FileServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = payload(6000, seed=8)
    server.files["/mirror/sub/h.bin"] = data
    public = closed_port()
    ds = entry("h", data, f"http://127.0.0.1:{public}/h.bin", path="sub/h.bin")
    monkeypatch.setenv(MIRROR_ENV, server.url("/mirror/"))
    assert download(ds).read_bytes() == data
    assert server.hits == ["/mirror/sub/h.bin"]
    folder = tmp_path / "filemirror"
    (folder / "sub").mkdir(parents=True)
    d2 = payload(700, seed=9)
    (folder / "sub" / "i.bin").write_bytes(d2)
    monkeypatch.setenv(MIRROR_ENV, folder.as_uri())
    assert download(entry("i", d2, None, path="sub/i.bin")).read_bytes() == d2
    # An HTTP mirror without the file (404) falls back to the public URL.
    d3 = payload(800, seed=10)
    server.files["/pub/j.bin"] = d3
    monkeypatch.setenv(MIRROR_ENV, server.url("/mirror"))
    assert download(entry("j", d3, server.url("/pub/j.bin"))).read_bytes() == d3
    assert server.hits[-2:] == ["/mirror/j.bin", "/pub/j.bin"]


def test_corrupt_file_is_refused_and_nothing_is_kept(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = payload(10_000, seed=11)
    bad = bytearray(good)
    bad[5000] ^= 0xFF  # right size, one wrong byte
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "k.bin").write_bytes(bytes(bad))
    monkeypatch.setenv(MIRROR_ENV, str(mirror))
    with pytest.raises(DownloadError) as info:
        download(entry("k", good, None))
    msg = str(info.value)
    assert msg.startswith(f"k: the file from the mirror {mirror / 'k.bin'} failed verification")
    assert f"sha256 {sha(bytes(bad))}, expected {sha(good)}" in msg
    assert f"unset {MIRROR_ENV}" in msg and "Nothing was kept in the cache" in msg
    assert leftovers(cache) == []


def test_truncated_file_is_refused_and_nothing_is_kept(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = payload(10_000, seed=12)
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "t.bin").write_bytes(good[:7000])
    monkeypatch.setenv(MIRROR_ENV, str(mirror))
    with pytest.raises(DownloadError, match=r"t: .* failed verification: it is 7,000 bytes, expected 10,000\."):
        download(entry("t", good, None))
    assert leftovers(cache) == []
    # Too long is refused as well.
    (mirror / "t.bin").write_bytes(good + b"x")
    with pytest.raises(DownloadError, match="it is 10,001 bytes, expected 10,000"):
        download(entry("t", good, None))
    assert leftovers(cache) == []


class Stream(io.BytesIO):
    """A source whose length is unknown in advance (like a chunked HTTP response)."""


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"abc", "got only 3 of the expected 4 bytes (the transfer was interrupted)"),
        (b"abcde", "got more than the expected 4 bytes"),
        (b"abcX", f"got sha256 {sha(b'abcX')}, expected {sha(b'abcd')}"),
    ],
)
def test_stream_of_unknown_length_is_verified_while_copying(
    body: bytes, message: str, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(download_mod, "_open", lambda source: (Stream(body), None))
    ds = entry("s", b"abcd", "http://example.invalid/s.bin")
    with pytest.raises(DownloadError, match=re.escape(message)):
        download(ds)
    assert leftovers(cache) == []
    monkeypatch.setattr(download_mod, "_open", lambda source: (Stream(b"abcd"), None))
    assert download(ds).read_bytes() == b"abcd"


def test_interrupted_download_leaves_no_half_dataset(cache: Path, server: FileServer) -> None:
    data = payload(200_000, seed=13)
    server.files["/cut.bin"] = data
    server.truncate.add("/cut.bin")
    ds = entry("cut", data, server.url("/cut.bin"))
    with pytest.raises(DownloadError, match=r"cut: .*only 100,000 of the expected 200,000 bytes .*interrupted"):
        download(ds)
    assert leftovers(cache) == []
    assert not is_cached(ds)
    # Once the server behaves, the same call succeeds.
    server.truncate.clear()
    assert download(ds).read_bytes() == data


def test_offline_without_mirror_is_one_clear_error(cache: Path) -> None:
    port = closed_port()
    url = f"http://127.0.0.1:{port}/data/mnist_like.bin"
    ds = entry("offline", b"never arrives", url, path="sub/offline.bin")
    with pytest.raises(DownloadError) as info:
        download(ds)
    msg = str(info.value)
    assert url in msg
    assert f"set {MIRROR_ENV} to a folder (or URL) holding sub/offline.bin" in msg
    assert "Connect to the internet" in msg
    assert info.value.__cause__ is None and info.value.__suppress_context__, "no urllib traceback attached"
    assert leftovers(cache) == []


def test_offline_with_a_mirror_that_lacks_the_file(cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"http://127.0.0.1:{closed_port()}/x.bin"
    monkeypatch.setenv(MIRROR_ENV, str(tmp_path))
    with pytest.raises(DownloadError) as info:
        download(entry("x", b"abc", url))
    msg = str(info.value)
    assert f"mirror {tmp_path / 'x.bin'} (no such file)" in msg and url in msg
    assert f"Check that {MIRROR_ENV}={tmp_path} holds x.bin" in msg


def test_mirror_only_dataset_without_mirror(cache: Path) -> None:
    with pytest.raises(DownloadError, match=rf"w has no public URL.*Set {MIRROR_ENV} to a folder \(or URL\) holding w.bin"):
        download(entry("w", b"abc", None, path="w.bin"))
    with pytest.raises(DownloadError, match=f"holding wikitext-2-valid-test.tgz"):
        fetch("wikitext-2-valid-test")


def test_cached_file_without_marker_is_verified_again(
    cache: Path, server: FileServer
) -> None:
    data = payload(3000, seed=14)
    server.files["/v.bin"] = data
    ds = entry("v", data, server.url("/v.bin"))
    cache.mkdir()
    (cache / "v.bin").write_bytes(data)  # copied in by hand: right bytes, no marker
    assert not is_cached(ds)
    assert download(ds).read_bytes() == data
    assert server.hits == [] and is_cached(ds)
    # Same size, wrong bytes, no marker: hashed, found wrong, replaced from the source.
    (cache / "v.bin.sha256").unlink()
    (cache / "v.bin").write_bytes(bytes(len(data)))
    assert download(ds).read_bytes() == data
    assert server.hits == ["/v.bin"]
    # A marker naming another hash is not trusted either.
    (cache / "v.bin.sha256").write_text("0" * 64 + "  v.bin\n")
    (cache / "v.bin").write_bytes(bytes(len(data)))
    assert download(ds).read_bytes() == data
    assert len(server.hits) == 2
    # A truncated file next to a valid marker is not trusted.
    (cache / "v.bin").write_bytes(data[:-1])
    assert not is_cached(ds)
    assert download(ds).read_bytes() == data
    assert len(server.hits) == 3
    assert leftovers(cache) == ["v.bin", "v.bin.sha256"]


def test_download_with_a_patched_registry(cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = payload(900, seed=15)
    (tmp_path / "r.bin").write_bytes(data)
    monkeypatch.setenv(MIRROR_ENV, str(tmp_path))
    registry = {"r": entry("r", data, None)}
    assert download("r", registry=registry).read_bytes() == data
    with pytest.raises(UnknownDatasetError, match="known datasets: r$"):
        download("mnist_pkl", registry=registry)
    monkeypatch.setitem(REGISTRY, "r", registry["r"])
    assert fetch("r") == cache / "r.bin"


# --------------------------------------------------------------------------------------------------
# Two versions of one file: the mirror's copy and the public file
# --------------------------------------------------------------------------------------------------


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def two_versions(
    name: str, mirror_data: bytes, public_data: bytes, url: str | None, *, folder: str | None = None, whole_md5: bool = True
) -> DatasetSpec:
    """An entry shaped like imagenette2-160's: the mirror's copy by sha256; the public file by a
    whole-file md5 (as torchvision gives it) and fastai's size and md5 of the first MiB."""
    checks = [Check("sha256", sha(mirror_data), len(mirror_data), "mirror copy", "test MANIFEST")]
    if whole_md5:
        checks.append(Check("md5", md5(public_data), len(public_data), "public file", "torchvision"))
    checks.append(Check("md5-first-MiB", md5(public_data[: 1 << 20]), len(public_data), "public file", "fastai checks.txt"))
    path = f"{folder}.tgz" if folder else f"{name}.bin"
    return DatasetSpec(name, path, url, "tgz" if folder else "file", "test", tuple(checks), folder=folder)


def test_public_file_and_mirror_copy_are_both_accepted_and_named(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    mirror_data, public_data = payload(3000, seed=30), payload(1_500_000, seed=31)
    pub = tmp_path / "public"
    pub.mkdir()
    (pub / "two.bin").write_bytes(public_data)
    ds = two_versions("two", mirror_data, public_data, (pub / "two.bin").as_uri())
    monkeypatch.setitem(REGISTRY, "two", ds)
    # Online without a mirror: the public file passes torchvision's md5 and fastai's first-MiB md5.
    assert download(ds).read_bytes() == public_data
    assert capsys.readouterr().err == (
        "two: 1.5 MB from the public URL, md5 (torchvision) and md5 of the first MiB (fastai checks.txt) "
        "verified (public file)\n"
    )
    marker = (cache / "two.bin.sha256").read_text().splitlines()
    assert marker[:2] == [f"{sha(public_data)}  two.bin", "# accepted as: public file"]
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^two\s+3\.0 kB\s+yes \(public file\)\s+file://", out, re.M), out
    assert f"    accepts mirror copy: 3,000 bytes, sha256 {sha(mirror_data)[:12]}... [test MANIFEST]\n" in out
    assert (
        f"    accepts public file: 1,500,000 bytes, md5 {md5(public_data)[:12]}... [torchvision]; "
        f"md5 of the first MiB {md5(public_data[: 1 << 20])[:12]}... [fastai checks.txt]\n"
    ) in out, "a whole-file md5 is there, so the first-MiB one is not called partial"
    # Another cache, with the mirror's copy in a mirror folder: that version is accepted, and named.
    monkeypatch.setenv(DATA_ENV, str(tmp_path / "cache2"))
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "two.bin").write_bytes(mirror_data)
    monkeypatch.setenv(MIRROR_ENV, str(mirror))
    assert download(ds).read_bytes() == mirror_data
    assert capsys.readouterr().err == "two: 3.0 kB from the mirror, sha256 verified (mirror copy)\n"
    assert cache_status(ds) == "yes (mirror copy)"
    # Each cached version is trusted by its marker: neither source is needed again.
    shutil.rmtree(mirror)
    shutil.rmtree(pub)
    assert download(ds).read_bytes() == mirror_data
    monkeypatch.setenv(DATA_ENV, str(cache))
    assert download(ds).read_bytes() == public_data and cache_status(ds) == "yes (public file)"
    assert capsys.readouterr().err == ""


def test_a_first_mib_md5_is_backed_by_the_gzip_crc(
    cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """For imdb.tgz fastai publishes only the md5 of the first MiB: damage further in must not pass.
    The archive's own gzip CRC is checked over the whole file before it reaches the cache."""
    good = gzip.compress(payload(1_300_000, seed=32), mtime=0)  # incompressible: mostly stored blocks
    bad = bytearray(good)
    bad[(1 << 20) + 5000] ^= 0xFF  # past the first MiB, same size: the published checks still pass
    pub = tmp_path / "public"
    pub.mkdir()
    (pub / "p.tgz").write_bytes(bytes(bad))
    ds = two_versions("p", b"the mirror copy", good, (pub / "p.tgz").as_uri(), whole_md5=False)
    assert ds.partial("public file") and md5(bytes(bad)[: 1 << 20]) == md5(good[: 1 << 20])
    with pytest.raises(DownloadError) as info:
        download(ds)
    msg = str(info.value)
    assert f"it is none of the accepted versions: not the mirror copy (it is {len(good):,} bytes, expected 15); " in msg
    assert "not the public file (its gzip stream is damaged (" in msg and "Nothing was kept in the cache" in msg
    assert leftovers(cache) == []
    (pub / "p.tgz").write_bytes(good)
    download(ds)
    assert capsys.readouterr().err.endswith(
        "p: 1.3 MB from the public URL, md5 of the first MiB (fastai checks.txt) verified, a partial check, "
        "plus the gzip CRC of the whole file (public file)\n"
    )


# --------------------------------------------------------------------------------------------------
# Extracting archives
# --------------------------------------------------------------------------------------------------


def make_tgz(members: list[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for info, content in members:
            tf.addfile(info, io.BytesIO(content) if content is not None else None)
    return buf.getvalue()


def file_member(name: str, content: bytes) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(content)
    info.mode = 0o644
    return info, content


def dir_member(name: str) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = 0o755
    return info, None


def special_member(name: str, kind: bytes, linkname: str = "") -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info, None


GOOD_MEMBERS = [dir_member("pkg"), file_member("pkg/a.txt", b"alpha\n"), file_member("pkg/sub/b.txt", b"beta\n")]


def put_archive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, members: list, name: str = "pkg") -> DatasetSpec:
    data = make_tgz(members)
    mirror = tmp_path / "mirror"
    mirror.mkdir(exist_ok=True)
    (mirror / f"{name}.tgz").write_bytes(data)
    monkeypatch.setenv(MIRROR_ENV, str(mirror))
    return entry(name, data, None, folder=name)


def test_untar_extracts_atomically_with_a_marker(cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ds = put_archive(tmp_path, monkeypatch, GOOD_MEMBERS)
    folder = untar(ds)
    assert folder == cache / "pkg"
    assert (folder / "a.txt").read_bytes() == b"alpha\n"
    assert (folder / "sub" / "b.txt").read_bytes() == b"beta\n"
    assert (folder / UNTAR_MARKER).read_text().splitlines()[:2] == [f"{ds.sha256}  pkg.tgz", "# accepted as: mirror copy"]
    assert leftovers(cache) == ["pkg.tgz", "pkg.tgz.sha256", "pkg/.foundations-complete", "pkg/a.txt", "pkg/sub/b.txt"]
    assert sorted(p.name for p in cache.iterdir()) == ["pkg", "pkg.tgz", "pkg.tgz.sha256"], "no temporary folders"
    # Complete: a second call neither downloads nor extracts (the archive may even be gone).
    (cache / "pkg.tgz").unlink()
    shutil.rmtree(tmp_path / "mirror")
    assert untar(ds) == folder and fetch("pkg", registry={"pkg": ds}) == folder
    assert not (cache / "pkg.tgz").exists()


def test_markers_of_earlier_versions_are_still_trusted(cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Caches filled before markers named the version hold one-line markers (``<sha256>  <name>``):
    they are trusted as the version whose sha256 they name, so nothing is fetched again."""
    ds = put_archive(tmp_path, monkeypatch, GOOD_MEMBERS)
    folder = untar(ds)
    (cache / "pkg.tgz.sha256").write_text(f"{ds.sha256}  pkg.tgz\n")
    (folder / UNTAR_MARKER).write_text(ds.sha256 + "\n")
    shutil.rmtree(tmp_path / "mirror")  # nothing to fetch from
    assert is_cached(ds) and cache_status(ds) == "extracted (mirror copy)"
    assert untar(ds) == folder and download(ds) == cache / "pkg.tgz"
    assert verify(ds).status == "ok"
    (folder / UNTAR_MARKER).write_text("0" * 64 + "\n")  # another archive's: extracted again
    assert untar(ds) == folder, "from the cached archive, whose old marker is trusted"
    assert (folder / UNTAR_MARKER).read_text().splitlines()[:2] == [f"{ds.sha256}  pkg.tgz", "# accepted as: mirror copy"]


def test_half_extracted_folder_is_redone(cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ds = put_archive(tmp_path, monkeypatch, GOOD_MEMBERS)
    (cache / "pkg").mkdir(parents=True)
    (cache / "pkg" / "a.txt").write_bytes(b"alp")  # an interrupted extraction from some other tool
    (cache / "pkg" / "stale.txt").write_bytes(b"old")
    folder = untar(ds)
    assert (folder / "a.txt").read_bytes() == b"alpha\n"
    assert not (folder / "stale.txt").exists()
    assert sorted(p.name for p in cache.iterdir()) == ["pkg", "pkg.tgz", "pkg.tgz.sha256"]


HOSTILE = {
    "absolute path": ([*GOOD_MEMBERS, file_member("/tmp/evil.txt", b"x")], "an absolute path"),
    "dotdot escape": ([*GOOD_MEMBERS, file_member("pkg/../../evil.txt", b"x")], "a '..' component"),
    "symlink": ([*GOOD_MEMBERS, special_member("pkg/link", tarfile.SYMTYPE, "/etc/passwd")], "a symbolic link"),
    "relative symlink": ([*GOOD_MEMBERS, special_member("pkg/up", tarfile.SYMTYPE, "../..")], "a symbolic link"),
    "hardlink": ([*GOOD_MEMBERS, special_member("pkg/hard", tarfile.LNKTYPE, "pkg/a.txt")], "a hard link"),
    "device": ([*GOOD_MEMBERS, special_member("pkg/dev", tarfile.CHRTYPE)], "a device"),
    "fifo": ([*GOOD_MEMBERS, special_member("pkg/fifo", tarfile.FIFOTYPE)], "a fifo"),
    "outside folder": ([*GOOD_MEMBERS, file_member("other/c.txt", b"x")], "a path outside the archive's folder 'pkg'"),
    "marker forged": ([*GOOD_MEMBERS, file_member("pkg/.foundations-complete", b"x")], "the name of the completion marker"),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_archive_is_refused_and_nothing_is_left(
    case: str, cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    members, reason = HOSTILE[case]
    ds = put_archive(tmp_path, monkeypatch, members)
    with pytest.raises(UnsafeArchiveError, match=rf"pkg: refusing to extract member .*: it is {re.escape(reason)}"):
        untar(ds)
    assert not (cache / "pkg").exists(), "no target folder"
    assert sorted(p.name for p in cache.iterdir()) == ["pkg.tgz", "pkg.tgz.sha256"], "no temporary folder"
    assert not (tmp_path / "evil.txt").exists() and not Path("/tmp/evil.txt").exists()


def test_untar_rejects_files_and_broken_archives(cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="untar: expected an archive .* got 'mnist_pkl' of kind 'file'"):
        untar("mnist_pkl")
    junk = b"this is not a gzip file at all"
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "bad.tgz").write_bytes(junk)
    monkeypatch.setenv(MIRROR_ENV, str(mirror))
    with pytest.raises(DownloadError, match=r"bad: could not extract .*bad.tgz: ReadError"):
        untar(entry("bad", junk, None, folder="bad"))
    assert not (cache / "bad").exists()


WNIDS = ("n01440764", "n02102040")
PUBLIC_SHAPES = [(213, 160), (160, 240), (240, 160), (160, 200), (160, 160)]  # shorter side 160, aspect kept


def imagenette_tgz(square: bool) -> bytes:
    """A tiny imagenette2-160 archive: {train,val}/<wnid>/*.JPEG and noisy_imagenette.csv. ``square``:
    every image 160x160, like the mirror's squashed copy; else the public file's aspect-kept sizes."""
    Image = pytest.importorskip("PIL.Image")
    members: list = [dir_member("imagenette2-160")]
    rows = ["path,noisy_labels_0,noisy_labels_1,noisy_labels_5,noisy_labels_25,noisy_labels_50,is_valid"]
    k = 0
    for split, per_class in (("train", (2, 1)), ("val", (1, 1))):
        for wnid, n in zip(WNIDS, per_class):
            for _ in range(n):
                size = (160, 160) if square else PUBLIC_SHAPES[k]
                buf = io.BytesIO()
                Image.new("RGB" if k % 2 else "L", size, 40 * k).save(buf, "JPEG", quality=75)
                rel = f"{split}/{wnid}/{wnid}_{k}.JPEG"
                members.append(file_member(f"imagenette2-160/{rel}", buf.getvalue()))
                rows.append(f"{rel},{wnid},{wnid},{wnid},{wnid},{wnid},{split == 'val'}")
                k += 1
    members.append(file_member("imagenette2-160/noisy_imagenette.csv", ("\n".join(rows) + "\n").encode()))
    return make_tgz(members)


def image_layout(folder: Path) -> dict[str, dict[str, list[tuple[int, int]]]]:
    """split -> wnid -> the sizes of its images, read back with PIL."""
    from PIL import Image

    out: dict[str, dict[str, list[tuple[int, int]]]] = {}
    for p in sorted(folder.glob("*/*/*.JPEG")):
        with Image.open(p) as im:
            out.setdefault(p.parent.parent.name, {}).setdefault(p.parent.name, []).append(im.size)
    return out


def test_both_imagenette_layouts_extract_alike(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The mirror's archive holds 160x160 squashed images, the public one keeps each aspect ratio (shorter
    side 160); both have the same tree, and the same code fetches and extracts them."""
    square, public = imagenette_tgz(square=True), imagenette_tgz(square=False)
    pub = tmp_path / "public"
    pub.mkdir()
    (pub / "imagenette2-160.tgz").write_bytes(public)
    ds = two_versions("imagenette2-160", square, public, (pub / "imagenette2-160.tgz").as_uri(), folder="imagenette2-160")
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "imagenette2-160.tgz").write_bytes(square)
    monkeypatch.setenv(MIRROR_ENV, str(mirror))
    from_mirror = fetch("imagenette2-160", registry={"imagenette2-160": ds})
    assert cache_status(ds) == "extracted (mirror copy)"
    monkeypatch.delenv(MIRROR_ENV)
    monkeypatch.setenv(DATA_ENV, str(tmp_path / "cache2"))
    from_public = fetch("imagenette2-160", registry={"imagenette2-160": ds})
    assert cache_status(ds) == "extracted (public file)"
    assert from_mirror == cache / "imagenette2-160" and from_public == tmp_path / "cache2" / "imagenette2-160"
    err = capsys.readouterr().err.splitlines()
    assert err == [
        f"imagenette2-160: {human_bytes(len(square))} from the mirror, sha256 verified (mirror copy)",
        f"imagenette2-160: {human_bytes(len(public))} from the public URL, md5 (torchvision) and md5 of the first "
        "MiB (fastai checks.txt; the whole file) verified (public file)",
    ]
    a, b = image_layout(from_mirror), image_layout(from_public)
    counts = {split: {w: len(s) for w, s in classes.items()} for split, classes in a.items()}
    assert counts == {"train": {"n01440764": 2, "n02102040": 1}, "val": {"n01440764": 1, "n02102040": 1}}
    assert {split: {w: len(s) for w, s in classes.items()} for split, classes in b.items()} == counts
    assert sorted(p.relative_to(from_mirror) for p in from_mirror.rglob("*")) == sorted(
        p.relative_to(from_public) for p in from_public.rglob("*")
    ), "the same names, folders and csv"
    assert all(size == (160, 160) for classes in a.values() for sizes in classes.values() for size in sizes)
    got = sorted(size for classes in b.values() for sizes in classes.values() for size in sizes)
    assert got == sorted(PUBLIC_SHAPES) and all(min(s) == 160 for s in got), "aspect ratios kept, shorter side 160"
    assert (from_mirror / "noisy_imagenette.csv").read_text() == (from_public / "noisy_imagenette.csv").read_text()


# --------------------------------------------------------------------------------------------------
# IDX parsing and MNIST
# --------------------------------------------------------------------------------------------------


def idx_bytes(code: int, dims: tuple[int, ...], data: bytes) -> bytes:
    head = bytes([0, 0, code, len(dims)]) + b"".join(d.to_bytes(4, "big") for d in dims)
    return head + data


def test_read_idx_parses_and_validates(tmp_path: Path) -> None:
    pixels = bytes(range(2 * 3 * 4))
    p = tmp_path / "img.gz"
    p.write_bytes(gzip.compress(idx_bytes(0x08, (2, 3, 4), pixels)))
    got = read_idx(p, ndim=3)
    assert got.dtype == torch.uint8 and tuple(got.shape) == (2, 3, 4)
    assert torch.equal(got, torch.arange(24, dtype=torch.uint8).reshape(2, 3, 4))
    raw = tmp_path / "lab"
    raw.write_bytes(idx_bytes(0x08, (5,), bytes([9, 8, 7, 6, 255])))
    assert read_idx(raw).tolist() == [9, 8, 7, 6, 255]
    with pytest.raises(ValueError, match="expected 3 dimensions in lab, got 1"):
        read_idx(raw, ndim=3)
    (tmp_path / "short").write_bytes(idx_bytes(0x08, (5,), bytes(4)))
    with pytest.raises(ValueError, match=r"declares shape \(5,\) \(5 values\) but holds 4 bytes"):
        read_idx(tmp_path / "short")
    (tmp_path / "magic").write_bytes(idx_bytes(0x0D, (1,), bytes(4)))  # 0x0D = float: not MNIST's
    with pytest.raises(ValueError, match="magic number 0x00000d01; expected 0x000008NN"):
        read_idx(tmp_path / "magic")
    (tmp_path / "tiny").write_bytes(b"\x00\x00")
    with pytest.raises(ValueError, match="too short for an IDX header"):
        read_idx(tmp_path / "tiny")
    (tmp_path / "head").write_bytes(bytes([0, 0, 8, 3, 0, 0]))
    with pytest.raises(ValueError, match="ends inside its header"):
        read_idx(tmp_path / "head")


def test_mnist_pickle_may_hold_only_numpy_arrays(cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Unpickling runs code; even a file that passed its sha256 check may only rebuild numpy arrays."""

    class Evil:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (os.system, ("echo pwned > " + str(tmp_path / "pwned"),))

    import pickle

    data = gzip.compress(pickle.dumps(Evil(), protocol=2))
    (tmp_path / "mnist.pkl.gz").write_bytes(data)
    monkeypatch.setenv(MIRROR_ENV, str(tmp_path))
    monkeypatch.setitem(REGISTRY, "mnist_pkl", entry("mnist_pkl", data, None, path="mnist.pkl.gz"))
    with pytest.raises(pickle.UnpicklingError, match=r"refusing to load (posix|os)\.system"):
        get_mnist(source="pkl")
    assert not (tmp_path / "pwned").exists()


TINY_SPLITS = (
    ("train", (2, 1, 1, 1, 1, 1, 1, 1, 1, 1)),
    ("valid", (1, 1, 1, 1, 1, 1, 1, 1, 1, 1)),
    ("test", (0, 1, 0, 1, 0, 1, 0, 1, 0, 1)),
)


def tiny_mnist_pickle(counts: tuple[tuple[int, ...], ...], scale: float = 256.0, seed: int = 0) -> bytes:
    """A gzipped pickle shaped like deeplearning.net's mnist.pkl.gz, with ``counts`` labels per split."""
    import pickle

    import numpy as np

    rng = np.random.default_rng(seed)
    splits = []
    for c in counts:
        y = np.repeat(np.arange(10), c).astype(np.int64)
        rng.shuffle(y)
        x = (rng.integers(0, 256, (len(y), 784)) / scale).astype(np.float32)
        splits.append((x, y))
    return gzip.compress(pickle.dumps(tuple(splits), protocol=2), mtime=0)


def test_public_mnist_pickle_is_accepted_by_its_structure(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """No checksum is published for the public mnist.pkl.gz: it must be a numpy-only gzipped pickle
    of three splits with MNIST's shapes, pixel/256 scale and label counts (here: tiny counts)."""
    import pickle

    monkeypatch.setattr(pickles_mod, "MNIST_PKL_SPLITS", TINY_SPLITS)
    counts = tuple(c for _, c in TINY_SPLITS)
    good = tiny_mnist_pickle(counts)
    pub = tmp_path / "public"
    pub.mkdir()
    (pub / "mnist.pkl.gz").write_bytes(good)
    # A download of unknown size may bring up to twice the largest known size (here 2 x 100,000 bytes).
    mirror_copy = Check("sha256", sha(b"the mirror's rebuilt copy"), 100_000, "mirror copy", "test")
    spec = DatasetSpec("mnist_pkl", "mnist.pkl.gz", (pub / "mnist.pkl.gz").as_uri(), "file", "test",
                       (mirror_copy, REGISTRY["mnist_pkl"].checks[1]))
    monkeypatch.setitem(REGISTRY, "mnist_pkl", spec)
    m = get_mnist(source="pkl")
    assert [tuple(t.shape) for t in m] == [(11, 784), (11,), (10, 784), (10,)]
    assert torch.bincount(m.y_train, minlength=10).tolist() == list(counts[0])
    assert capsys.readouterr().err == (
        f"mnist_pkl: {human_bytes(len(good))} from the public URL, structure (no published checksum for this copy) "
        "verified (public file)\n"
    )
    assert cache_status(spec) == "yes (public file)"

    class Evil:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (os.system, ("echo pwned > " + str(tmp_path / "pwned"),))

    swapped = ((1, 2, 1, 1, 1, 1, 1, 1, 1, 1), *counts[1:])
    for data, why in [
        (tiny_mnist_pickle(counts, scale=255.0), "train: expected pixels scaled as pixel/256 (whole 256ths in [0, 255/256])"),
        (tiny_mnist_pickle(((1,) * 10, *counts[1:])), "train: expected x as float32 of shape (11, 784), got ndarray of shape (10, 784)"),
        (tiny_mnist_pickle(swapped), "train: expected label counts [2, 1, 1, 1, 1, 1, 1, 1, 1, 1], got [1, 2, 1, 1, 1, 1, 1, 1, 1, 1]"),
        (good[:-9], "it is not a readable gzipped pickle (EOFError: "),
        (gzip.compress(pickle.dumps(Evil(), protocol=2)), "mnist.pkl.gz: refusing to load "),
    ]:
        (pub / "mnist.pkl.gz").write_bytes(data)
        with pytest.raises(DownloadError, match=r"not the mirror copy \(it is [\d,]+ bytes, expected 100,000\); not the public file \(" + re.escape(why)):
            download("mnist_pkl", force=True)
        assert leftovers(cache) == ["mnist.pkl.gz", "mnist.pkl.gz.sha256"], "the good copy stays; nothing else is kept"
    assert not (tmp_path / "pwned").exists()


def test_get_mnist_rejects_unknown_source() -> None:
    with pytest.raises(ValueError, match="get_mnist: expected source 'idx' or 'pkl', got 'csv'"):
        get_mnist("csv")
    with pytest.raises(ValueError, match="get_mnist_test: expected source 'idx' or 'pkl', got 'png'"):
        get_mnist_test("png")


@pytest.fixture(scope="module")
def real_mnist(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[MNIST, MNIST, Path]]:
    """Real MNIST through the mirror into a fresh cache, from the IDX files and from the pickle."""
    if not REAL_MIRROR:
        pytest.skip(f"{MIRROR_ENV} is unset: set it to a folder holding mnist_idx/ and mnist.pkl.gz")
    folder = tmp_path_factory.mktemp("mnist-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(DATA_ENV, str(folder))
        mp.setenv(PROGRESS_ENV, "0")
        assert fetch("mnist") == folder / "mnist_idx"
        yield get_mnist(), get_mnist(source="pkl"), folder


@pytest.mark.lesson08
def test_real_mnist_matches_the_manifest(real_mnist: tuple[MNIST, MNIST, Path]) -> None:
    m, _, _ = real_mnist
    assert isinstance(m, MNIST)
    assert [tuple(t.shape) for t in m] == [(50000, 784), (50000,), (10000, 784), (10000,)]
    assert [t.dtype for t in m] == [torch.float32, torch.int64, torch.float32, torch.int64]
    assert m.y_train[:3].tolist() == [5, 0, 4] and m.y_train[-3:].tolist() == [8, 4, 8]
    assert m.x_train.min().item() == 0.0 and m.x_train.max().item() == 0.99609375  # 255/256
    assert m.x_valid.max().item() == 0.99609375
    assert f"{m.x_train.mean().item():.4f}" == "0.1304"
    assert f"{m.x_train.std().item():.4f}" == "0.3073"
    assert torch.bincount(m.y_train, minlength=10).tolist() == [4932, 5678, 4968, 5101, 4859, 4506, 4951, 5175, 4842, 4988]
    assert torch.bincount(m.y_valid, minlength=10).tolist() == [991, 1064, 990, 1030, 983, 915, 967, 1090, 1009, 961]
    # Every value is a whole number of 256ths.
    assert torch.equal(m.x_train * 256, (m.x_train * 256).round())


@pytest.mark.lesson08
def test_real_mnist_idx_and_pickle_agree(real_mnist: tuple[MNIST, MNIST, Path]) -> None:
    m, p, _ = real_mnist
    for field, a, b in zip(MNIST._fields, m, p):
        assert a.dtype == b.dtype and a.shape == b.shape, field
        assert torch.equal(a, b), f"{field} differs between the IDX files and mnist.pkl.gz"


@pytest.mark.lesson08
def test_real_mnist_test_split_and_cache(real_mnist: tuple[MNIST, MNIST, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    _, _, folder = real_mnist
    monkeypatch.setenv(DATA_ENV, str(folder))
    monkeypatch.setenv(MIRROR_ENV, str(folder / "no-such-mirror"))  # everything must come from the cache
    t = get_mnist_test()
    assert tuple(t.x_test.shape) == (10000, 784) and t.y_test.dtype == torch.int64
    assert torch.bincount(t.y_test, minlength=10).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    tp = get_mnist_test(source="pkl")
    assert torch.equal(t.x_test, tp.x_test) and torch.equal(t.y_test, tp.y_test)


@pytest.mark.lesson08
def test_real_mnist_normalised_validation(real_mnist: tuple[MNIST, MNIST, Path]) -> None:
    m, _, _ = real_mnist
    mean, std = m.x_train.mean(), m.x_train.std()
    x_train = normalize(m.x_train, mean, std)
    x_valid = normalize(m.x_valid, mean, std)
    assert abs(x_train.mean().item()) < 1e-4 and abs(x_train.std().item() - 1) < 1e-4
    # MANIFEST: -0.0058 / 0.9924 as the course printed them (4 significant digits of -0.005851).
    assert abs(x_valid.mean().item() - -0.00585) < 5e-5
    assert f"{x_valid.std().item():.4f}" == "0.9924"


# --------------------------------------------------------------------------------------------------
# normalize
# --------------------------------------------------------------------------------------------------


def test_normalize_matches_float64_oracle() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(7, 5, generator=g)
    got = normalize(x, 0.25, 0.5)
    expected = (x.double() - 0.25) / 0.5
    assert got.dtype == torch.float32
    assert torch.allclose(got.double(), expected, atol=1e-6)
    mean, std = x.mean(0), x.std(0)  # per-column statistics broadcast along rows
    assert torch.allclose(normalize(x, mean, std).double(), (x.double() - mean.double()) / std.double(), atol=1e-5)
    assert torch.allclose(normalize(x, mean, std).mean(0), torch.zeros(5), atol=1e-6)
    assert normalize(x.double(), 1, 2).dtype == torch.float64
    assert normalize(x, mean.double(), std.double()).dtype == torch.float32, "the result keeps x's dtype"
    xg = x.clone().requires_grad_()
    normalize(xg, 0.5, 4.0).sum().backward()
    assert torch.equal(xg.grad, torch.full_like(x, 0.25))


@pytest.mark.parametrize(
    ("x", "mean", "std", "error", "message"),
    [
        (torch.ones(3), 0.0, 0.0, ValueError, "expected std > 0, got 0.0"),
        (torch.ones(3), 0.0, -1.0, ValueError, "expected std > 0, got -1.0"),
        (torch.ones(3), 0.0, torch.tensor([1.0, 0.0, 2.0]), ValueError, r"expected std > 0, got tensor\(\[1., 0., 2.\]\)"),
        (torch.ones(3), float("nan"), 1.0, ValueError, "expected a finite mean, got nan"),
        (torch.ones(3), 0.0, float("inf"), ValueError, "expected a finite std, got inf"),
        (torch.ones(3, dtype=torch.uint8), 0.0, 1.0, TypeError, "expected a floating-point x, got dtype torch.uint8"),
        ([1.0, 2.0], 0.0, 1.0, TypeError, "expected x to be a torch.Tensor, got list"),
        (torch.ones(3), "0", 1.0, TypeError, "expected mean to be a float or a tensor, got str"),
        (torch.ones(2, 3), torch.zeros(2), 1.0, ValueError, r"mean of shape \(2,\) does not broadcast to x's shape \(2, 3\)"),
        (torch.ones(2, 3), 0.0, torch.ones(4, 1, 3), ValueError, r"std of shape \(4, 1, 3\) does not broadcast to x's shape"),
    ],
)
def test_normalize_errors(x: object, mean: object, std: object, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        normalize(x, mean, std)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------------


def test_cli_list_and_fetch(cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    data = payload(1234, seed=16)
    (tmp_path / "cli.bin").write_bytes(data)
    monkeypatch.setenv(MIRROR_ENV, str(tmp_path))
    monkeypatch.setenv(PROGRESS_ENV, "0")
    monkeypatch.setitem(REGISTRY, "cli", entry("cli", data, None))
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^cli\s+1\.2 kB\s+no\s+mirror:cli\.bin$", out, re.M), out
    assert re.search(r"^mnist_test_labels\s+4\.5 kB\s+no\s+mirror:mnist_idx/t10k-labels-idx1-ubyte\.gz then https://", out, re.M)
    assert f"cache: {cache}" in out and "group mnist: mnist_train_images, mnist_train_labels" in out
    assert main(["fetch", "cli"]) == 0
    assert capsys.readouterr().out == f"cli: {cache / 'cli.bin'}\n"
    assert main(["list"]) == 0
    assert re.search(r"^cli\s+1\.2 kB\s+yes\s", capsys.readouterr().out, re.M)
    assert main(["fetch", "cli", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: unknown dataset 'nope'; known: ") and "mnist_pkl" in err


def test_cli_offline_exits_2_without_traceback(tmp_path: Path) -> None:
    env = {**os.environ, DATA_ENV: str(tmp_path / "cache"), PROGRESS_ENV: "0"}
    env.pop(MIRROR_ENV, None)
    proc = subprocess.run(
        [sys.executable, "-m", "foundations.data", "fetch", "wikitext-2-valid-test"],
        capture_output=True, text=True, env=env, timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: wikitext-2-valid-test has no public URL")
    assert f"Set {MIRROR_ENV} to a folder (or URL) holding wikitext-2-valid-test.tgz" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""
