"""foundations: the library built in *Deep Learning from the Foundations* (fast.ai 2019, lessons 8-12).

Modules by topic; each object's docstring names the lesson (and paper) that derives it:

- ``datasets``: the dataset registry, verified downloads, MNIST loading (Lesson 8)
- ``matmul``, ``bench``: matrix multiplication and side-by-side timing (Lesson 8)
- ``init``: initialisation scales, gains, fans, orthogonal init (Lessons 8-9; Glorot & Bengio 2010,
  He et al. 2015, Saxe et al. 2013)
- ``activations``: PReLU, SELU and its mean-variance map (Lesson 9; He et al. 2015, Klambauer et al. 2017)
- ``backprop``: hand-written forward and backward passes (Lesson 8)
- ``residual``: a residual MLP with Fixup initialisation (Lesson 8; Zhang, Dauphin & Ma 2019)
- ``losses``, ``nn``, ``optim``, ``data``: losses, modules, optimisers, data loading (Lesson 9)
- ``learner``, ``schedule``: the training loop with callbacks, and annealing (Lesson 9)
- ``stats``: variance, covariance, correlation by hand (Lesson 10)
- ``callbacks``: device, batch-transform and learning-rate-finder callbacks (Lesson 10)
- ``hooks``, ``conv``: forward hooks and activation statistics; a CNN with GeneralRelu (Lesson 10)
- ``norm``: BatchNorm, LayerNorm, InstanceNorm, GroupNorm, RunningBatchNorm (Lesson 10)
- ``testing``: comparing tensors with messages a learner can act on
"""

__version__ = "0.1.0"
