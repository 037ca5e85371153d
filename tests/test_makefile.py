"""The Makefile a learner meets: every target explained, GNU make 3.81 enough, clear refusals."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MAKEFILE = (ROOT / "Makefile").read_text()

# What GNU make added after 3.81 (macOS's make): none of it may be relied on.
NEWER_THAN_381 = {
    "--output-sync": "4.0", "-O ": "4.0", ".ONESHELL": "3.82", "$(file ": "4.0", "undefine ": "3.82",
    "::=": "4.0", "!=": "4.0", "$(guile": "4.0", ".RECIPEPREFIX": "3.82", "private ": "3.82",
}


def phony_targets() -> list[str]:
    line = next(ln for ln in MAKEFILE.splitlines() if ln.startswith(".PHONY:"))
    return line.split(":", 1)[1].split()


def test_help_names_every_target() -> None:
    help_text = subprocess.run(["make", "-s", "help"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    missing = [t for t in phony_targets() if not re.search(rf"make {re.escape(t)}\b", help_text)]
    assert not missing, f"`make help` does not mention: {missing}"
    defined = set(re.findall(r"^([a-z][a-z-]*):", MAKEFILE, re.MULTILINE))
    assert set(phony_targets()) == defined, f"targets not declared .PHONY (or declared, not defined): {set(phony_targets()) ^ defined}"


def test_nothing_newer_than_gnu_make_381() -> None:
    recipes_and_rules = "\n".join(ln for ln in MAKEFILE.splitlines() if not ln.lstrip().startswith("#"))
    used = {f: v for f, v in NEWER_THAN_381.items() if f in recipes_and_rules}
    assert not used, f"GNU make features newer than 3.81 (macOS's make): {used}"
    # 3.81 ignores .SHELLFLAGS: no recipe may need pipefail
    piped = [ln for ln in MAKEFILE.splitlines() if ln.startswith("\t") and re.search(r"[^|]\|[^|]", ln)]
    assert not piped, f"recipes with a pipe rely on pipefail, which make 3.81 does not set: {piped}"


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """The Makefile beside a copy of the files it depends on, using this checkout's .venv."""
    stamp = (ROOT / ".venv" / ".installed").stat().st_mtime if (ROOT / ".venv" / ".installed").exists() else None
    for name in ("Makefile", "requirements.txt", "pyproject.toml"):
        shutil.copy2(ROOT / name, tmp_path / name)
        if stamp is not None:  # older than the venv's stamp: make must not reinstall into this checkout's venv
            os.utime(tmp_path / name, (stamp - 60, stamp - 60))
    return tmp_path


@pytest.mark.skipif(not (ROOT / ".venv" / ".installed").exists(), reason="needs `make setup` first")
@pytest.mark.parametrize("target", ["site", "outputs"])
def test_checks_of_a_build_without_a_build_say_to_build(checkout: Path, target: str) -> None:
    done = subprocess.run(
        ["make", "--no-print-directory", target, f"VENV={ROOT / '.venv'}"],
        cwd=checkout, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode != 0
    assert "no built site in _build/html: run `make book` first" in done.stderr
    assert "Traceback" not in done.stdout + done.stderr


def test_the_package_ships_every_subpackage() -> None:
    """A normal (not editable) install must carry foundations.data, foundations.callbacks, ..."""
    import tomllib

    from setuptools import find_packages

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    found = set(find_packages(str(ROOT), include=config["include"]))
    on_disk = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "foundations").rglob("__init__.py")}
    assert on_disk <= found, f"subpackages a normal install would leave out: {sorted(on_disk - found)}"
