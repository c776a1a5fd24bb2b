#!/usr/bin/env python3
"""bench/plot.py — draws the benchmark tables as PNGs (matplotlib; Debian: python3-matplotlib).

    python3 bench/plot.py [results dir]
Reads gemm.csv, adamw.csv and mlp_step.csv (written by `cmake --build build --target
bench`) and writes summary.png beside them: Volt against its reference in each panel.

    python3 bench/plot.py --run FOLDER
For a folder that bench/run filled (<benchmark>/rep<N>/*.csv): summary.png as above from the
medians over the invocations, and, for the benchmarks that ran, torch_mlp.png (Volt against
PyTorch: samples/s, the phases of a step, accuracy per epoch), comm.png (all-reduce bus
bandwidth against message size) and scaling.png (weak-scaling efficiency and strong-scaling
speedup of DDP and ZeRO-1 against the rank count); error bars are the min and max over the
invocations.
"""
import csv
import glob
import os
import statistics
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def read(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(line for line in f if not line.startswith("#")))


def draw_summary(gemm, adamw, mlp, out):
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))

    labels = [f"{r['m']}x{r['n']}x{r['k']}" for r in gemm]
    x = range(len(gemm))
    axes[0].bar([i - 0.2 for i in x], [float(r["volt_gflops"]) for r in gemm], 0.4,
                label="volt_matmul")
    axes[0].bar([i + 0.2 for i in x], [float(r["cblas_gflops"]) for r in gemm], 0.4,
                label="cblas_sgemm")
    axes[0].set_xticks(list(x), labels, rotation=30, fontsize=8)
    axes[0].set_ylabel("GFLOP/s")
    axes[0].set_title("GEMM f32 (M x N x K)")
    axes[0].legend(loc="lower right")

    n = [int(r["elements"]) for r in adamw]
    axes[1].plot(n, [float(r["adamw_gbps"]) for r in adamw], "o-", label="AdamW update")
    axes[1].plot(n, [float(r["memcpy_gbps"]) for r in adamw], "s--",
                 label="memcpy, same traffic")
    axes[1].set_xscale("log", base=2)
    axes[1].set_xlabel("elements")
    axes[1].set_ylabel("GB/s of memory traffic")
    axes[1].set_title("AdamW, 28 bytes per element")
    axes[1].legend()

    names = {"volt": "Volt autograd", "hand_cblas": "hand-written CBLAS"}
    axes[2].bar([names.get(r["implementation"], r["implementation"]) for r in mlp],
                [float(r["samples_per_s"]) for r in mlp], color=["C0", "C1"])
    axes[2].set_ylabel("samples/s")
    axes[2].set_title("MLP 784-1024-1024-10 step, batch 256")

    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    print(f"wrote {out}")


# --- a bench/run folder ---------------------------------------------------------------------

def reps(folder, name, csv_name):
    paths = glob.glob(os.path.join(folder, name, "rep*", csv_name))
    paths.sort(key=lambda p: int(os.path.basename(os.path.dirname(p))[3:]))
    return [read(p) for p in paths]


def median_rows(all_reps):
    """Row by row, each numeric column's median over the invocations."""
    rows = []
    for i, first in enumerate(all_reps[0]):
        row = dict(first)
        for key, value in first.items():
            try:
                median = statistics.median(float(r[i][key]) for r in all_reps)
            except ValueError:
                continue
            integer = "." not in value and median == int(median)
            row[key] = "%d" % median if integer else repr(median)
        rows.append(row)
    return rows


def spread(values):
    """median, and the distances down to the min and up to the max (for error bars)."""
    m = statistics.median(values)
    return m, m - min(values), max(values) - m


def draw_torch(folder, out):
    rows = read(os.path.join(folder, "torch_mlp", "epochs.csv"))
    impls = [("volt", "Volt", "C0"), ("torch", "PyTorch", "C1")]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    for k, (impl, label, color) in enumerate(impls):
        mine = [r for r in rows if r["implementation"] == impl]
        by_rep = {}
        for r in mine:
            by_rep.setdefault(r["rep"], []).append(r)
        sps = [sum(int(e["samples"]) for e in es) / sum(float(e["epoch_s"]) for e in es)
               for es in by_rep.values()]
        m, lo, hi = spread(sps)
        axes[0].bar(k, m, 0.6, yerr=[[lo], [hi]], color=color, capsize=4)
        for j, phase in enumerate(("data", "forward", "backward", "optimizer")):
            m, lo, hi = spread([float(r[phase + "_ms"]) for r in mine])
            axes[1].bar(j + (k - 0.5) * 0.4, m, 0.4, yerr=[[lo], [hi]], color=color,
                        capsize=3, label=label if j == 0 else None)
        for n, (rep, es) in enumerate(sorted(by_rep.items())):
            es.sort(key=lambda e: int(e["epoch"]))
            axes[2].plot([int(e["epoch"]) for e in es], [float(e["eval_acc"]) for e in es],
                         "o-", color=color, alpha=0.7, label=label if n == 0 else None)
    axes[0].set_xticks([0, 1], [label for _, label, _ in impls])
    axes[0].set_ylabel("samples/s")
    axes[0].set_title("training epoch, MLP 784-1024-1024-10, batch 256")
    axes[1].set_xticks(range(4), ["data", "forward", "backward", "optimizer"])
    axes[1].set_ylabel("ms per step (median)")
    axes[1].set_title("phases of a step")
    axes[1].legend()
    axes[2].set_xlabel("epoch")
    axes[2].set_ylabel("accuracy (%s split)" % rows[0]["eval_split"])
    axes[2].set_title("accuracy after each epoch")
    axes[2].legend()
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    print(f"wrote {out}")


