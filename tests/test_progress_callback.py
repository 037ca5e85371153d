"""ProgressCallback: fastprogress bars in a terminal, the table alone in a pipe, rows equal the stats."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from conftest import tiny_data
from foundations.callbacks import AvgStatsCallback, ProgressCallback, format_time
from foundations.learner import Learner, Order
from foundations.losses import accuracy, cross_entropy


def learner(**kw) -> Learner:
    torch.manual_seed(0)
    data = tiny_data(256, 64, 6, 3, bs=32)
    return Learner(torch.nn.Linear(6, 3), data, cross_entropy, lr=0.3, **kw)


def test_rows_hold_the_averaged_stats_and_the_table_goes_to_a_pipe(capsys: pytest.CaptureFixture[str]) -> None:
    stats = AvgStatsCallback([accuracy])
    learn = learner(cbs=[stats])
    progress = ProgressCallback()
    learn.fit(2, cbs=[progress])
    out = capsys.readouterr().out
    assert progress.kind == "none", "pytest's captured output is not a terminal"
    header, *rows = progress.rows
    assert header == ["epoch", "train_loss", "train_accuracy", "valid_loss", "valid_accuracy", "time"]
    assert [r[0] for r in rows] == ["1", "2"]
    last = [float(v) for v in rows[-1][1:5]]
    assert last == pytest.approx(stats.train_stats.averages + stats.valid_stats.averages, abs=5e-7)
    lines = out.strip().splitlines()
    assert len(lines) == 3 and lines[0].split() == header, "one header and one line per epoch, no bars, no 'epoch 1:' prints"
    assert lines[2].split()[:5] == rows[-1][:5]
    assert stats.verbose, "AvgStatsCallback prints again after the fit"
    assert "progress" not in learn.__dict__, "a callback given to fit comes off after it"


def test_without_stats_the_table_has_epochs_and_times(capsys: pytest.CaptureFixture[str]) -> None:
    learn = learner()
    p = ProgressCallback()
    learn.fit(1, cbs=[p])
    assert p.rows[0] == ["epoch", "time"] and p.rows[1][0] == "1"


def test_console_bars_are_drawn_when_asked(capsys: pytest.CaptureFixture[str]) -> None:
    learn = learner(cbs=[AvgStatsCallback([accuracy])])
    learn.fit(1, cbs=[ProgressCallback(console=True)])
    out = capsys.readouterr().out
    assert "Epoch 1/1 :" in out and "100.00% [8/8" in out and "100.00% [1/1" in out
    assert "\r" in out, "text bars redraw in place"


def test_bars_in_a_terminal() -> None:
    """Run a script on a pseudo-terminal: the bars are drawn; then through a pipe: they are not."""
    import pty

    code = (
        "import sys; sys.path.insert(0, {tests!r})\n"
        "from test_progress_callback import learner\n"
        "from foundations.callbacks import ProgressCallback\n"
        "p = ProgressCallback(); learner().fit(2, cbs=[p]); print('KIND', p.kind)\n"
    ).format(tests=os.path.dirname(__file__))
    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=follower, stderr=follower)
    os.close(follower)
    chunks = []
    while True:
        try:
            b = os.read(leader, 4096)
        except OSError:
            break
        if not b:
            break
        chunks.append(b)
    assert proc.wait(timeout=120) == 0, b"".join(chunks).decode()
    os.close(leader)
    tty_out = b"".join(chunks).decode()
    assert "KIND console" in tty_out and "Epoch 2/2 :" in tty_out and "100.00% [8/8" in tty_out
    piped = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert "KIND none" in piped.stdout and "Epoch" not in piped.stdout and "%" not in piped.stdout


def test_order_and_arguments() -> None:
    assert ProgressCallback.order == Order.PROGRESS and Order.PROGRESS > max(Order.HYPER, Order.TRANSFORM, Order.DEFAULT)
    with pytest.raises(TypeError, match="ProgressCallback: expected console to be"):
        ProgressCallback(console="yes")  # type: ignore[arg-type]


@pytest.mark.parametrize("seconds, text", [(0, "00:00"), (59.9, "00:59"), (75.4, "01:15"), (3599, "59:59"),
                                           (3600, "1:00:00"), (3725, "1:02:05")])
def test_format_time(seconds: float, text: str) -> None:
    assert format_time(seconds) == text


def test_format_time_refuses_negative() -> None:
    with pytest.raises(ValueError, match="format_time: expected seconds to be"):
        format_time(-1)


def test_in_a_notebook_the_saved_output_keeps_full_bars_and_the_table() -> None:
    """Run a fit in a Jupyter kernel (as the book's build does): one output, updated in place, ends
    with both bars full above the metrics table."""
    import re

    import nbclient
    import nbformat

    code = (
        "import sys; sys.path.insert(0, {tests!r})\n"
        "from test_progress_callback import learner\n"
        "from foundations.callbacks import AvgStatsCallback, ProgressCallback\n"
        "from foundations.losses import accuracy\n"
        "p = ProgressCallback(); learner(cbs=[AvgStatsCallback([accuracy])]).fit(2, cbs=[p]); print(p.kind)"
    ).format(tests=os.path.dirname(__file__))
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    outputs = nb.cells[0].outputs
    html = [o["data"]["text/html"] for o in outputs if o.get("output_type") == "display_data"]
    bars = [h for h in html if "<progress" in h or "<table" in h]
    assert len(bars) == 1, f"one display for bars and table, updated in place; got {len(bars)}"
    progress = re.findall(r"<progress value='(\d+)' class='[^']*' max='(\d+)'", bars[0])
    assert progress == [("2", "2"), ("1", "1")], progress  # epochs 2/2; the last pass (1 batch of 64) full
    assert bars[0].count("<tr>") == 2 and "valid_accuracy" in bars[0]
    assert any("notebook" in "".join(o.get("text", "")) for o in outputs if o.get("output_type") == "stream")
