"""`make lab`: the pages open in JupyterLab as notebooks and run against the installed library.

One JupyterLab server is started headless through `make lab` itself (so with the Makefile's
environment and tools/lab/'s settings), on a free port with a token, and asked through its REST
API: a page comes back as a notebook whose code cells are the page's; the default viewer for
Markdown is jupytext's notebook; a notebook saved from Lab is the same MyST page, with no .ipynb
beside it; a kernel started for a page imports `foundations` from this checkout and runs in the
page's folder. The server and its kernel are shut down, and its files removed, whatever happens.

The launch buttons (`_config.yml`) are checked by calling the theme's own function: none while the
repository has no public address, and a Binder link to the page's .md once it has one.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Iterator

import jupytext
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
PAGE = "lessons/08_matmul.md"
STAMP = ROOT / ".venv" / ".installed"
JUPYTEXT_NOTEBOOK = "Jupytext Notebook"  # the widget factory of jupytext's JupyterLab extension


def code_cells(notebook: Any) -> list[str]:
    return [c["source"] for c in notebook["cells"] if c["cell_type"] == "code"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Lab:
    """A JupyterLab server started by `make lab`, spoken to over HTTP with its token."""

    def __init__(self, port: int, token: str, runtime_dir: Path, proc: subprocess.Popen) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.token = token
        self.runtime_dir = runtime_dir
        self.proc = proc
        self.kernel_pids: list[int] = []

    def request(self, method: str, path: str, body: Any = None, timeout: float = 10) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Authorization", f"token {self.token}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read()
        return json.loads(raw) if raw else None

    def wait_until_up(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                out = self.proc.stdout.read() if self.proc.stdout else ""
                pytest.fail(f"`make lab` exited with status {self.proc.returncode}:\n{out}")
            try:
                self.request("GET", "/api/status", timeout=2)
                return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.2)
        pytest.fail(f"JupyterLab did not answer on {self.base} within {timeout} s")


def _stop(lab: Lab) -> None:
    try:
        lab.request("POST", "/api/shutdown", timeout=5)  # shuts the kernels down, then the server
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        pass
    try:
        lab.proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(lab.proc.pid, signal.SIGTERM)  # make, its shell and the server: one process group
        try:
            lab.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(lab.proc.pid, signal.SIGKILL)
            lab.proc.wait()
    for pid in lab.kernel_pids:  # kernels run in their own process group
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    if not STAMP.exists():
        pytest.skip("needs `make setup` first")
    with tempfile.TemporaryDirectory(prefix="lab-test-") as tmp:
        home = Path(tmp)
        port, token = free_port(), os.urandom(16).hex()
        env = {
            **os.environ,
            # this run's files in a temporary folder; the user's own Jupyter settings left out
            "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
            "JUPYTER_CONFIG_DIR": str(home / "config"),
            "JUPYTERLAB_SETTINGS_DIR": str(home / "user-settings"),
            "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
            "JUPYTER_CONFIG_PATH": "",
        }
        args = [
            "--no-browser", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={token}", "--NotebookNotary.db_file=:memory:",
        ]
        if os.geteuid() == 0:  # containers and CI run as root; Jupyter refuses root without this
            args.append("--allow-root")
        proc = subprocess.Popen(
            # -o: never reinstall the venv here, even if requirements.txt is newer than its stamp
            ["make", "--no-print-directory", "-s", "-o", ".venv/.installed", "lab", "ARGS=" + " ".join(args)],
            cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, start_new_session=True,
        )
        server = Lab(port, token, home / "runtime", proc)
        try:
            server.wait_until_up()
            yield server
        finally:
            _stop(server)
            if proc.stdout:
                proc.stdout.close()


@pytest.mark.timeout(60)
def test_a_page_opens_as_a_notebook_with_the_pages_code(lab: Lab) -> None:
    model = lab.request("GET", f"/api/contents/{PAGE}?type=notebook&content=1")
    assert model["type"] == "notebook", f"{PAGE} came back as {model['type']!r}, not as a notebook"
    page = jupytext.read(ROOT / PAGE, fmt="md:myst")
    assert code_cells(model["content"]) == code_cells(page)
    assert model["content"]["metadata"]["kernelspec"]["name"] == "python3"


@pytest.mark.timeout(60)
def test_markdown_opens_in_jupytexts_notebook_by_default(lab: Lab) -> None:
    plugin = lab.request("GET", "/lab/api/settings/@jupyterlab/docmanager-extension:plugin")
    viewers = {**plugin["schema"]["properties"]["defaultViewers"]["default"], **plugin["settings"].get("defaultViewers", {})}
    assert viewers.get("markdown") == JUPYTEXT_NOTEBOOK, f"default viewers: {viewers}"
    assert viewers.get("myst") == JUPYTEXT_NOTEBOOK, f"default viewers: {viewers}"
    # and that viewer exists: jupytext's JupyterLab extension is installed and enabled
    ids = {s["id"] for s in lab.request("GET", "/lab/api/settings/")["settings"]}
    assert "jupyterlab-jupytext:plugin" in ids


@pytest.mark.timeout(60)
def test_saving_writes_the_myst_page_and_no_ipynb(lab: Lab) -> None:
    """A notebook saved as a page comes out as the page: MyST, same cells, no version stamp, no .ipynb."""
    model = lab.request("GET", f"/api/contents/{PAGE}?type=notebook&content=1")
    build = ROOT / "_build"
    made_build = not build.exists()
    folder = Path(tempfile.mkdtemp(prefix="lab-save-", dir=_mkdir(build)))  # git-ignored, not built
    try:
        target = f"{folder.relative_to(ROOT).as_posix()}/{Path(PAGE).name}"
        lab.request("PUT", f"/api/contents/{target}", {"type": "notebook", "format": "json", "content": model["content"]})
        assert sorted(p.name for p in folder.iterdir()) == [Path(PAGE).name], "saving wrote more than the page"
        written = (folder / Path(PAGE).name).read_text()
        front = yaml.safe_load(written.split("---\n")[1])
        assert front["jupytext"] == {"text_representation": {"extension": ".md", "format_name": "myst"}}
        assert front["kernelspec"]["name"] == "python3"
        saved, page = jupytext.reads(written, fmt="md:myst"), jupytext.read(ROOT / PAGE, fmt="md:myst")
        assert [(c.cell_type, c.source, c.metadata) for c in saved.cells] == [
            (c.cell_type, c.source, c.metadata) for c in page.cells
        ]
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        if made_build:
            shutil.rmtree(build, ignore_errors=True)


def _mkdir(path: Path) -> Path:
    path.mkdir(exist_ok=True)
    return path


@pytest.mark.timeout(60)
def test_a_pages_kernel_runs_the_installed_library_in_the_pages_folder(lab: Lab) -> None:
    from jupyter_client import BlockingKernelClient

    session = lab.request(
        "POST", "/api/sessions",
        {"path": PAGE, "name": Path(PAGE).name, "type": "notebook", "kernel": {"name": "python3"}},
        timeout=30,
    )
    kernel_id = session["kernel"]["id"]
    client = BlockingKernelClient(connection_file=str(lab.runtime_dir / f"kernel-{kernel_id}.json"))
    client.load_connection_file()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=30)
        out: list[str] = []

        def keep(msg: dict) -> None:
            if msg["msg_type"] == "stream":
                out.append(msg["content"]["text"])
            elif msg["msg_type"] == "error":
                out.append("\n".join(msg["content"]["traceback"]))

        code = "import json, os, sys, foundations\nprint(json.dumps([os.getpid(), foundations.__file__, os.getcwd(), sys.executable]))"
        reply = client.execute_interactive(code, output_hook=keep, timeout=30)
        assert reply["content"]["status"] == "ok", "".join(out)
        pid, library, cwd, python = json.loads("".join(out).strip().splitlines()[-1])
        lab.kernel_pids.append(pid)
    finally:
        client.stop_channels()
    assert Path(library).resolve() == (ROOT / "foundations" / "__init__.py").resolve()
    assert Path(cwd).resolve() == (ROOT / "lessons").resolve()
    assert Path(python).parent.parent.resolve() == (ROOT / ".venv").resolve()
    lab.request("DELETE", f"/api/sessions/{session['id']}", timeout=30)


def test_make_lab_runs_jupyterlab_from_the_venv_with_the_lab_settings() -> None:
    shown = subprocess.run(
        ["make", "-n", "-s", "--no-print-directory", "-o", ".venv/.installed", "lab", "ARGS=--no-browser --port=8899"],
        cwd=ROOT, capture_output=True, text=True, check=True, timeout=30,
    ).stdout
    command = " ".join(shown.replace("\\\n", " ").split())
    for part in (
        f'JUPYTER_CONFIG_PATH="{ROOT}/tools/lab',
        ".venv/bin/python -m jupyterlab",
        f'--ServerApp.root_dir="{ROOT}"',
        "--LabApp.default_url=/lab/tree/lessons",
        "--no-browser --port=8899",
    ):
        assert part in command, f"`make -n lab` shows no {part!r}:\n{shown}"
    assert (ROOT / "tools" / "lab" / "labconfig" / "default_setting_overrides.json").is_file()


def test_make_help_lists_lab() -> None:
    help_text = subprocess.run(["make", "-s", "help"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    line = next((ln for ln in help_text.splitlines() if ln.strip().startswith("make lab ")), None)
    assert line and "JupyterLab" in line, f"`make help` does not list `make lab`:\n{help_text}"


# --- launch buttons ------------------------------------------------------------------------------


def _theme_options(config: dict) -> dict:
    from jupyter_book.config import get_final_config

    sphinx_config, _ = get_final_config(
        user_yaml=config, cli_config={"latex_individualpages": False}, validate=True, raise_on_invalid=True, sourcedir=ROOT
    )
    return sphinx_config["html_theme_options"]


def _launch_buttons(options: dict, page: str, tmp: Path) -> list[dict]:
    """The launch buttons sphinx-book-theme puts on ``page`` (a docname) with these theme options."""
    from sphinx_book_theme.header_buttons import update_context_with_repository_info
    from sphinx_book_theme.header_buttons.launch import add_launch_buttons

    class Config(dict):
        __getattr__ = dict.__getitem__

    outdir = tmp / "html"
    executed = tmp / "jupyter_execute" / f"{page}.ipynb"  # the theme copies it for its download entry
    executed.parent.mkdir(parents=True, exist_ok=True)
    executed.write_text("{}")
    app = SimpleNamespace(
        config=Config(html_theme_options=options, html_context={}),
        builder=None,
        outdir=str(outdir),
        env=SimpleNamespace(doc2path=lambda name: str(ROOT / f"{name}.md"), metadata={page: {"kernelspec": {"name": "python3"}}}),
    )
    update_context_with_repository_info(app)
    context = {**app.config.html_context, "pagename": page, "sourcename": f"{page}.md", "header_buttons": []}
    add_launch_buttons(app, page, "page.html", context, None)
    return [b for group in context["header_buttons"] if group.get("label") == "launch-buttons" for b in group["buttons"]]


def test_launch_buttons_are_off_until_the_repository_has_an_address(tmp_path: Path) -> None:
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert not config["repository"]["url"], "the repository has no public address yet"
    assert _launch_buttons(_theme_options(config), "lessons/08_matmul", tmp_path) == []


def test_turning_the_launch_buttons_on_gives_a_binder_link_to_the_page(tmp_path: Path) -> None:
    """What the comment in _config.yml says to set, and nothing else, gives a working Binder link."""
    config = copy.deepcopy(yaml.safe_load((ROOT / "_config.yml").read_text()))
    text = (ROOT / "_config.yml").read_text()
    assert "# ON: https://github.com/ORG/REPO" in text and "# ON: https://mybinder.org" in text
    config["repository"]["url"] = "https://github.com/ORG/REPO"
    config["launch_buttons"]["binderhub_url"] = "https://mybinder.org"
    buttons = _launch_buttons(_theme_options(config), "lessons/08_matmul", tmp_path)
    assert [b["text"] for b in buttons] == ["Binder"], "Colab stays off: it cannot open a .md page"
    branch = config["repository"]["branch"]
    assert buttons[0]["url"] == f"https://mybinder.org/v2/gh/ORG/REPO/{branch}?urlpath=lab/tree/lessons/08_matmul.md"


def test_binder_builds_the_environment_make_lab_uses() -> None:
    binder = ROOT / "binder"
    requirements = (binder / "requirements.txt").read_text().splitlines()
    assert "-r ../requirements.txt" in requirements  # the same pins as `make setup`
    assert (binder / "runtime.txt").read_text().strip() == "python-3.11"
    assert "pip install --no-deps -e ." in (binder / "postBuild").read_text()
    assert "tools/lab" in (binder / "start").read_text() and "tools/lab" in (ROOT / "Makefile").read_text()
    for script in ("postBuild", "start"):
        assert os.access(binder / script, os.X_OK), f"binder/{script} must be executable"
