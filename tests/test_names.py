"""book/names.md is true of the code: every library name, attribute and call in its table exists.

The table has three columns: the name(s), what they stand for, and an example in inline code. The
checker reads each row and reports:

* a name in the first column that no code of the book uses (``foundations/``, ``solutions/`` or a
  lesson's code cells), as a whole word (``.g`` as an attribute);
* in the examples, a call of a bare name that is neither in ``foundations`` nor a builtin, or a call
  that the callee's signature refuses (too many arguments, an unknown keyword);
* a positional argument spelled like a parameter of the callee, or like a name of its own row,
  that binds to a different parameter (``conv_layer(nf, ni)``);
* an attribute that is not there, on a library object or on a small real object standing for one
  of the book's variables (``learn`` is a :class:`Learner` after one epoch, ``dls`` the pair of
  loaders, ...): ``learn.run`` and ``dls.train`` are caught;
* a bare name in inline code in the second column (``a `Learner` ``) that is not one of the table's
  names and not a library object.
"""

from __future__ import annotations

import ast
import builtins
import importlib
import inspect
import pkgutil
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import torch

import foundations

ROOT = Path(__file__).resolve().parent.parent
NAMES_PAGE = ROOT / "book" / "names.md"
CODE_SPAN = re.compile(r"(`+)(.+?)\1")


# ---- reading the table ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    line: int
    names: tuple[str, ...]
    stands_for: str
    examples: tuple[str, ...]


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def parse_table(text: str) -> list[Row]:
    """The rows of the ``| name | stands for | example |`` table (each name and example in backticks)."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("|") and [c.lower() for c in _cells(line)] == ["name", "stands for", "example"]:
            break
    else:
        raise ValueError("names table: expected a header row | name | stands for | example |, found none")
    rows = []
    for j in range(i + 2, len(lines)):
        if not lines[j].startswith("|"):
            break
        cells = _cells(lines[j])
        if len(cells) != 3:
            raise ValueError(f"names table line {j + 1}: expected 3 cells, got {len(cells)}: {lines[j]!r}")
        names = tuple(n.strip() for _, span in CODE_SPAN.findall(cells[0]) for n in span.split(","))
        examples = tuple(span for _, span in CODE_SPAN.findall(cells[2]))
        if not names or not examples:
            raise ValueError(f"names table line {j + 1}: expected names and an example in `code`, got {lines[j]!r}")
        rows.append(Row(j + 1, names, cells[1], examples))
    return rows


# ---- what the library has -------------------------------------------------------------------------


@cache
def library() -> dict[str, list[Any]]:
    """Every public name defined in a ``foundations`` module (packages included) -> the objects of that name."""
    found: dict[str, list[Any]] = {}
    for info in pkgutil.walk_packages(foundations.__path__, "foundations."):
        if info.name.rsplit(".", 1)[-1] == "__main__":
            continue  # a command line: importing it runs it
        mod = importlib.import_module(info.name)
        for name, obj in vars(mod).items():
            if name.startswith("_") or inspect.ismodule(obj):
                continue
            if getattr(obj, "__module__", mod.__name__) != mod.__name__:
                continue  # imported from elsewhere: counted where it is defined
            found.setdefault(name, []).append(obj)
    return found


@cache
def code_words() -> frozenset[str]:
    """Identifiers (and ``.attr`` spellings) in the book's code: the library, solutions, lesson code cells."""
    texts = [p.read_text() for p in sorted((ROOT / "foundations").rglob("*.py"))]
    texts += [p.read_text() for p in sorted((ROOT / "solutions").glob("*.py"))]
    cell = re.compile(r"^```\{code-cell\}[^\n]*\n(.*?)^```", re.S | re.M)
    for page in sorted((ROOT / "lessons").glob("*.md")):
        texts += cell.findall(page.read_text())
    words: set[str] = set()
    for text in texts:
        words.update(re.findall(r"[A-Za-z_]\w*", text))
        words.update("." + a for a in re.findall(r"\.([A-Za-z_]\w*)", text))
    return frozenset(words)


