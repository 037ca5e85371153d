"""foundations: the library built in *Deep Learning from the Foundations* (fast.ai 2019, lessons 8-12).

Modules by topic; each object's docstring names the lesson (and paper) that derives it:

- ``datasets``: the dataset registry, verified downloads, MNIST loading (Lesson 8)
- ``matmul``, ``bench``: matrix multiplication and side-by-side timing (Lesson 8)
- ``init``: initialisation scales (Lesson 8; Glorot & Bengio 2010, He et al. 2015)
- ``backprop``: hand-written forward and backward passes (Lesson 8)
- ``residual``: a residual MLP with Fixup initialisation (Lesson 8; Zhang, Dauphin & Ma 2019)
- ``losses``, ``nn``, ``optim``, ``data``: losses, modules, optimisers, data loading (Lesson 9)
- ``learner``, ``schedule``: the training loop with callbacks, and annealing (Lesson 9)
- ``testing``: comparing tensors with messages a learner can act on
"""

__version__ = "0.1.0"
