"""The dataset registry: which files the course uses and which versions of each are accepted.

Lesson 8, "Matrix multiplication" (lessons/08_matmul), loads MNIST through this registry; later
lessons fetch Imagenette, IMDB and WikiText from it. A :class:`DatasetSpec` is one downloadable file;
it lists the versions of that file it accepts as :class:`Check` values: the course mirror's copy by
its size and sha256, and, where the mirror holds a repackaged copy, the public file by the checks its
publishers give (a whole-file md5, fastai's size and md5 of the first MiB, or a structure check).
:data:`REGISTRY` holds them by name, :data:`GROUPS` names sets of them, :func:`lookup` finds one.

``__all__`` is what a learner reads: :data:`REGISTRY`, :data:`GROUPS`, :class:`DatasetSpec`,
:class:`Check`. Package internals (not in ``__all__``; sibling modules import them by name):
:func:`lookup`, the version labels :data:`MIRROR_COPY`, :data:`PUBLIC_FILE`, :data:`ORIGINAL_FILE`,
the check kinds :data:`CheckKind` and :data:`KIND_WORDS`, and :data:`MIB`.

Imports the standard library and :mod:`foundations.data.errors` only: this is data, not machinery.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Literal

from foundations.data.errors import UnknownDatasetError

__all__ = ["GROUPS", "REGISTRY", "Check", "DatasetSpec"]

MIB = 1 << 20
"""A mebibyte, 2**20 bytes: fastai's ``checks.txt`` hashes the first MiB of a file."""

MIRROR_COPY = "mirror copy"
"""The label of the course mirror's copy of a file (checked by its sha256)."""
PUBLIC_FILE = "public file"
"""The label of the file the public URL serves, where the mirror holds a repackaged copy."""
ORIGINAL_FILE = "original file"
"""The label of a file that is byte-identical in the mirror and at the public URL (MNIST's IDX files)."""

CheckKind = Literal["sha256", "md5", "md5-first-MiB", "mnist-pickle"]
"""What a :class:`Check` compares: a whole-file digest, the md5 of the first MiB, or MNIST's structure."""
_HEX_DIGITS: dict[str, int] = {"sha256": 64, "md5": 32, "md5-first-MiB": 32}
KIND_WORDS: dict[str, str] = {
    "sha256": "sha256",
    "md5": "md5",
    "md5-first-MiB": "md5 of the first MiB",
    "mnist-pickle": "structure",
}
"""How messages and ``list`` name each kind of check."""

@dataclass(frozen=True)
class Check:
    """One published fact about one accepted version of a file.

    ``kind`` says what is compared: ``"sha256"`` or ``"md5"`` of the whole file, ``"md5-first-MiB"``
    (fastai's ``checks.txt``: the md5 of the first 2**20 bytes, with the size), or ``"mnist-pickle"``
    (no digest is published: the file is opened after download and must be a gzipped pickle of
    MNIST's three splits with the expected shapes, pixel scale and label counts). ``size`` is the
    exact size in bytes (``None`` only for a structure check). ``label`` names the version the check
    identifies (``"mirror copy"``, ``"public file"``, ``"original file"``): a file is accepted as
    that version when it passes *every* check carrying the label. ``source`` says who publishes the
    value, so a reader can look it up.

    Derived in Lesson 8, "Matrix multiplication" (lessons/08_matmul), whose MNIST files are checked
    this way before they are cached.
    """

    kind: CheckKind
    digest: str | None
    size: int | None
    label: str
    source: str

    def __post_init__(self) -> None:
        what = f"check {self.label!r}"
        if self.kind not in KIND_WORDS:
            raise ValueError(
                f"{what}: expected kind 'sha256', 'md5', 'md5-first-MiB' or 'mnist-pickle', got {self.kind!r}"
            )
        if self.kind == "mnist-pickle":
            if self.digest is not None:
                raise ValueError(f"{what}: a structure check has no digest, got {self.digest!r}")
        else:
            n = _HEX_DIGITS[self.kind]
            d = self.digest
            if not isinstance(d, str) or len(d) != n or any(c not in "0123456789abcdef" for c in d):
                raise ValueError(f"{what}: expected {self.kind} as {n} lowercase hex digits, got {d!r}")
            if self.size is None:
                raise ValueError(f"{what}: a {self.kind} check needs the file's size in bytes")
        if self.size is not None and (isinstance(self.size, bool) or not isinstance(self.size, int) or self.size <= 0):
            raise ValueError(f"{what}: expected a positive size, got {self.size}")
        if not self.label.strip() or not self.source.strip():
            raise ValueError(f"check {self.label!r}: expected a non-empty label and source")

    @property
    def partial(self) -> bool:
        """True for an md5 of the first MiB of a file larger than 1 MiB: the rest goes unchecked."""
        return self.kind == "md5-first-MiB" and self.size is not None and self.size > MIB

    def describe(self, alone: bool = True) -> str:
        """What ``list`` shows, e.g. ``md5 of the first MiB c475f8f7617a... (partial: ...) [fastai checks.txt]``.

        ``alone=False``: another check of the same version covers the whole file, so a first-MiB md5
        is not called partial."""
        if self.kind == "mnist-pickle":
            text = "structure checked after download (gzip CRC, numpy-only pickle, shapes, pixel/256, label counts)"
        else:
            text = f"{KIND_WORDS[self.kind]} {self.digest[:12]}..." if self.digest else KIND_WORDS[self.kind]
            if self.kind == "md5-first-MiB" and not self.partial:
                text += " (the whole file)"
            elif self.partial and alone:
                text += " (partial: the rest of the file is unchecked)"
        return f"{text} [{self.source}]"


