#!/usr/bin/python3
"""tests/reference/gpt_step.py — one SGD step of Volt's GPT against PyTorch's.

    gpt_step.py BEFORE.h5 AFTER.h5 DATA.h5 --lr LR --batch B

BEFORE is a checkpoint of the freshly initialised model (a fit with lr 0), AFTER the
checkpoint of the same fit after one plain SGD step (momentum 0, no weight decay, no
clipping) on the first B training samples in file order (data.shuffle=false). The
model of BEFORE is rebuilt in torch by tools/volt_to_torch.py; torch computes the mean
next-token loss of those samples and its gradient, and every parameter's step
AFTER - BEFORE must equal -LR * grad: the largest difference, relative to the largest
step of that parameter, at most 2e-4 (f32 on both sides, sums in other orders). The
tied output layer makes wte's gradient the sum of its two uses. Prints one line per
parameter group and exits 1 on a mismatch.
"""
import argparse
import os
import sys

import h5py
import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "tools"))
import volt_to_torch  # noqa: E402

TOLERANCE = 2e-4


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("before")
    parser.add_argument("after")
    parser.add_argument("data")
    parser.add_argument("--lr", type=float, required=True)
    parser.add_argument("--batch", type=int, required=True)
    args = parser.parse_args()

    model, _, description = volt_to_torch.load_checkpoint(args.before)
    print(description)
    with h5py.File(args.data, "r") as f:
        x = f["train/x"][:args.batch].astype(np.int64)
    ids = torch.from_numpy(x)
    model.train()  # dropout 0: the same computation as eval, but gradients recorded
    logits = model(ids[:, :-1])
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                             ids[:, 1:].reshape(-1))
    loss.backward()
    print("torch loss of the first batch: %.6f" % loss.item())

    failed = 0
    with h5py.File(args.before, "r") as fb, h5py.File(args.after, "r") as fa:
        for name, param in model.named_parameters():
            before = fb["model"][name][()].astype(np.float64)
            after = fa["model"][name][()].astype(np.float64)
            expected = -args.lr * param.grad.double().numpy()
            step = after - before
            scale = max(np.abs(expected).max(), 1e-12)
            error = np.abs(step - expected).max() / scale
            ok = error <= TOLERANCE
            failed += not ok
            print("%-36s max |step| %.3e  relative error %.2e %s" %
                  (name, scale, error, "" if ok else "  <-- MISMATCH"))
    if failed:
        print("%d parameters moved unlike PyTorch's SGD step" % failed)
        return 1
    print("every parameter took PyTorch's SGD step")
    return 0


if __name__ == "__main__":
    sys.exit(main())
