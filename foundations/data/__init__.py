"""Data: datasets and their downloads, and feeding a model mini-batches.

- the datasets (Lesson 8, "Matrix multiplication"), one job a module, each importing only those
  above it: :mod:`~foundations.data.errors`; :mod:`~foundations.data.registry` (which files, which
  versions of each are accepted); :mod:`~foundations.data.cache` (the cache folder, its markers,
  stale partial files); :mod:`~foundations.data.pickles` (the restricted unpickler, the MNIST
  pickle's structure check); :mod:`~foundations.data.verification` (which version a file is;
  ``verify``); :mod:`~foundations.data.download` (mirror, then public URL, verified before it is
  kept); :mod:`~foundations.data.archives` (safe extraction; ``fetch``);
  :mod:`~foundations.data.mnist` (``get_mnist``); :mod:`~foundations.data.transforms`
  (``normalize``); :mod:`~foundations.data.cli` (``python -m foundations.data list|fetch|verify``);
- :mod:`~foundations.data.loaders`: ``Dataset``, ``Sampler``, ``collate``, ``DataLoader``,
  ``get_dls`` (Lesson 9, "Mini-batch training") and ``DataBunch`` (Lesson 9, "Callbacks");
- :mod:`~foundations.data.blocks`: the data block API, ``get_files``, ``ItemList``, splitters,
  labellers, processors and ``to_databunch`` (Lesson 11, on Imagenette).

This package imports the core of ``foundations`` and nothing above it (callbacks, vision, text).
"""

# ``download`` is not re-exported: ``foundations.data.download`` must stay the module of that name.
from foundations.data.archives import archive_sha256, fetch
from foundations.data.blocks import (
    CategoryProcessor,
    ItemList,
    LabeledData,
    Processor,
    SplitData,
    compose,
    get_files,
    grandparent_splitter,
    label_by_func,
    parent_labeler,
    random_splitter,
    split_by_func,
    to_databunch,
)
from foundations.data.errors import DownloadError
from foundations.data.loaders import DataBunch, DataLoader, Dataset, Sampler, collate, get_dls
from foundations.data.mnist import get_mnist, get_mnist_test
from foundations.data.transforms import normalize

__all__ = [
    "archive_sha256",
    "CategoryProcessor",
    "DataBunch",
    "DataLoader",
    "Dataset",
    "DownloadError",
    "ItemList",
    "LabeledData",
    "Processor",
    "Sampler",
    "SplitData",
    "collate",
    "compose",
    "fetch",
    "get_dls",
    "get_files",
    "get_mnist",
    "get_mnist_test",
    "grandparent_splitter",
    "label_by_func",
    "normalize",
    "parent_labeler",
    "random_splitter",
    "split_by_func",
    "to_databunch",
]
