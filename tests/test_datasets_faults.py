"""foundations.data's downloads under faults: damaged caches, killed downloads, Ctrl-C, read-only
caches and damaged mirrors. Each test checks what the user is told (the exact line) and what is left on disk.

Everything runs on small files made here, a temporary cache, ``file://`` URLs standing for the public
URL, and (for the tests that kill a real process) a local HTTP server that serves slowly.
"""

from __future__ import annotations

import errno
import gzip
import hashlib
import io
import os
import re
import signal
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
from foundations.data.archives import untar
from foundations.data.cache import DATA_ENV, HOST, is_cached
from foundations.data.cli import main
from foundations.data.download import MIRROR_ENV, download
from foundations.data.errors import CacheWriteError, DamagedFileError, DownloadError
from foundations.data.mnist import get_mnist, get_mnist_test
from foundations.data.registry import REGISTRY, Check, DatasetSpec
from foundations.data.verification import verify
from foundations.progress import PROGRESS_ENV

pytestmark = pytest.mark.data

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty cache folder; no mirror; progress off (these tests read the notices, not the bar)."""
    folder = tmp_path / "cache"
    monkeypatch.setenv(DATA_ENV, str(folder))
    monkeypatch.delenv(MIRROR_ENV, raising=False)
    monkeypatch.setenv(PROGRESS_ENV, "0")
    return folder


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def payload(n: int, seed: int = 0) -> bytes:
    g = torch.Generator().manual_seed(seed)
    return bytes(torch.randint(0, 256, (n,), generator=g, dtype=torch.uint8).tolist())


def spec(name: str, data: bytes, url: str | None = None, *, path: str | None = None, folder: str | None = None) -> DatasetSpec:
    return DatasetSpec(
        name, path or (f"{folder}.tgz" if folder else f"{name}.bin"), url, "tgz" if folder else "file", "test",
        (Check("sha256", sha(data), len(data), "mirror copy", "test"),), folder=folder,
    )


def leftovers(folder: Path) -> list[str]:
    """Every file and folder under ``folder`` (hidden ones too), relative."""
    if not folder.exists():
        return []
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def put(folder: Path, rel: str, data: bytes) -> Path:
    path = folder / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def tgz(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tf.addfile(info, io.BytesIO(content))
    return buf.getvalue()


def damage(path: Path, at: float = 0.5) -> None:
    """Flip bytes in place, keeping the size (what a bad disk or a stray write does)."""
    data = bytearray(path.read_bytes())
    i = int(len(data) * at)
    for j in range(i, min(i + 64, len(data) - 8)):
        data[j] ^= 0x5A
    path.write_bytes(bytes(data))


def idx_gz(dims: tuple[int, ...], data: bytes) -> bytes:
    head = bytes([0, 0, 8, len(dims)]) + b"".join(d.to_bytes(4, "big") for d in dims)
    return gzip.compress(head + data, mtime=0)


def child(code: str, cache: Path) -> subprocess.Popen[str]:
    """A Python process running ``code`` with ``foundations`` importable and the test's cache."""
    env = {**os.environ, DATA_ENV: str(cache), PROGRESS_ENV: "0", "PYTHONPATH": str(ROOT)}
    env.pop(MIRROR_ENV, None)
    return subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_part(cache: Path, name: str, timeout: float = 30.0) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        parts = [p for p in cache.glob(f".{name}.part-*") if p.stat().st_size > 0]
        if parts:
            return parts[0]
        time.sleep(0.02)
    raise AssertionError(f"no partial download of {name} appeared in {cache} within {timeout} s")


# --------------------------------------------------------------------------------------------------
# 1. A cached file damaged in place: verify, fetch --force, and clear decode errors
# --------------------------------------------------------------------------------------------------


