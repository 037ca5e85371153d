"""Generate the exercise stubs in ``exercises/`` from the reference solutions in ``solutions/``.

A solution marks the part a learner writes with a pair of comment lines::

    # BEGIN SOLUTION
    ...the reference code...
    # END SOLUTION

The stub keeps everything else (signature, docstring with formula and shapes, helper code) and puts
``raise NotImplementedError(...)`` where the marked lines were, at their indentation. Run
``python tools/make_stubs.py`` after editing a solution; ``python tools/make_stubs.py --check``
fails if a stub is out of date. Course authors never edit ``exercises/lesson*.py`` by hand.

Learners do edit them: that is where the exercises are done. So a stub is rewritten only while it
is pristine, equal to the stub generated now or to the version committed in git; a file with
anything else in it (a learner's work) is left alone and named, unless ``--force`` is given.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from foundations.testing import STUB_MESSAGE  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
BEGIN = re.compile(r"^(?P<indent>\s*)# BEGIN SOLUTION\s*$")
END = re.compile(r"^\s*# END SOLUTION\s*$")
HEADER = '"""{title}\n\nGenerated from solutions/{name} by tools/make_stubs.py: edit the solution, not this file.\n'


def make_stub(source: str, name: str) -> str:
    """Return the stub text for the solution module ``source`` (file name ``name``)."""
    out: list[str] = []
    inside = False
    for lineno, line in enumerate(source.splitlines(), 1):
        m = BEGIN.match(line)
        if m:
            if inside:
                raise ValueError(f"{name}:{lineno}: BEGIN SOLUTION inside another solution block")
            inside = True
            out.append(f'{m["indent"]}raise NotImplementedError("{STUB_MESSAGE}")')
            continue
        if END.match(line):
            if not inside:
                raise ValueError(f"{name}:{lineno}: END SOLUTION without BEGIN SOLUTION")
            inside = False
            continue
        if not inside:
            out.append(line)
    if inside:
        raise ValueError(f"{name}: BEGIN SOLUTION is never closed")
    text = "\n".join(out) + "\n"
    if not text.startswith('"""'):
        raise ValueError(f"{name}: a solution module must start with a docstring")
    first, rest = text[3:].split("\n", 1)
    return HEADER.format(title=first, name=name) + rest


def stub_pairs() -> list[tuple[Path, Path]]:
    """(solution, stub) paths for every ``solutions/lesson*.py``."""
    return [(s, ROOT / "exercises" / s.name) for s in sorted((ROOT / "solutions").glob("lesson*.py"))]


def committed_text(path: Path) -> str | None:
    """The file as committed at ``HEAD``, or None outside a git checkout or for an untracked file."""
    try:
        out = subprocess.run(
            ["git", "show", f"HEAD:{path.relative_to(ROOT).as_posix()}"],
            cwd=ROOT, capture_output=True, text=True, timeout=30,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout if out.returncode == 0 else None


def is_pristine(stub: Path, generated: str) -> bool:
    """True when ``stub`` holds no learner's work: missing, the generated text, or as committed."""
    if not stub.exists():
        return True
    text = stub.read_text()
    return text == generated or text == committed_text(stub)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="fail if any stub differs from its solution")
    parser.add_argument("--force", action="store_true", help="overwrite stubs even if they hold your work")
    args = parser.parse_args(argv)
    stale, kept = [], []
    for sol, stub in stub_pairs():
        text = make_stub(sol.read_text(), sol.name)
        if args.check:
            if not stub.exists() or stub.read_text() != text:
                stale.append(stub.relative_to(ROOT))
        elif stub.exists() and stub.read_text() == text:
            continue
        elif args.force or is_pristine(stub, text):
            stub.write_text(text)
            print(f"wrote {stub.relative_to(ROOT)}")
        else:
            kept.append(stub.relative_to(ROOT))
    if stale:
        print("out of date (run `python tools/make_stubs.py`): " + ", ".join(map(str, stale)), file=sys.stderr)
        return 1
    if kept:
        print("left alone, they hold your work (not a pristine stub): " + ", ".join(map(str, kept))
              + "\nto replace them with fresh stubs anyway, losing that work: python tools/make_stubs.py --force",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
