"""foundations: the library built in *Deep Learning from the Foundations* (fast.ai 2019, lessons 8-12).

Modules by topic; each object's docstring names the lesson (and paper) that derives it. The core
is the top-level modules; ``data``, ``callbacks`` (and, with Lessons 11-12, ``vision`` and ``text``)
are packages built on it, and the core never imports them (``tests/test_layout.py`` checks).

Core:

- ``checks``: the argument checks every module uses, with one rule (a wrong type raises
  ``TypeError``, a wrong value ``ValueError``) and one message form; it imports nothing from here
- ``matmul``, ``bench``: matrix multiplication and side-by-side timing (Lesson 8)
- ``init``: initialisation scales, gains, fans, orthogonal init (Lessons 8-9; Glorot & Bengio 2010,
  He et al. 2015, Saxe et al. 2013)
- ``backprop``: hand-written forward and backward passes (Lesson 8)
- ``residual``: a residual MLP with Fixup initialisation (Lesson 8; Zhang, Dauphin & Ma 2019)
- ``activations``: PReLU, SELU and its mean-variance map (Lesson 9; He et al. 2015, Klambauer et al. 2017)
- ``nn``: Lesson 9's hand-written ``Module`` (the teaching version; the rest builds on ``torch.nn``,
  and ``backprop`` has Lesson 8's own hand-written ``Module`` with a ``bwd``)
- ``losses``, ``optim``, ``schedule``: losses, optimisers, annealing schedules (Lesson 9)
- ``learner``: the ``Learner``, ``Callback``, the events and their order (Lesson 9, in Lesson 11's form)
- ``moments``: variance, covariance, correlation by hand (Lesson 10)
- ``hooks``, ``conv``, ``norm``: hooks and activation statistics, GeneralRelu and conv layers,
  BatchNorm and friends (Lesson 10)
- ``models``: recipes that assemble the course's models and learners (Lessons 9-10)
- ``lsuv``: layer-sequential unit-variance init (Lesson 11; Mishkin & Matas 2015)
- ``plotting``, ``testing``: the book's figure style; comparing tensors with messages a learner can act on

Packages:

- ``data``: the dataset registry, verified downloads, MNIST (Lesson 8); data loaders and
  ``DataBunch`` (Lesson 9); ``python -m foundations.data`` is the datasets' command line
- ``callbacks``: metrics and the recorder, schedulers, devices and batch transforms, the LR finder
  (Lessons 9-10)
"""

__version__ = "0.1.0"
