"""Record a full-setting build's headline results for the results page.

After ``FOUNDATIONS_SETTING=full make book`` on a GPU, run ``python tools/record_full_results.py``:
it reads the rows of ``book/results.yml``, takes each row's first glued value from that build's
executed pages (``_build/jupyter_execute/<page>.glue.json``) and writes ``book/results_full.json``
with the device and the date. Commit the file; every later build shows it in the results page's
"full setting" column. It refuses to record a build that was not made in the full setting.
"""

from __future__ import annotations

import datetime
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "book" / "_ext"))

import results  # noqa: E402


def main() -> int:
    build = ROOT / "_build" / "jupyter_execute"
    marker = ROOT / "_build" / "setting"  # written by the build (book/_ext/results.py)
    setting = marker.read_text().strip() if marker.exists() else "unknown (no build found)"
    if setting != "full":
        print(f"expected a build made with FOUNDATIONS_SETTING=full, got the {setting!r} setting", file=sys.stderr)
        return 1
    import torch

    values: dict[str, str] = {}
    for row in results.load_spec():
        key = results.KEY.search(row["ours"])
        glued = results.read_glue(build, row["page"])
        if key and key[1] in glued:
            values[f"{row['page']}::{key[1]}"] = results.plain(glued[key[1]])
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU"
    record = {"recorded": datetime.date.today().isoformat(), "device": device, "values": values}
    results.FULL.write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"recorded {len(values)} results from a full-setting build on {device} in {results.FULL.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
