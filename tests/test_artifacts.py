"""Tests for foundations.data.artifacts: build once, load after, one builder at a time.

Oracles: a build counter (and, across processes, a log file each build appends to), the files the
cache holds afterwards, and ``json.loads`` of the readable key. Every test points
``FOUNDATIONS_DATA`` at its own ``tmp_path``: nothing touches the real data cache.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from foundations.data.artifacts import artifact_path, cached_artifact
from foundations.data.cache import HOST

pytestmark = pytest.mark.lesson12


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FOUNDATIONS_DATA", str(tmp_path))
    return tmp_path


class Counter:
    """A build function that counts its calls and returns a small tensor artifact."""

    def __init__(self, value: int = 1) -> None:
        self.calls, self.value = 0, value

    def __call__(self) -> dict:
        self.calls += 1
        return {"w": torch.arange(4) * self.value, "name": "model", "sizes": [1, 2], "lr": 0.5, "flag": None}


def test_builds_once_then_loads(cache: Path) -> None:
    key = {"data": "abc", "n": 3, "lrs": [0.1, 0.01], "nested": {"p": 0.5}}
    build = Counter()
    first = cached_artifact("model", key, build)
    path = artifact_path("model", key)
    assert path.parent == cache / "artifacts" / "model" and path.suffix == ".pt" and len(path.stem) == 16
    assert path.exists() and build.calls == 1
    second = cached_artifact("model", key, build)
    assert build.calls == 1  # loaded, not built
    assert second is not first and torch.equal(second["w"], first["w"])
    assert {k: v for k, v in second.items() if k != "w"} == {"name": "model", "sizes": [1, 2], "lr": 0.5, "flag": None}
    assert json.loads(path.with_suffix(".json").read_text()) == key  # the readable key beside it
    assert sorted(p.name for p in path.parent.iterdir()) == sorted([path.name, path.stem + ".json", path.stem + ".lock"])


def test_the_key_decides_the_file(cache: Path) -> None:
    a = artifact_path("model", {"a": 1, "b": [1, 2]})
    assert a == artifact_path("model", {"b": [1, 2], "a": 1})  # the order of a dict's keys does not matter
    others = [
        artifact_path("model", {"a": 2, "b": [1, 2]}),
        artifact_path("model", {"a": 1, "b": [2, 1]}),
        artifact_path("model", {"a": 1, "b": [1, 2], "c": None}),
        artifact_path("tokens", {"a": 1, "b": [1, 2]}),
    ]
    assert len({a, *others}) == 5
    assert others[-1].parent.name == "tokens"
    b1, b2 = Counter(1), Counter(2)
    x1 = cached_artifact("model", {"k": 1}, b1)
    x2 = cached_artifact("model", {"k": 2}, b2)
    assert b1.calls == b2.calls == 1 and torch.equal(x2["w"], 2 * x1["w"])
    assert torch.equal(cached_artifact("model", {"k": 1}, b2)["w"], x1["w"]) and b2.calls == 1


def test_a_corrupt_artifact_is_built_again(cache: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key = {"what": "corrupt"}
    build = Counter()
    cached_artifact("model", key, build)
    path = artifact_path("model", key)
    path.write_bytes(b"not a torch file")
    got = cached_artifact("model", key, build)
    assert build.calls == 2 and torch.equal(got["w"], torch.arange(4))
    assert "cannot read" in capsys.readouterr().err
    assert torch.equal(torch.load(path, weights_only=True)["w"], torch.arange(4))  # kept again, readable
    cached_artifact("model", key, build)
    assert build.calls == 2


def test_an_interrupted_build_leaves_nothing(cache: Path) -> None:
    key = {"what": "fails"}

    def boom() -> dict:
        raise RuntimeError("build failed")

    with pytest.raises(RuntimeError, match="build failed"):
        cached_artifact("model", key, boom)
    path = artifact_path("model", key)
    assert not path.exists() and not [p for p in path.parent.iterdir() if ".part" in p.name]
    build = Counter()
    cached_artifact("model", key, build)
    assert build.calls == 1 and path.exists()


def test_a_stale_part_of_a_dead_process_is_removed(cache: Path) -> None:
    key = {"what": "stale"}
    path = artifact_path("model", key)
    path.parent.mkdir(parents=True)
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)
    dead = int(proc.stdout)  # a process that has exited
    stale = path.with_name(f".{path.name}.part-{HOST}-{dead}-0a1b2c3d")
    stale.write_bytes(b"half")
    cached_artifact("model", key, Counter())
    assert not stale.exists() and path.exists()


# ---- two processes at once ----------------------------------------------------------------------


def _race(barrier, key: dict, log: str, out: str) -> None:  # noqa: ANN001
    """Run in a child process: wait for the other one, then ask for the same artifact."""

    def build() -> dict:
        time.sleep(0.5)  # long enough for the other process to arrive and wait on the lock
        with open(log, "a") as f:
            f.write(f"{os.getpid()}\n")
        return {"builder": os.getpid(), "w": torch.ones(3)}

    barrier.wait()
    obj = cached_artifact("model", key, build)
    with open(out, "a") as f:
        f.write(f"{os.getpid()} {obj['builder']}\n")


def test_two_processes_at_once_build_only_once(cache: Path) -> None:
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    ctx = multiprocessing.get_context(method)
    log, out = cache / "builds.log", cache / "results.log"
    key = {"what": "race"}
    barrier = ctx.Barrier(2)
    procs = [ctx.Process(target=_race, args=(barrier, key, str(log), str(out))) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=60)
    assert [p.exitcode for p in procs] == [0, 0]
    builders = log.read_text().split()
    assert len(builders) == 1  # one build in all
    results = [line.split() for line in out.read_text().splitlines()]
    assert sorted(r[0] for r in results) == sorted(str(p.pid) for p in procs)
    assert all(r[1] == builders[0] for r in results)  # both got the one build's result
    build = Counter()
    assert cached_artifact("model", key, build)["builder"] == int(builders[0]) and build.calls == 0


# ---- bad arguments --------------------------------------------------------------------------------


def test_bad_kind_key_and_build(cache: Path) -> None:
    for kind in ("Model", "my model", "", "../up", "a/b"):
        with pytest.raises(ValueError, match=r"artifact_path: expected kind to be a lower-case name \(letters, digits, _ and -\), got str"):
            cached_artifact(kind, {"a": 1}, Counter())
    with pytest.raises(TypeError, match=r"artifact_path: expected kind to be a lower-case name .*, got int 3"):
        cached_artifact(3, {"a": 1}, Counter())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"expected key to be a dict of what the artifact depends on, got list"):
        cached_artifact("model", [("a", 1)], Counter())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"expected key to hold only str, numbers, bools, None, lists and dicts"):
        cached_artifact("model", {"a": object()}, Counter())
    with pytest.raises(TypeError, match=r"cached_artifact: expected build to be a function of no arguments, got int 3"):
        cached_artifact("model", {"a": 1}, 3)  # type: ignore[arg-type]
    assert not (cache / "artifacts").exists()  # nothing was written for a refused call