@dataclass(frozen=True)
class DatasetSpec:
    """One downloadable file of the course.

    ``path`` is where the file lives inside a mirror folder and inside the cache; it is the file name
    the public ``url`` serves. ``folder`` (archives only) is the single top-level folder the archive
    holds; :func:`~foundations.data.archives.untar` extracts to ``<cache>/<folder>``. ``checks`` lists
    the accepted versions (see :class:`Check`); the first must be the sha256 of the course mirror's
    copy, which is what :attr:`size` and :attr:`sha256` give.

    Derived in Lesson 8, "Matrix multiplication" (lessons/08_matmul): each of MNIST's files is one
    (``REGISTRY["mnist_train_images"]``, ...).
    """

    name: str
    path: str
    url: str | None
    kind: Literal["file", "tgz"]
    note: str
    checks: tuple[Check, ...]
    folder: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("file", "tgz"):
            raise ValueError(f"dataset {self.name!r}: expected kind 'file' or 'tgz', got {self.kind!r}")
        if self.kind == "tgz" and not self.folder:
            raise ValueError(f"dataset {self.name!r}: an archive needs the name of its top-level folder")
        parts = PurePosixPath(self.path).parts
        if not parts or PurePosixPath(self.path).is_absolute() or ".." in parts:
            raise ValueError(f"dataset {self.name!r}: expected a relative mirror path, got {self.path!r}")
        if not isinstance(self.checks, tuple) or not self.checks:
            raise ValueError(f"dataset {self.name!r}: expected a non-empty tuple of Check, got {self.checks!r}")
        for c in self.checks:
            if not isinstance(c, Check):
                raise ValueError(f"dataset {self.name!r}: expected every check to be a Check, got {type(c).__name__}")
        if self.checks[0].kind != "sha256":
            raise ValueError(
                f"dataset {self.name!r}: the first check must be the sha256 of the mirror's copy, "
                f"got a {self.checks[0].kind!r} check"
            )
        for label in self.labels:
            sizes = sorted({c.size for c in self.checks_for(label) if c.size is not None})
            if len(sizes) > 1:
                raise ValueError(
                    f"dataset {self.name!r}: the checks labelled {label!r} disagree on the size: "
                    + " vs ".join(f"{s:,}" for s in sizes)
                )

    @property
    def sha256(self) -> str:
        """The sha256 of the course mirror's copy (the first check)."""
        assert self.checks[0].digest is not None  # guaranteed by __post_init__
        return self.checks[0].digest

    @property
    def size(self) -> int:
        """The size in bytes of the course mirror's copy (the first check)."""
        assert self.checks[0].size is not None
        return self.checks[0].size

    @property
    def labels(self) -> tuple[str, ...]:
        """The accepted versions, in the order they are tried."""
        return tuple(dict.fromkeys(c.label for c in self.checks))

    def checks_for(self, label: str) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if c.label == label)

    def size_of(self, label: str) -> int | None:
        """The size of version ``label``, or ``None`` if any size is accepted (a structure check)."""
        return next((c.size for c in self.checks_for(label) if c.size is not None), None)

    @property
    def max_size(self) -> int:
        """The most bytes a download may bring: the largest accepted size, or twice the largest known
        size when a version of unknown size (a structure check) is accepted."""
        known = max(c.size for c in self.checks if c.size is not None)
        return 2 * known if any(self.size_of(label) is None for label in self.labels) else known

    def partial(self, label: str) -> bool:
        """True when version ``label`` has no check covering the whole file (only a first-MiB md5)."""
        group = self.checks_for(label)
        return any(c.partial for c in group) and not any(c.kind in ("sha256", "md5") for c in group)

    def fingerprint(self, label: str) -> str:
        """The checks of ``label`` as one line, written into markers: a marker written under other
        checks (an older registry) is not trusted."""
        return "; ".join(f"{c.kind}:{c.digest or '-'}:{c.size or '-'}" for c in self.checks_for(label))