def test_damaged_cached_file_is_reported_by_verify_and_repaired_by_force(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    good_a, good_b = payload(50_000, seed=1), payload(20_000, seed=2)
    mirror = tmp_path / "mirror"
    put(mirror, "a.bin", good_a)
    put(mirror, "b.bin", good_b)
    monkeypatch.setenv(MIRROR_ENV, str(mirror))
    monkeypatch.setitem(REGISTRY, "a", spec("a", good_a))
    monkeypatch.setitem(REGISTRY, "b", spec("b", good_b))
    monkeypatch.setitem(REGISTRY, "c", spec("c", b"never fetched"))
    assert main(["fetch", "a", "b"]) == 0
    capsys.readouterr()
    damage(cache / "a.bin")  # same size: the marker still vouches for it, so it is trusted...
    assert is_cached("a") and download("a").stat().st_size == 50_000
    # ...until verify hashes it again.
    assert main(["verify", "a", "b", "c"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == (
        f"a: DAMAGED: {cache / 'a.bin'} changed since it was accepted as the mirror copy: its sha256 is now "
        f"{sha((cache / 'a.bin').read_bytes())} (50,000 bytes), the marker recorded {sha(good_a)} (50,000 bytes). "
        "Repair it with: python -m foundations.data fetch --force a"
    )
    assert out[1] == f"b: ok: {cache / 'b.bin'} is the mirror copy (20.0 kB), its sha256 unchanged since it was accepted"
    assert out[2] == "c: not in the cache"
    assert out[3] == f"1 ok, 1 damaged, 1 not in the cache ({cache})"
    assert verify("a").status == "damaged" and verify("b").status == "ok"
    # fetch without --force trusts the marker; with --force it copies again.
    assert main(["fetch", "--force", "a"]) == 0
    assert capsys.readouterr().out == f"a: {cache / 'a.bin'}\n"
    assert (cache / "a.bin").read_bytes() == good_a
    assert main(["verify", "a", "b"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == f"2 ok, 0 damaged, 0 not in the cache ({cache})"


def test_verify_without_a_marker_and_with_a_truncated_file(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = payload(9000, seed=3)
    monkeypatch.setitem(REGISTRY, "v", spec("v", data))
    put(cache, "v.bin", data)  # copied in by hand
    assert verify("v") == ("v", "ok", f"ok: {cache / 'v.bin'} is the mirror copy, sha256 verified (it had no valid marker)")
    assert not (cache / "v.bin.sha256").exists(), "verify changes nothing"
    put(cache, "v.bin", data[:-100])
    r = verify("v")
    assert r.status == "damaged" and r.message == (
        f"DAMAGED: {cache / 'v.bin'}: got only 8,900 of the expected 9,000 bytes (the transfer was interrupted). "
        "Repair it with: python -m foundations.data fetch --force v"
    )


def test_damaged_cached_archive_names_the_repair(cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tgz({"pkg/a.txt": payload(200_000, seed=4), "pkg/b.txt": b"beta\n"})
    put(tmp_path / "mirror", "pkg.tgz", data)
    monkeypatch.setenv(MIRROR_ENV, str(tmp_path / "mirror"))
    ds = spec("pkg", data, folder="pkg")
    archive = download(ds)
    damage(archive, at=0.4)
    with pytest.raises(DamagedFileError) as info:
        untar(ds)
    msg = str(info.value)
    assert msg.startswith(f"pkg: could not extract {archive}: ")
    assert re.search(r": (BadGzipFile|error|ReadError|EOFError): ", msg), msg
    assert msg.endswith("Nothing was extracted. The archive is damaged or incomplete; repair it with: "
                        "python -m foundations.data fetch --force pkg")
    assert leftovers(cache) == ["pkg.tgz", "pkg.tgz.sha256"], "no folder, no temporary folder"
    assert (untar(ds, force=True) / "b.txt").read_bytes() == b"beta\n"


def test_damage_inside_a_member_is_caught_by_the_gzip_crc(cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """tarfile stops reading at the end-of-archive blocks; untar reads to the end so the CRC is checked."""
    data = tgz({"pkg/r.bin": payload(300_000, seed=5)})  # incompressible: stored blocks, a flip stays silent
    put(tmp_path / "mirror", "pkg.tgz", data)
    monkeypatch.setenv(MIRROR_ENV, str(tmp_path / "mirror"))
    ds = spec("pkg", data, folder="pkg")
    archive = download(ds)
    raw = bytearray(archive.read_bytes())
    raw[150_000] ^= 0x01  # one bit inside the member's data
    archive.write_bytes(bytes(raw))
    with pytest.raises(DamagedFileError, match=r"could not extract .*(CRC check failed|invalid|error)"):
        untar(ds)
    assert not (cache / "pkg").exists()


def test_damaged_cached_mnist_files_name_the_repair(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pickle

    import numpy as np

    images = idx_gz((3, 28, 28), bytes(range(256)) * 9 + bytes(3 * 784 - 2304))
    labels = idx_gz((3,), bytes([7, 2, 1]))
    pkl = gzip.compress(pickle.dumps(tuple((np.zeros((n, 784), np.float32), np.zeros(n, np.int64)) for n in (5, 2, 2)), protocol=2))
    mirror = tmp_path / "mirror"
    put(mirror, "mnist_idx/t10k-images-idx3-ubyte.gz", images)
    put(mirror, "mnist_idx/t10k-labels-idx1-ubyte.gz", labels)
    put(mirror, "mnist.pkl.gz", pkl)
    monkeypatch.setenv(MIRROR_ENV, str(mirror))
    monkeypatch.setitem(REGISTRY, "mnist_test_images", spec("mnist_test_images", images, path="mnist_idx/t10k-images-idx3-ubyte.gz"))
    monkeypatch.setitem(REGISTRY, "mnist_test_labels", spec("mnist_test_labels", labels, path="mnist_idx/t10k-labels-idx1-ubyte.gz"))
    monkeypatch.setitem(REGISTRY, "mnist_pkl", spec("mnist_pkl", pkl, path="mnist.pkl.gz"))
    t = get_mnist_test()
    assert tuple(t.x_test.shape) == (3, 784) and t.y_test.tolist() == [7, 2, 1]
    assert get_mnist(source="pkl").x_train.shape == (5, 784)
    cached = cache / "mnist_idx" / "t10k-images-idx3-ubyte.gz"
    damage(cached)
    with pytest.raises(DamagedFileError) as info:
        get_mnist_test()
    msg = str(info.value)
    assert msg.startswith(f"mnist_test_images: the cached file {cached} cannot be read (")
    assert msg.endswith("); it is damaged or incomplete. Repair it with: python -m foundations.data fetch --force mnist_test_images")
    assert isinstance(info.value, DownloadError) and info.value.__cause__ is None
    damage(cache / "mnist.pkl.gz", at=0.3)
    with pytest.raises(DamagedFileError, match=r"^mnist_pkl: the cached file .*mnist\.pkl\.gz cannot be read \(.*fetch --force mnist_pkl$"):
        get_mnist(source="pkl")
    # A truncated file next to its marker is not trusted at all: it is simply fetched again.
    (cache / "mnist.pkl.gz").write_bytes(pkl[:-10])
    assert get_mnist(source="pkl").x_valid.shape == (2, 784)


# --------------------------------------------------------------------------------------------------
# 2. kill -9 mid-download: the partial file is recognisable, and the next fetch removes it
# --------------------------------------------------------------------------------------------------


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_stale_partial_files_are_removed_and_live_ones_kept(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = payload(5000, seed=6)
    put(tmp_path / "mirror", "s.bin", data)
    monkeypatch.setenv(MIRROR_ENV, str(tmp_path / "mirror"))
    pid = dead_pid()
    dead = put(cache, f".s.bin.part-{HOST}-{pid}-0badf00d", b"x" * 3000)  # its writer was killed
    live = put(cache, f".s.bin.part-{HOST}-{os.getppid()}-00c0ffee", b"y" * 10)  # a download in progress
    old = put(cache, ".s.bin.k2j4_x9q.part", b"z" * 10)  # tempfile's name, from before; an hour old
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    other = put(cache, ".t.bin.part-elsewhere-1-00000000", b"w")  # another dataset's: not ours to touch
    assert download(spec("s", data)).read_bytes() == data
    err = capsys.readouterr().err.splitlines()
    assert f"s: removed the stale partial download (3.0 kB) {dead}: process {pid}, which was writing it, is gone" in err
    assert f"s: removed the stale partial download (10 B) {old}: untouched for 60 minutes" in err
    assert len(err) == 2
    assert live.exists() and other.exists() and not dead.exists() and not old.exists()
    assert leftovers(cache) == sorted([live.name, other.name, "s.bin", "s.bin.sha256"])


def test_kill_9_mid_download_then_fetch_again(cache: Path, slow: FileServer, capsys: pytest.CaptureFixture[str]) -> None:
    data = payload(400_000, seed=7)
    slow.files["/k.bin"] = data
    url = slow.base + "/k.bin"
    code = (
        "import foundations.data.download as dl\n"
        "from foundations.data.registry import Check, DatasetSpec\n"
        "dl.CHUNK = 16384\n"  # write as the pieces arrive (read() waits for a whole chunk)
        f"ds = DatasetSpec('k', 'k.bin', {url!r}, 'file', 'test', (Check('sha256', {sha(data)!r}, {len(data)}, 'mirror copy', 'test'),))\n"
        "dl.download(ds)\n"
    )
    proc = child(code, cache)
    part = wait_for_part(cache, "k.bin")
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert part.exists() and part.name.startswith(f".k.bin.part-{HOST}-{proc.pid}-"), "left behind, and named by its writer"
    slow.pause = 0.0
    ds = spec("k", data, url)
    assert download(ds).read_bytes() == data
    err = capsys.readouterr().err
    assert err.startswith(f"k: removed the stale partial download (") and f"{part}: process {proc.pid}, which was writing it, is gone" in err
    assert leftovers(cache) == ["k.bin", "k.bin.sha256"]


def test_kill_9_mid_extraction_then_fetch_again(cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    data = tgz({"pkg/a.txt": b"alpha\n"})
    put(tmp_path / "mirror", "pkg.tgz", data)
    monkeypatch.setenv(MIRROR_ENV, str(tmp_path / "mirror"))
    ds = spec("pkg", data, folder="pkg")
    download(ds)
    pid = dead_pid()
    half = cache / f".pkg.extracting-{HOST}-{pid}-12345678"
    put(half, "pkg/a.txt", b"al")
    assert (untar(ds) / "a.txt").read_bytes() == b"alpha\n"
    assert capsys.readouterr().err == f"pkg: removed the stale half-extracted folder {half}: process {pid}, which was writing it, is gone\n"
    assert leftovers(cache) == ["pkg", "pkg.tgz", "pkg.tgz.sha256", "pkg/.foundations-complete", "pkg/a.txt"]


# --------------------------------------------------------------------------------------------------
# 3. Ctrl-C: one line, exit 130, nothing left
# --------------------------------------------------------------------------------------------------


class Interrupting(io.BytesIO):
    """A source that delivers one chunk, then is interrupted by Ctrl-C."""

    def read(self, n: int = -1) -> bytes:
        if self.tell() > 0:
            raise KeyboardInterrupt
        return super().read(1000)


def test_ctrl_c_during_download_prints_one_line_and_exits_130(
    cache: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = payload(5000, seed=8)
    monkeypatch.setitem(REGISTRY, "imdb", spec("imdb", data, "http://example.invalid/imdb.tgz", path="imdb.tgz"))
    monkeypatch.setattr(download_mod, "_open", lambda source: (Interrupting(data), len(data)))
    assert main(["fetch", "imdb"]) == 130
    out = capsys.readouterr()
    assert out.err == "interrupted: imdb.tgz not downloaded; nothing was left in the cache\n"
    assert out.out == ""
    assert leftovers(cache) == [], "the partial file is gone"
    with pytest.raises(KeyboardInterrupt, match="imdb.tgz not downloaded"):  # a notebook gets a KeyboardInterrupt
        download("imdb")


def test_ctrl_c_during_extraction(cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    data = tgz({"pkg/a.txt": b"alpha\n"})
    put(tmp_path / "mirror", "pkg.tgz", data)
    monkeypatch.setenv(MIRROR_ENV, str(tmp_path / "mirror"))
    monkeypatch.setitem(REGISTRY, "pkg", spec("pkg", data, folder="pkg"))

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(tarfile.TarFile, "extractall", interrupted)
    assert main(["fetch", "pkg"]) == 130
    assert capsys.readouterr().err == (
        f"interrupted: pkg not extracted; the archive {cache / 'pkg.tgz'} stays in the cache and nothing "
        "half-extracted was left\n"
    )
    assert leftovers(cache) == ["pkg.tgz", "pkg.tgz.sha256"]


def test_real_sigint_in_the_cli(cache: Path, slow: FileServer) -> None:
    data = payload(400_000, seed=9)
    slow.files["/i.tgz"] = data
    code = (
        "import sys\n"
        "import foundations.data.download as dl\n"
        "from foundations.data.cli import main\n"
        "from foundations.data.registry import REGISTRY, Check, DatasetSpec\n"
        "dl.CHUNK = 16384\n"
        f"REGISTRY['i'] = DatasetSpec('i', 'i.tgz', {slow.base + '/i.tgz'!r}, 'file', 'test', "
        f"(Check('sha256', {sha(data)!r}, {len(data)}, 'mirror copy', 'test'),))\n"
        "sys.exit(main(['fetch', 'i']))\n"
    )
    proc = child(code, cache)
    wait_for_part(cache, "i.tgz")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert err == "interrupted: i.tgz not downloaded; nothing was left in the cache\n"
    assert out == "" and leftovers(cache) == []


# --------------------------------------------------------------------------------------------------
# 4. A read-only (or full) cache: name FOUNDATIONS_DATA and what to do
# --------------------------------------------------------------------------------------------------


def read_only_message(cache: Path, name: str = "r") -> str:
    return (
        f"{name}: cannot write to the cache folder {cache} (Permission denied; {DATA_ENV}={cache}). "
        f"Point {DATA_ENV} at a folder you can write to, e.g. export {DATA_ENV}=$HOME/foundations-data, "
        "or make this folder writable, then run the command again."
    )


def test_read_only_cache_simulated(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Runs as root too: every attempt to create a file in the cache is refused, as chmod 555 would."""
    data = payload(3000, seed=10)
    put(tmp_path / "mirror", "r.bin", data)
    monkeypatch.setenv(MIRROR_ENV, str(tmp_path / "mirror"))
    monkeypatch.setitem(REGISTRY, "r", spec("r", data))
    cache.mkdir()
    real_open = os.open

    def refusing_open(path: object, flags: int, *args: object, **kwargs: object) -> int:
        if flags & os.O_CREAT and Path(os.fsdecode(path)).parent == cache:  # type: ignore[arg-type]
            raise PermissionError(errno.EACCES, "Permission denied", os.fsdecode(path))  # type: ignore[arg-type]
        return real_open(path, flags, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", refusing_open)
    with pytest.raises(CacheWriteError) as info:
        download("r")
    assert str(info.value) == read_only_message(cache)
    assert main(["fetch", "r"]) == 2
    assert capsys.readouterr().err == f"error: {read_only_message(cache)}\n"
    assert leftovers(cache) == []


def test_full_disk_simulated(cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = payload(3000, seed=11)
    put(tmp_path / "mirror", "f.bin", data)
    monkeypatch.setenv(MIRROR_ENV, str(tmp_path / "mirror"))

    def full(fd_: int, data: bytes) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(download_mod, "_write_all", full)
    with pytest.raises(CacheWriteError, match=re.escape(
        f"f: no space left to write into the cache folder {cache} (No space left on device; {DATA_ENV}={cache}). "
        f"Free some space, or point {DATA_ENV} at a folder on a disk with room; nothing was kept."
    )):
        download(spec("f", data))
    assert leftovers(cache) == []


def ignores_permissions(folder: Path) -> bool:
    """Whether this process writes into a chmod 555 folder anyway (root, with CAP_DAC_OVERRIDE)."""
    try:
        (folder / "probe").write_bytes(b"")
    except PermissionError:
        return False
    (folder / "probe").unlink()
    return True


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_read_only_cache_for_real(cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = payload(3000, seed=12)
    put(tmp_path / "mirror", "r.bin", data)
    monkeypatch.setenv(MIRROR_ENV, str(tmp_path / "mirror"))
    cache.mkdir()
    cache.chmod(0o555)
    try:
        if ignores_permissions(cache):
            pytest.skip("this process ignores file permissions (root); test_read_only_cache_simulated covers it")
        with pytest.raises(CacheWriteError) as info:
            download(spec("r", data))
        assert str(info.value) == read_only_message(cache)
        # A subfolder that cannot be created is refused the same way.
        with pytest.raises(CacheWriteError, match=r"^r: cannot write to the cache folder .*/sub \(Permission denied"):
            download(spec("r", data, path="sub/r.bin"))
    finally:
        cache.chmod(0o755)
    assert leftovers(cache) == []


def test_read_only_cache_still_serves_what_it_holds(cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = payload(3000, seed=13)
    put(cache, "h.bin", data)  # verified, but its marker cannot be written: the file is still given
    monkeypatch.setattr(download_mod, "write_marker", lambda *a, **k: (_ for _ in ()).throw(CacheWriteError("read-only")))
    assert download(spec("h", data)).read_bytes() == data


# --------------------------------------------------------------------------------------------------
# 5. A damaged mirror file: fall back to the public URL, and say so
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mirror_bytes", "what"),
    [
        (lambda good: good[:7000], "it is 7,000 bytes, expected 10,000"),
        (lambda good: bytes(len(good)), "got sha256 {bad}, expected {good}"),
    ],
)
def test_damaged_mirror_falls_back_to_the_public_url(
    mirror_bytes: object, what: str, cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    good = payload(10_000, seed=14)
    bad = mirror_bytes(good)  # type: ignore[operator]
    mirror_file = put(tmp_path / "mirror", "m.bin", bad)
    public = put(tmp_path / "public", "m.bin", good)
    monkeypatch.setenv(MIRROR_ENV, str(tmp_path / "mirror"))
    ds = spec("m", good, public.as_uri())
    assert download(ds).read_bytes() == good
    what = what.format(bad=sha(bad), good=sha(good))
    assert capsys.readouterr().err.splitlines() == [
        f"m: the mirror's copy {mirror_file} is damaged ({what}); downloading the public URL {public.as_uri()} instead",
    ]
    assert leftovers(cache) == ["m.bin", "m.bin.sha256"]


def test_damaged_mirror_and_damaged_public_file(cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    good = payload(4000, seed=15)
    put(tmp_path / "mirror", "d.bin", good[:100])
    public = put(tmp_path / "public", "d.bin", good[:-1] + b"!")
    monkeypatch.setenv(MIRROR_ENV, str(tmp_path / "mirror"))
    with pytest.raises(DownloadError) as info:
        download(spec("d", good, public.as_uri()))
    msg = str(info.value)
    assert msg.startswith(f"d: the file from the public URL {public.as_uri()} failed verification: got sha256 ")
    assert msg.endswith(f"(The mirror's copy {tmp_path / 'mirror' / 'd.bin'} was damaged too (it is 100 bytes, expected 4,000).)")
    assert leftovers(cache) == []


def test_damaged_mirror_while_offline(cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    good = payload(4000, seed=16)
    put(tmp_path / "mirror", "o.bin", good[:100])
    monkeypatch.setenv(MIRROR_ENV, str(tmp_path / "mirror"))
    url = (tmp_path / "nowhere" / "o.bin").as_uri()  # stands for an unreachable public URL
    with pytest.raises(DownloadError) as info:
        download(spec("o", good, url))
    assert str(info.value) == (
        f"could not download o ({url}). Tried: mirror {tmp_path / 'mirror' / 'o.bin'} (damaged: it is 100 bytes, "
        f"expected 4,000); public URL {url} ([Errno 2] No such file or directory: '{tmp_path / 'nowhere' / 'o.bin'}'). "
        f"Replace the mirror's damaged o.bin, or connect to the internet to download {url}."
    )