@cache
def fixtures() -> dict[str, Any]:
    """Small real objects for the book's variable names, built with the library (one tiny epoch)."""
    from foundations.backprop import Model
    from foundations.callbacks import Recorder
    from foundations.data import DataBunch, Dataset, get_dls
    from foundations.learner import Learner
    from foundations.losses import cross_entropy
    from foundations.models import get_model

    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(8, 4, generator=g), torch.randint(0, 3, (8,), generator=g)
    train_ds, valid_ds = Dataset(x, y), Dataset(x[:4], y[:4])
    dls = get_dls(train_ds, valid_ds, 4, generator=g)
    data = DataBunch(*dls, c_in=4, c_out=3)
    model = get_model(data, nh=5)
    learn = Learner(model, data, cross_entropy, lr=0.1, cbs=[Recorder()])
    learn.fit(1)
    # Lesson 8's hand-written backward pass, which leaves .g on its inputs and weights
    w1, b1, w2, b2 = torch.randn(4, 5, generator=g), torch.zeros(5), torch.randn(5, 1, generator=g), torch.zeros(1)
    mlp = Model(w1, b1, w2, b2)
    mlp(x, torch.randn(8, generator=g))
    mlp.backward()
    return {
        "train_ds": train_ds, "valid_ds": valid_ds, "dls": dls, "train_dl": dls[0], "valid_dl": dls[1],
        "data": data, "model": model, "opt": learn.opt, "loss_func": cross_entropy, "learn": learn,
        "w1": w1, "b1": b1, "w2": w2, "b2": b2,
    }


# ---- checking one row -----------------------------------------------------------------------------


class _Instance:
    """Stands for an instance of a library class in an example (``Mse()`` in ``Mse().bwd(...)``)."""

    def __init__(self, cls: type) -> None:
        self.cls = cls


def _signature(obj: Any) -> inspect.Signature | None:
    try:
        return inspect.signature(obj)
    except (TypeError, ValueError):
        return None


def _method_signature(cls: type, fn: Any) -> inspect.Signature | None:
    sig = _signature(fn)
    if sig is None or isinstance(inspect.getattr_static(cls, fn.__name__, None), (staticmethod, classmethod)):
        return sig
    params = list(sig.parameters.values())[1:]  # drop self
    return sig.replace(parameters=params)