def draw_comm(folder, out):
    names = sorted(os.path.basename(p) for p in glob.glob(os.path.join(folder, "comm_np*")))
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for k, name in enumerate(names):
        data = reps(folder, name, "comm.csv")
        if not data:
            continue
        rows = median_rows(data)
        ranks = rows[0]["ranks"]
        n = [int(r["bytes"]) for r in rows]
        ax.plot(n, [float(r["volt_busbw_gbps"]) for r in rows], "o-", color=f"C{k}",
                label=f"Volt, {ranks} ranks")
        ax.plot(n, [float(r["mpi_busbw_gbps"]) for r in rows], "s--", color=f"C{k}",
                alpha=0.6, label=f"MPI_Allreduce, {ranks} ranks")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("bytes")
    ax.set_ylabel("bus bandwidth, GB/s")
    ax.set_title("all-reduce, f32 sum (medians over the invocations)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    print(f"wrote {out}")


def scaling_runs(folder):
    """{P: (invocations' rows by configuration letter, ranks per node, cores)} from
    scaling_np<P>/ (scaling/ in older runs: 2 ranks, weak scaling only)."""
    runs = {}
    names = [os.path.basename(p) for p in glob.glob(os.path.join(folder, "scaling_np*"))]
    if os.path.isdir(os.path.join(folder, "scaling")):
        names.append("scaling")
    for name in names:
        paths = glob.glob(os.path.join(folder, name, "rep*", "scaling.csv"))
        if not paths:
            continue
        data, notes = [], {}
        for path in paths:
            data.append({r["configuration"].strip('"')[1]: r for r in read(path)})
            with open(path) as f:
                notes.update(line[2:].strip().split(",", 1) for line in f
                             if line.startswith("# "))
        world = int(notes.get("world_ranks", data[0]["b"]["ranks"]))
        cores = int(notes.get("cores_per_node", os.cpu_count() or 1))
        runs[world] = (data, int(notes.get("ranks_per_node", world)), cores)
    return runs


def draw_scaling(folder, out):
    runs = scaling_runs(folder)
    ranks = sorted(runs)
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.8))
    panels = (
        (axes[0], "abcde", "efficiency t(1 rank) / t(P ranks)",
         "weak scaling: per-rank batch 128"),
        (axes[1], "fghij", "speedup t(1 rank) / t(P ranks)",
         "strong scaling: global batch 512, 512/P per rank"))
    names = ("DDP, default buckets", "DDP, 0.25 MB buckets (overlap)", "ZeRO-1",
             "independent ranks (no communication)")
    for ax, letters, ylabel, title in panels:
        base = letters[0]
        for k, (letter, label) in enumerate(zip(letters[1:], names)):
            x, y, lo, hi = [1], [1.0], [0.0], [0.0]
            for p in ranks:
                data = runs[p][0]
                if letter not in data[0]:
                    continue
                values = [float(d[base]["ms_per_step"]) / float(d[letter]["ms_per_step"])
                          for d in data]
                m, down, up = spread(values)
                x.append(p)
                y.append(m)
                lo.append(down)
                hi.append(up)
            if len(x) > 1:
                ax.errorbar(x, y, yerr=[lo, hi], fmt="o-" if k < 3 else "s:", color=f"C{k}",
                            capsize=3, label=label)
        if not any(base in runs[p][0][0] for p in ranks):
            ax.text(0.5, 0.5, "not measured (an older bench_scaling)", ha="center",
                    transform=ax.transAxes)
        ticks = sorted(set([1] + ranks))
        if letters[0] == "a":
            ax.axhline(1.0, color="grey", lw=0.8, ls="--", label="ideal")
        else:
            ax.plot(ticks, ticks, color="grey", lw=0.8, ls="--", label="ideal (P)")
        ax.set_xscale("log", base=2)
        ax.set_xticks(ticks, ["%d%s" % (p, "\n(oversubscribed:\n%d ranks on %d cores)" % (
            runs[p][1], runs[p][2]) if p in runs and runs[p][1] > runs[p][2] else "")
            for p in ticks], fontsize=8)
        ax.set_xlabel("ranks P (1 BLAS thread each)")
        ax.set_ylabel(ylabel)
        ax.set_title(title, fontsize=10)
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle("MLP 784-256-10, data parallel against 1 rank (medians over the "
                 "invocations, bars min to max)", fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    print(f"wrote {out}")


def plot_run(folder):
    gemm = reps(folder, "gemm_adamw", "gemm.csv")
    adamw = reps(folder, "gemm_adamw", "adamw.csv")
    mlp = reps(folder, "mlp_step", "mlp_step.csv")
    if gemm and adamw and mlp:
        draw_summary(median_rows(gemm), median_rows(adamw), median_rows(mlp),
                     os.path.join(folder, "summary.png"))
    if os.path.exists(os.path.join(folder, "torch_mlp", "epochs.csv")):
        draw_torch(folder, os.path.join(folder, "torch_mlp.png"))
    if glob.glob(os.path.join(folder, "comm_np*", "rep*", "comm.csv")):
        draw_comm(folder, os.path.join(folder, "comm.png"))
    if scaling_runs(folder):
        draw_scaling(folder, os.path.join(folder, "scaling.png"))


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--run":
        plot_run(sys.argv[2])
        return
    results = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__),
                                                                 "results")
    draw_summary(read(os.path.join(results, "gemm.csv")), read(os.path.join(results, "adamw.csv")),
                 read(os.path.join(results, "mlp_step.csv")), os.path.join(results, "summary.png"))


if __name__ == "__main__":
    main()
