"""Data-parallel training of Lesson 10's CNN on MNIST, on one process or on several.

Lesson 13, "Training on several processes" (lessons/13_distributed). The same script runs both ways:

    python lessons/ddp_mnist.py                               # one process
    torchrun --nproc-per-node 2 lessons/ddp_mnist.py          # two processes (gloo on CPUs, NCCL on GPUs)

``--bs`` is the global batch: each of W processes takes ``bs / W`` of it. Rank 0 prints the
validation accuracy and the training throughput, and with ``--save`` writes the final weights.
"""

from __future__ import annotations

import argparse
import json
import time

import torch
import torch.distributed as dist

from foundations.callbacks import AvgStatsCallback, BatchTransformCallback, DeviceCallback, view_tfm
from foundations.conv import init_cnn
from foundations.data import DataBunch, Dataset, get_dls, get_mnist
from foundations.learner import Callback, Learner
from foundations.losses import accuracy, cross_entropy
from foundations.models import get_cnn_model
from foundations.perf.distributed import DistributedTrainer, init_distributed


class TrainTimer(Callback):
    """Seconds spent in training passes (validation is not sharded, so it is left out of throughput)."""

    def begin_fit(self) -> None:
        self.seconds = 0.0

    def begin_epoch(self) -> None:
        self.start = time.perf_counter()

    def begin_validate(self) -> None:
        self.seconds += time.perf_counter() - self.start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--bs", type=int, default=128, help="the global batch size")
    p.add_argument("--lr", type=float, default=0.4)
    p.add_argument("--n-train", type=int, default=50_000, help="how many training images (the first n)")
    p.add_argument("--n-valid", type=int, default=10_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--float64", action="store_true", help="train in float64 (for exact comparisons)")
    p.add_argument("--save", help="write the final weights (state dict) to this file")
    args = p.parse_args()

    rank, world = init_distributed()  # (0, 1) without torchrun
    torch.set_num_threads(1)
    dtype = torch.float64 if args.float64 else torch.float32
    m = get_mnist()
    train_ds = Dataset(m.x_train[: args.n_train].to(dtype), m.y_train[: args.n_train])
    valid_ds = Dataset(m.x_valid[: args.n_valid].to(dtype), m.y_valid[: args.n_valid])
    data = DataBunch(*get_dls(train_ds, valid_ds, args.bs), c_in=784, c_out=10)

    torch.manual_seed(args.seed)  # the same weights on every rank (DDP also broadcasts rank 0's)
    model = init_cnn(get_cnn_model(data, [8, 16, 32, 32])).to(dtype)
    cbs: list[Callback] = [BatchTransformCallback(view_tfm(1, 28, 28)), AvgStatsCallback([accuracy], verbose=False),
                           TrainTimer(), DistributedTrainer(seed=args.seed)]
    if dist.is_initialized() and dist.get_backend() == "nccl":  # one GPU per process: init_distributed chose it
        cbs.append(DeviceCallback(torch.device("cuda", torch.cuda.current_device())))
    elif world == 1 and torch.cuda.is_available():
        cbs.append(DeviceCallback("cuda"))
    learn = Learner(model, data, cross_entropy, lr=args.lr, cbs=cbs)
    learn.fit(args.epochs)

    if rank == 0:
        acc = learn.avg_stats.valid_stats.averages[1]
        seen = args.epochs * len(train_ds)
        print(json.dumps({"processes": world, "global_bs": args.bs, "valid_accuracy": round(acc, 4),
                          "train_seconds": round(learn.train_timer.seconds, 2),
                          "images_per_second": round(seen / learn.train_timer.seconds, 1)}))
        if args.save:
            torch.save(model.state_dict(), args.save)


if __name__ == "__main__":
    main()