_MANIFEST = "course mirror MANIFEST.md"
_FASTAI = "fastai checks.txt"
_TORCHVISION_MNIST = "torchvision MNIST"
_MNIST_IDX_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"


def _idx(name: str, file: str, size: int, sha256: str, md5: str, what: str) -> DatasetSpec:
    """An MNIST IDX file: the mirror's copy is the original, so one version with two checks."""
    return DatasetSpec(
        name, f"mnist_idx/{file}", _MNIST_IDX_URL + file, "file",
        f"LeCun's MNIST {what} (original file, byte-identical in the mirror and at the public URL; "
        "torchvision publishes its md5)",
        (Check("sha256", sha256, size, ORIGINAL_FILE, _MANIFEST), Check("md5", md5, size, ORIGINAL_FILE, _TORCHVISION_MNIST)),
    )


def _entries() -> dict[str, DatasetSpec]:
    items = [
        DatasetSpec(
            "mnist_pkl", "mnist.pkl.gz",
            "https://github.com/mnielsen/neural-networks-and-deep-learning/raw/master/data/mnist.pkl.gz",
            "file",
            "deeplearning.net's pickled MNIST (50k/10k/10k, pixel/256). The mirror's copy is rebuilt from "
            "the IDX files, not byte-identical to the public one. No checksum is published for the public "
            "URL's copy (mnielsen's GitHub); deeplearning.net's own file is quoted as 16,168,813 bytes "
            "(E. Bendersky's loader) and md5 a02cd19f81d51c426d7ca14024243ce9 (borgwang/tinynn and code "
            "copied from it), one source each and not tied to that copy, so the public file is accepted by "
            "a structure check after download instead",
            (
                Check("sha256", "31d9d378fac1e22d453d1357ed8b931e10c470c7d356f97bfd79f5531712e1d7", 16_720_086,
                      MIRROR_COPY, _MANIFEST),
                Check("mnist-pickle", None, None, PUBLIC_FILE, "no published checksum for this copy"),
            ),
        ),
        _idx("mnist_train_images", "train-images-idx3-ubyte.gz", 9_912_422,
             "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
             "f68b3c2dcbeaaa9fbdd348bbdeb94873", "training images, 60,000 x 28 x 28 uint8"),
        _idx("mnist_train_labels", "train-labels-idx1-ubyte.gz", 28_881,
             "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
             "d53e105ee54ea40749a09fcbcd1e9432", "training labels, 60,000 uint8"),
        _idx("mnist_test_images", "t10k-images-idx3-ubyte.gz", 1_648_877,
             "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
             "9fb629c4189551a2d022fa330f9573f3", "test images, 10,000 x 28 x 28 uint8"),
        _idx("mnist_test_labels", "t10k-labels-idx1-ubyte.gz", 4_542,
             "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
             "ec29112dd5afa0611ce80d1b7f02629c", "test labels, 10,000 uint8"),
        DatasetSpec(
            "imagenette2-160", "imagenette2-160.tgz",
            "https://s3.amazonaws.com/fast-ai-imageclas/imagenette2-160.tgz", "tgz",
            "Imagenette v2, 10 ImageNet classes, imagenette2-160/{train,val}/<wnid>/*.JPEG and "
            "noisy_imagenette.csv. The mirror's copy is derived (160x160 squashed, re-encoded JPEGs, "
            "original names and split); the public file keeps each image's aspect ratio (shorter side "
            "160) and is checked by torchvision's whole-file md5 and fastai's size and first-MiB md5",
            (
                Check("sha256", "ae2015df631f5308b8a258b05ec5f99473e1e27ef1ac1d0633549b98516df212", 74_403_930,
                      MIRROR_COPY, _MANIFEST),
                Check("md5", "e793b78cc4c9e9a4ccc0c1155377a412", 99_003_388, PUBLIC_FILE, "torchvision Imagenette"),
                Check("md5-first-MiB", "c475f8f7617a200ba35b9facc48443c3", 99_003_388, PUBLIC_FILE, _FASTAI),
            ),
            folder="imagenette2-160",
        ),
        DatasetSpec(
            "imdb_sample", "imdb_sample.tgz", "https://s3.amazonaws.com/fast-ai-sample/imdb_sample.tgz", "tgz",
            "1,000 IMDB reviews in texts.csv. The mirror's copy is repackaged; the public file is checked "
            "by fastai's size and first-MiB md5, which covers the whole file (571,827 bytes < 1 MiB)",
            (
                Check("sha256", "cfeace2211b6554cb4c1929427188475b4af8ad5facbbc520aad91aefd643b26", 571_808,
                      MIRROR_COPY, _MANIFEST),
                Check("md5-first-MiB", "0842e61a9867caa2e6fbdb14fa703d61", 571_827, PUBLIC_FILE, _FASTAI),
            ),
            folder="imdb_sample",
        ),
        DatasetSpec(
            "imdb", "imdb.tgz", "https://s3.amazonaws.com/fast-ai-nlp/imdb.tgz", "tgz",
            "Large Movie Review Dataset (100,000 reviews) in fast.ai's layout. The mirror's copy is "
            "repackaged; for the public file only fastai's size and md5 of the first MiB are published "
            "(a partial check: 1 MiB of 144 MB), so its gzip CRC is checked over the whole file as well",
            (
                Check("sha256", "acab74c1b9e2614adab628f24947059fe25aebe5c0f78a92ae3020b8571cf175", 56_643_298,
                      MIRROR_COPY, _MANIFEST),
                Check("md5-first-MiB", "90f9b1c4ff43a90d67553c9240dc0249", 144_440_600, PUBLIC_FILE, _FASTAI),
            ),
            folder="imdb",
        ),
        DatasetSpec(
            "wikitext-2-valid-test", "wikitext-2-valid-test.tgz", None, "tgz",
            "WikiText-2 validation and test tokens only (no training split); mirror-only, no public URL",
            (
                Check("sha256", "7259213eebb08709b09714bd20c7f2d8c518b1b2c77b7f1d85e7fbd7f0ca09a2", 787_324,
                      MIRROR_COPY, _MANIFEST),
            ),
            folder="wikitext-2",
        ),
    ]
    return {d.name: d for d in items}