class _Checker(ast.NodeVisitor):
    def __init__(self, row: Row, table_names: set[str], objects: dict[str, Any], lib: dict[str, list[Any]]) -> None:
        self.row, self.table_names, self.objects, self.lib = row, table_names, objects, lib
        self.problems: list[str] = []

    def problem(self, msg: str) -> None:
        self.problems.append(f"line {self.row.line} ({', '.join(self.row.names)}): {msg}")

    # candidates for what an expression is: None when it is one of the reader's own variables
    def resolve(self, node: ast.AST) -> list[tuple[Any, inspect.Signature | None]] | None:
        if isinstance(node, ast.Name):
            if node.id in self.objects:
                obj = self.objects[node.id]
                return [(obj, _signature(obj) if callable(obj) else None)]
            if node.id in self.lib:
                return [(obj, _signature(obj) if callable(obj) else None) for obj in self.lib[node.id]]
            return None
        if isinstance(node, ast.Attribute):
            bases = self.resolve(node.value)
            if bases is None:
                return None
            found = []
            for base, _ in bases:
                if isinstance(base, _Instance):
                    if hasattr(base.cls, node.attr):
                        fn = getattr(base.cls, node.attr)
                        found.append((fn, _method_signature(base.cls, fn) if callable(fn) else None))
                elif hasattr(base, node.attr):
                    val = getattr(base, node.attr)
                    found.append((val, _signature(val) if callable(val) else None))
            if not found:
                kinds = " or ".join(sorted({_describe(b) for b, _ in bases}))
                self.problem(f"{ast.unparse(node)}: {kinds} has no attribute {node.attr!r}")
            return found or None
        if isinstance(node, ast.Call):
            funcs = self.resolve(node.func)
            if funcs is None:
                return None
            classes = [(_Instance(f), None) for f, _ in funcs if inspect.isclass(f)]
            return classes or None
        return None

    def visit_Call(self, node: ast.Call) -> None:  # noqa: N802 (ast's naming)
        for arg in [*node.args, *(k.value for k in node.keywords)]:
            self.visit(arg)
        if isinstance(node.func, ast.Name) and node.func.id not in self.objects and node.func.id not in self.lib:
            if not hasattr(builtins, node.func.id):
                self.problem(f"{ast.unparse(node)}: calls {node.func.id!r}, which is neither in foundations nor a builtin")
            return
        if isinstance(node.func, ast.Attribute):
            self.visit(node.func.value) if isinstance(node.func.value, ast.Call) else None
        candidates = self.resolve(node.func)
        if not candidates:
            return
        errors = [e for _, sig in candidates if (e := self.bind_error(node, sig)) is not None]
        if len(errors) == len(candidates):
            self.problem(f"{ast.unparse(node)}: {errors[0]}")

    def bind_error(self, node: ast.Call, sig: inspect.Signature | None) -> str | None:
        """Why ``sig`` refuses the call ``node``; None when it accepts it (or cannot be read)."""
        if sig is None:
            return None
        positional: list[ast.expr] = []
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                seq = self.objects.get(arg.value.id) if isinstance(arg.value, ast.Name) else None
                if not isinstance(seq, (tuple, list)):
                    return None  # cannot count the arguments
                positional += [ast.Constant(None)] * len(seq)
            else:
                positional.append(arg)
        if any(k.arg is None for k in node.keywords):
            return None
        try:
            bound = sig.bind(*range(len(positional)), **{k.arg: None for k in node.keywords})
        except TypeError as e:
            return f"the signature {sig} refuses it ({e})"
        params = set(sig.parameters)
        for name, value in bound.arguments.items():
            kind = sig.parameters[name].kind
            if kind is inspect.Parameter.VAR_POSITIONAL:
                indices = list(value)
            elif isinstance(value, int) and kind is not inspect.Parameter.VAR_KEYWORD:
                indices = [value]
            else:
                continue
            for i in indices:
                arg = positional[i]
                if not isinstance(arg, ast.Name):
                    continue
                spelled_as_param = arg.id in params or arg.id in self.row.names
                if spelled_as_param and arg.id != name:
                    return f"argument {arg.id!r} binds to parameter {name!r} of {sig}"
        return None

    def visit_Attribute(self, node: ast.Attribute) -> None:  # noqa: N802
        if isinstance(node.value, (ast.Call, ast.Subscript)):
            self.visit(node.value)
        self.resolve(node)


def _describe(obj: Any) -> str:
    if isinstance(obj, _Instance):
        return f"a {obj.cls.__name__}"
    if inspect.isclass(obj) or inspect.isfunction(obj):
        return f"{obj.__module__}.{obj.__qualname__}"
    return f"{type(obj).__name__} {type(obj).__module__}.{type(obj).__qualname__}"


def check_rows(rows: list[Row], objects: dict[str, Any] | None = None) -> list[str]:
    """Every way the rows are not true of the code (empty when they all are)."""
    objects = fixtures() if objects is None else objects
    lib, words = library(), code_words()
    table_names = {n for row in rows for n in row.names}
    problems: list[str] = []
    for row in rows:
        checker = _Checker(row, table_names, objects, lib)
        for name in row.names:
            if name not in words:
                checker.problem(f"the name {name!r} is not used in the book's code")
        for _, span in CODE_SPAN.findall(row.stands_for):
            if span.isidentifier() and span not in table_names and span not in lib:
                checker.problem(f"`{span}` in 'stands for' is neither a name of the table nor in foundations")
        for example in row.examples:
            try:
                tree = ast.parse(example)
            except SyntaxError as e:
                checker.problem(f"example `{example}` is not Python: {e.msg}")
                continue
            checker.visit(tree)
        problems += checker.problems
    return problems


# ---- the tests ------------------------------------------------------------------------------------


def _rows(*lines: str) -> list[Row]:
    return parse_table("| name | stands for | example |\n|---|---|---|\n" + "\n".join(lines) + "\n")


