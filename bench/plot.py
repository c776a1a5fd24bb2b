#!/usr/bin/env python3
"""bench/plot.py — draws the benchmark tables of bench/results/ as one PNG.

    pip install matplotlib && python3 bench/plot.py [results dir]

Reads gemm.csv, adamw.csv and mlp_step.csv (written by `cmake --build build --target
bench`) and writes summary.png beside them: Volt against its reference in each panel.
"""
import csv
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def read(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def main():
    results = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "results")
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))

    gemm = read(os.path.join(results, "gemm.csv"))
    labels = [f"{r['m']}x{r['n']}x{r['k']}" for r in gemm]
    x = range(len(gemm))
    axes[0].bar([i - 0.2 for i in x], [float(r["volt_gflops"]) for r in gemm], 0.4, label="volt_matmul")
    axes[0].bar([i + 0.2 for i in x], [float(r["cblas_gflops"]) for r in gemm], 0.4, label="cblas_sgemm")
    axes[0].set_xticks(list(x), labels, rotation=30, fontsize=8)
    axes[0].set_ylabel("GFLOP/s")
    axes[0].set_title("GEMM f32 (M x N x K)")
    axes[0].legend(loc="lower right")

    adamw = read(os.path.join(results, "adamw.csv"))
    n = [int(r["elements"]) for r in adamw]
    axes[1].plot(n, [float(r["adamw_gbps"]) for r in adamw], "o-", label="AdamW update")
    axes[1].plot(n, [float(r["memcpy_gbps"]) for r in adamw], "s--", label="memcpy, same traffic")
    axes[1].set_xscale("log", base=2)
    axes[1].set_xlabel("elements")
    axes[1].set_ylabel("GB/s of memory traffic")
    axes[1].set_title("AdamW, 28 bytes per element")
    axes[1].legend()

    mlp = read(os.path.join(results, "mlp_step.csv"))
    names = {"volt": "Volt autograd", "hand_cblas": "hand-written CBLAS"}
    axes[2].bar([names.get(r["implementation"], r["implementation"]) for r in mlp],
                [float(r["samples_per_s"]) for r in mlp], color=["C0", "C1"])
    axes[2].set_ylabel("samples/s")
    axes[2].set_title("MLP 784-1024-1024-10 step, batch 256")

    fig.tight_layout()
    out = os.path.join(results, "summary.png")
    fig.savefig(out, dpi=100)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
