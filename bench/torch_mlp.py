#!/usr/bin/python3
"""bench/torch_mlp.py — the PyTorch half of the comparison with Volt (bench/mlp_epoch.c).

Trains the same model the same way as bench_mlp_epoch: MLP 784-1024-1024-10 (ReLU, f32,
cross-entropy), torch.optim.AdamW (lr 1e-3, weight decay 1e-2, its default betas and eps),
batch 256, the train split shuffled each epoch with the last partial batch kept, and
after each epoch (not timed) the accuracy on the test split (val if there is none).

The data: the same HDF5 file in Volt's layout (volt-data idx), read once into memory with
h5py as u8 and normalised per batch as tools/volt_to_torch.py's VoltSplit does, in f32:
x * f32(scale / std) + f32(-mean / std). Holding the split in memory and indexing it is
the fastest input path PyTorch offers on one process (a DataLoader over single samples is
slower); its cost is timed as the data phase, as Volt's loader is.

Best settings for PyTorch on a CPU: torch.set_num_threads(threads) with OMP_NUM_THREADS
and OMP_WAIT_POLICY=passive set by bench/run (OpenMP threads that spin after a parallel
region would steal the cores OpenBLAS's threads need), zero_grad(set_to_none=True), no
autograd anomaly detection, and AdamW's multi-tensor implementation (foreach=True: on a CPU
PyTorch's default is its per-parameter loop, about twice as slow here for this model). Debian's torch does its GEMMs in the system's OpenBLAS, the
same library and kernel as Volt (the blas column says which kernel that library chose).

Phases per step, wall clock: data (batch gathered and normalised), forward (model and
loss), backward (loss.backward()), optimizer (step and zero_grad). One CSV row per epoch
is appended to OUT.csv in bench_mlp_epoch's columns.

    /usr/bin/python3 bench/torch_mlp.py DATA.h5 OUT.csv [--epochs 3] [--max-steps 0]
                                         [--rep 1] [--threads N] [--seed 42]
(Debian's python3-torch lives under /usr/bin/python3, not under a pyenv or venv python.)
"""
import argparse
import ctypes
import os
import statistics
import sys
import time

try:
    import h5py
    import numpy as np
    import torch
except ImportError as error:
    sys.exit("torch_mlp.py: %s (Debian: apt-get install python3-torch python3-h5py; run it "
             "with /usr/bin/python3)" % error)

BATCH = 256
HIDDEN = 1024
EVAL_BATCH = 1000


def blas_kernel():
    """The OpenBLAS kernel of the library torch loaded, or "not OpenBLAS"."""
    with open("/proc/self/maps") as maps:
        paths = {line.split()[-1] for line in maps if "blas" in line and "/" in line}
    for path in sorted(paths):
        try:
            library = ctypes.CDLL(path)
            corename = library.openblas_get_corename
        except (OSError, AttributeError):
            continue
        corename.restype = ctypes.c_char_p
        return corename().decode()
    return "not OpenBLAS"


def load_split(file, name):
    """(x u8 tensor [N, features], y i64 tensor [N], gain, shift) of one split."""
    x = file[name]["x"]
    scale = float(x.attrs.get("scale", 1.0))
    mean = float(x.attrs.get("mean", 0.0))
    std = float(x.attrs.get("std", 1.0))
    data = np.asarray(x[...]).reshape(x.shape[0], -1)
    labels = np.asarray(file[name]["y"][...]).astype(np.int64)
    return (torch.from_numpy(data), torch.from_numpy(labels), np.float32(scale / std),
            np.float32(-mean / std))


def normalise(x_u8, gain, shift):
    return x_u8.to(torch.float32).mul_(float(gain)).add_(float(shift))


def evaluate(model, split):
    x, y, gain, shift = split
    model.eval()
    correct = 0
    with torch.no_grad():
        for first in range(0, x.shape[0], EVAL_BATCH):
            logits = model(normalise(x[first:first + EVAL_BATCH], gain, shift))
            correct += int((logits.argmax(1) == y[first:first + EVAL_BATCH]).sum())
    model.train()
    return correct / x.shape[0]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data")
    parser.add_argument("csv")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--max-steps", type=int, default=0)
    parser.add_argument("--rep", type=int, default=1)
    parser.add_argument("--threads", type=int,
                        default=int(os.environ.get("OPENBLAS_NUM_THREADS", "0")) or
                        os.cpu_count())
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    kernel = blas_kernel()
    print("torch %s, %d threads, BLAS kernel %s" % (torch.__version__,
                                                    torch.get_num_threads(), kernel))
    with h5py.File(args.data, "r") as file:
        train = load_split(file, "train")
        eval_name = "test" if "test" in file else "val"
        evaluation = load_split(file, eval_name)
        classes = int(file.attrs["num_classes"])
    x_train, y_train, gain, shift = train
    samples_total, features = x_train.shape

    model = torch.nn.Sequential(
        torch.nn.Linear(features, HIDDEN), torch.nn.ReLU(),
        torch.nn.Linear(HIDDEN, HIDDEN), torch.nn.ReLU(),
        torch.nn.Linear(HIDDEN, classes))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-2, foreach=True)
    loss_fn = torch.nn.CrossEntropyLoss()
    generator = torch.Generator().manual_seed(args.seed)
    steps_per_epoch = (samples_total + BATCH - 1) // BATCH
    if 0 < args.max_steps < steps_per_epoch:
        steps_per_epoch = args.max_steps

    new_file = not os.path.exists(args.csv) or os.path.getsize(args.csv) == 0
    with open(args.csv, "a") as csv:
        if new_file:
            csv.write("implementation,rep,epoch,steps,samples,epoch_s,samples_per_s,data_ms,"
                      "forward_ms,backward_ms,optimizer_ms,train_loss,eval_split,eval_acc,"
                      "threads,blas\n")
        clock = time.perf_counter
        for epoch in range(args.epochs):
            order = torch.randperm(samples_total, generator=generator)
            phases = [[], [], [], []]
            samples = 0
            epoch_seconds = 0.0
            loss_sum = 0.0
            for step in range(steps_per_epoch):
                t0 = clock()
                index = order[step * BATCH:(step + 1) * BATCH]
                x = normalise(x_train[index], gain, shift)
                y = y_train[index]
                t1 = clock()
                loss = loss_fn(model(x), y)
                t2 = clock()
                loss.backward()
                t3 = clock()
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                t4 = clock()
                loss_sum += loss.item()
                for phase, seconds in zip(phases, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
                    phase.append(seconds)
                epoch_seconds += t4 - t0
                samples += x.shape[0]
            accuracy = evaluate(model, evaluation)
            ms = [statistics.median_high(phase) * 1e3 for phase in phases]
            print("torch rep %d epoch %d: %d steps, %.2f s, %.0f samples/s, data %.3f forward "
                  "%.3f backward %.3f optimizer %.3f ms, loss %.4f, %s acc %.4f" %
                  (args.rep, epoch + 1, steps_per_epoch, epoch_seconds, samples / epoch_seconds,
                   *ms, loss_sum / steps_per_epoch, eval_name, accuracy), flush=True)
            csv.write("torch,%d,%d,%d,%d,%.4f,%.1f,%.4f,%.4f,%.4f,%.4f,%.5f,%s,%.4f,%d,%s\n" %
                      (args.rep, epoch + 1, steps_per_epoch, samples, epoch_seconds,
                       samples / epoch_seconds, *ms, loss_sum / steps_per_epoch, eval_name,
                       accuracy, torch.get_num_threads(), kernel))
            csv.flush()


if __name__ == "__main__":
    main()