def test_names_table_is_true_of_the_code() -> None:
    rows = parse_table(NAMES_PAGE.read_text())
    problems = check_rows(rows)
    assert not problems, "book/names.md does not match the code:\n  " + "\n  ".join(problems)


def test_names_table_has_the_names_the_code_uses() -> None:
    names = {n for row in parse_table(NAMES_PAGE.read_text()) for n in row.names}
    required = {"xb", "yb", "bs", "nh", "lr", "mom", "cbs", "learn", "data", "dls",
                "x_train", "y_valid", "ni", "nf", "c_in", "c_out"}
    assert required <= names, f"book/names.md lacks {sorted(required - names)}"


@pytest.mark.parametrize(
    "line, expected",
    [
        ("| `learn` | a `Learner` | `learn.run(1)` |", r"learn\.run: Learner .* has no attribute 'run'"),
        ("| `dls` | data loaders | `dls.train` |", r"dls\.train: tuple .* has no attribute 'train'"),
        ("| `learn` | a `Learner` | `learn.fit(1, None, False, 4)` |", r"learn\.fit\(1, None, False, 4\): the signature .* refuses it"),
        ("| `learn` | a `Learner` | `learn.fit(1, learn)` |", r"argument 'learn' binds to parameter 'cbs'"),
        ("| `learn` | a `Learnerr` | `learn.model` |", r"`Learnerr` in 'stands for' is neither"),
        ("| `ni`, `nf` | channels | `conv_layer(nf, ni)` |", r"argument 'nf' binds to parameter 'ni'"),
        ("| `bs` | batch size | `get_dls(train_ds, valid_ds, batch=64)` |", r"get_dls\(train_ds, valid_ds, batch=64\): the signature .* refuses it"),
        ("| `bs` | batch size | `make_loaders(bs)` |", r"calls 'make_loaders', which is neither in foundations"),
        ("| `data` | a `DataBunch` | `data.train` |", r"data\.train: DataBunch .* has no attribute 'train'"),
        ("| `ar`, `ac` | rows and columns | `ar, ac = a.shape` |", r"the name 'ar' is not used in the book's code"),
        ("| `.gradient` | the gradient | `w1.gradient` |", r"the name '.gradient' is not used.*\n.*has no attribute 'gradient'"),
        ("| `inp` | a layer's input | `Mse().bwdd(out, inp)` |", r"Mse\(\)\.bwdd: a Mse has no attribute 'bwdd'"),
    ],
)
def test_checker_catches_a_made_up_name(line: str, expected: str) -> None:
    problems = check_rows(_rows(line))
    assert problems, f"the checker accepted {line!r}"
    assert re.search(expected, "\n".join(problems)), problems


def test_checker_accepts_true_rows() -> None:
    rows = _rows(
        "| `learn` | a `Learner` | `learn.fit(1, cbs=[Recorder()], reset_opt=True)` |",
        "| `cbs` | callbacks | `Learner(model, data, loss_func, cbs=[Recorder()])` |",
        "| `ni`, `nf` | channels | `conv_layer(ni, nf, ks, stride=2)` |",
        "| `data` | a `DataBunch` | `data = DataBunch(*dls, c_in=m, c_out=c)` |",
        "| `inp`, `out`, `targ` | input, output, target | `Mse().bwd(out, inp, targ)` |",
    )
    assert check_rows(rows) == []


def test_table_parse_errors_are_explained() -> None:
    with pytest.raises(ValueError, match=r"expected a header row \| name \| stands for \| example \|"):
        parse_table("# no table here\n")
    with pytest.raises(ValueError, match="expected 3 cells, got 2"):
        _rows("| `bs` | batch size |")
    with pytest.raises(ValueError, match="expected names and an example in `code`"):
        _rows("| bs | batch size | bs = 64 |")


def test_every_row_is_read() -> None:
    text = NAMES_PAGE.read_text()
    table_lines = [ln for ln in text.splitlines() if ln.startswith("| `")]
    assert len(parse_table(text)) == len(table_lines)

