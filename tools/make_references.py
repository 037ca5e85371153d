"""Refresh the nbval reference notebooks from a force build's executed pages.

``make references`` builds the book (every page executed) and then runs this script, which copies
``_build/jupyter_execute/<page>.ipynb`` to ``tests/references/<page>.ipynb``. Images are dropped
(nbval does not compare them and they would bloat the repository); their ``text/plain`` stays.
Glued values (myst-nb ``glue``) would be kept too, but the notebooks a build saves no longer hold
them (myst-nb moves them into the page), so a glued number is checked through the printed output
of the cell that computes it, where that cell is checked.
Run it only on purpose: the references are what ``make test`` checks fresh executions against.
``python tools/make_references.py lessons/08_matmul book/benchmarks`` refreshes only those pages
(after a build), e.g. when a page's code changed and its printed outputs did not.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tools.pages import executable_pages  # noqa: E402

GLUE_PREFIX = "application/papermill.record/"  # myst-nb glue(..., display=False)
KEEP_MIME = ("text/plain", "text/markdown", "text/html", GLUE_PREFIX + "text/plain")


def merged_streams(outputs: list[dict]) -> list[dict]:
    """Undo a side effect of myst-nb's ``nb_merge_streams`` on the saved notebook.

    When rendering, myst-nb appends every later stream chunk to the first output of that stream, in
    place, and the notebook it saves keeps the later chunks too, so their text appears twice. The
    first output of each stream already holds the whole text: keep it, drop the later chunks.
    """
    seen: set[str] = set()
    kept = []
    for out in outputs:
        if out.get("output_type") == "stream":
            if out["name"] in seen:
                continue
            seen.add(out["name"])
        kept.append(out)
    return kept


def clean(nb: dict) -> dict:
    """Drop images and volatile metadata from an executed notebook; streams as one output each."""
    for cell in nb["cells"]:
        cell.get("metadata", {}).pop("execution", None)
        if "outputs" in cell:
            cell["outputs"] = merged_streams(cell["outputs"])
        for out in cell.get("outputs", []):
            if "data" in out:
                out["data"] = {k: v for k, v in out["data"].items() if k in KEEP_MIME}
                out["metadata"] = {}
    return nb


def main(argv: list[str] | None = None) -> int:
    """Refresh every page's reference, or only the pages named (``lessons/08_matmul``...)."""
    wanted = list(sys.argv[1:] if argv is None else argv)
    pages = executable_pages()
    known = {p.with_suffix("").as_posix() for p in pages}
    unknown = [w for w in wanted if w not in known]
    if unknown:
        print(f"expected pages such as lessons/08_matmul, got unknown {unknown}", file=sys.stderr)
        return 1
    if wanted:
        pages = [p for p in pages if p.with_suffix("").as_posix() in wanted]
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    if not config["sphinx"]["config"].get("nb_merge_streams"):
        print("merged_streams() assumes nb_merge_streams: true in _config.yml", file=sys.stderr)
        return 1
    missing = []
    for page in pages:
        src = ROOT / "_build" / "jupyter_execute" / page.with_suffix(".ipynb")
        if not src.exists():
            missing.append(str(src))
            continue
        dst = ROOT / "tests" / "references" / page.with_suffix(".ipynb")
        dst.parent.mkdir(parents=True, exist_ok=True)
        nb = clean(json.loads(src.read_text()))
        dst.write_text(json.dumps(nb, indent=1, ensure_ascii=False, sort_keys=True) + "\n")
        print(f"wrote {dst.relative_to(ROOT)}")
    if missing:
        print("no executed notebook (build with `make book` first): " + ", ".join(missing), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