REGISTRY: dict[str, DatasetSpec] = _entries()
"""Every dataset :func:`~foundations.data.download.download` knows, by name (``python -m
foundations.data list`` shows them). Derived in Lesson 8, "Matrix multiplication"
(lessons/08_matmul), where MNIST comes from it; the archives (Imagenette, IMDB, WikiText) are
for later lessons.

:meta hide-value:
"""

GROUPS: dict[str, tuple[str, ...]] = {
    "mnist": ("mnist_train_images", "mnist_train_labels", "mnist_test_images", "mnist_test_labels"),
}
"""Names that stand for several datasets: ``fetch('mnist')`` fetches the four IDX files.
Derived in Lesson 8, "Matrix multiplication" (lessons/08_matmul), whose ``get_mnist()`` reads
those four files."""


def lookup(name: str | DatasetSpec, registry: Mapping[str, DatasetSpec] | None = None) -> DatasetSpec:
    """The :class:`DatasetSpec` called ``name`` in ``registry`` (default :data:`REGISTRY`); a spec is
    returned as it is. An unknown name raises :class:`UnknownDatasetError` listing the known ones."""
    if isinstance(name, DatasetSpec):
        return name
    reg = REGISTRY if registry is None else registry
    if not isinstance(name, str):
        raise TypeError(f"expected a dataset name (str) or a DatasetSpec, got {type(name).__name__}")
    if name not in reg:
        known = ", ".join(sorted(reg))
        hint = f" ('{name}' is a group: use fetch('{name}'))" if name in GROUPS else ""
        raise UnknownDatasetError(f"unknown dataset {name!r}{hint}; known datasets: {known}")
    return reg[name]
