#!/usr/bin/env python3
"""bench/report.py — the Markdown report of one bench/run folder.

    report.py FOLDER REPORT.md

FOLDER is what bench/run fills: machine.txt, notes.txt, <benchmark>/rep<N>/ with each
invocation's CSVs and log, torch_mlp/epochs.csv, scaling_model/rep1/ and the PNG plots.
For every benchmark whose files are there, a table of the median, min and max over the
invocations of Volt's figure, the reference's and their ratio (each invocation's ratio
is taken from its own paired measurement), beside the goal of issue 10. Standard library
only, so that the report is written where matplotlib is missing.
"""
import csv
import glob
import math
import os
import statistics
import sys

from scaling_model import fit_alpha_beta, rate_words


def read_rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(line for line in f if not line.startswith("#")))


def rep_files(folder, name, csv_name):
    """The CSVs of a benchmark's invocations, in invocation order."""
    paths = glob.glob(os.path.join(folder, name, "rep*", csv_name))
    return sorted(paths, key=lambda p: int(os.path.basename(os.path.dirname(p))[3:]))


def fmt(value, digits):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if abs(value) >= 1000:
        return "{:,.0f}".format(value).replace(",", " ")
    return "%.*f" % (digits, value)


class Table:
    """Rows of: what, unit, values over invocations, goal."""

    def __init__(self):
        self.rows = []

    def add(self, what, unit, values, goal="", digits=3):
        values = [v for v in values if v is not None and not math.isnan(v)]
        self.rows.append((what, unit, values, goal, digits))

    def markdown(self):
        out = ["| measure | unit | median | min | max | n | goal |",
               "|---|---|---|---|---|---|---|"]
        for what, unit, values, goal, digits in self.rows:
            if values:
                cells = [fmt(statistics.median(values), digits), fmt(min(values), digits),
                         fmt(max(values), digits), str(len(values))]
            else:
                cells = ["-", "-", "-", "0"]
            out.append("| %s | %s | %s | %s |" % (what, unit, " | ".join(cells), goal))
        return "\n".join(out)


def geometric_mean(values):
    return math.exp(sum(math.log(v) for v in values) / len(values))


# --- one section per benchmark -------------------------------------------------------------

def gemm_adamw(folder):
    gemm = [read_rows(p) for p in rep_files(folder, "gemm_adamw", "gemm.csv")]
    adamw = [read_rows(p) for p in rep_files(folder, "gemm_adamw", "adamw.csv")]
    if not gemm:
        return None
    t = Table()
    t.add("volt_matmul, mean over the %d shapes" % len(gemm[0]), "GFLOP/s",
          [statistics.mean(float(r["volt_gflops"]) for r in rows) for rows in gemm], digits=1)
    t.add("cblas_sgemm, same shapes", "GFLOP/s",
          [statistics.mean(float(r["cblas_gflops"]) for r in rows) for rows in gemm], digits=1)
    t.add("ratio, geometric mean over shapes", "Volt / BLAS",
          [geometric_mean([float(r["ratio"]) for r in rows]) for rows in gemm], ">= 0.98")
    t.add("ratio, worst shape", "Volt / BLAS",
          [min(float(r["ratio"]) for r in rows) for rows in gemm])
    if adamw:
        largest = max(int(r["elements"]) for r in adamw[0])
        smallest = min(int(r["elements"]) for r in adamw[0])
        for n, where in ((largest, "out of cache"), (smallest, "in cache")):
            pick = [next(r for r in rows if int(r["elements"]) == n) for rows in adamw]
            k = int(round(math.log2(n)))
            t.add("AdamW update, 2^%d elements (%s)" % (k, where), "GB/s",
                  [float(r["adamw_gbps"]) for r in pick], digits=1)
            t.add("memcpy of the same traffic, 2^%d" % k, "GB/s",
                  [float(r["memcpy_gbps"]) for r in pick], digits=1)
            t.add("ratio, 2^%d" % k, "AdamW / memcpy", [float(r["ratio"]) for r in pick])
    return ("GEMM and AdamW (`bench_gemm_adamw`)",
            "Volt's GEMM (validation, tape, then `cblas_sgemm`) against a bare `cblas_sgemm` "
            "on square and the MLP's shapes; the fused AdamW update against `memcpy` moving "
            "the same 28 bytes per element.", t)


def mlp_step(folder):
    reps = [read_rows(p) for p in rep_files(folder, "mlp_step", "mlp_step.csv")]
    if not reps:
        return None
    t = Table()
    volt = [float(next(r for r in rows if r["implementation"] == "volt")["samples_per_s"])
            for rows in reps]
    hand = [float(next(r for r in rows if r["implementation"] == "hand_cblas")["samples_per_s"])
            for rows in reps]
    t.add("Volt autograd", "samples/s", volt)
    t.add("hand-written CBLAS", "samples/s", hand)
    t.add("ratio", "Volt / hand", [v / h for v, h in zip(volt, hand)], ">= 0.95")
    return ("MLP training step (`bench_mlp_step`)",
            "784-1024-1024-10, batch 256, f32, AdamW, alternating steps of each.", t)


def trainer_overhead(folder):
    reps = [read_rows(p) for p in rep_files(folder, "trainer_overhead", "trainer_overhead.csv")]
    if not reps:
        return None
    t = Table()
    trainer = [next(r for r in rows if r["implementation"] == "trainer") for rows in reps]
    loop = [next(r for r in rows if r["implementation"] == "hand_loop") for rows in reps]
    t.add("volt_trainer_fit", "ms/step", [float(r["median_wall_ms"]) for r in trainer])
    t.add("hand-written loop of the same calls", "ms/step",
          [float(r["median_wall_ms"]) for r in loop])
    t.add("ratio, wall clock", "trainer / loop", [float(r["wall_ratio"]) for r in trainer],
          "<= 1.01", digits=4)
    t.add("ratio, CPU time", "trainer / loop", [float(r["cpu_ratio"]) for r in trainer],
          "<= 1.01", digits=4)
    return ("Trainer overhead (`bench_trainer_overhead`)",
            "MLP 784-256-10, batch 128, 1 BLAS thread; rounds alternate a trainer fit and "
            "the loop.", t)


def comm(folder):
    sections = []
    memcpy = None
    adamw = [read_rows(p) for p in rep_files(folder, "gemm_adamw", "adamw.csv")]
    if adamw:
        largest = max(int(r["elements"]) for r in adamw[0])
        memcpy = statistics.median(float(next(r for r in rows if int(r["elements"]) == largest)
                                         ["memcpy_gbps"]) for rows in adamw)
    for name in sorted(glob.glob(os.path.join(folder, "comm_np*"))):
        reps = [read_rows(p) for p in rep_files(folder, os.path.basename(name), "comm.csv")]
        if not reps:
            continue
        ranks = int(reps[0][0]["ranks"])
        t = Table()
        for i, row in enumerate(reps[0]):
            size = int(row["bytes"])
            label = "%d KB" % (size >> 10) if size < (1 << 20) else "%d MB" % (size >> 20)
            t.add("%s: Volt / `MPI_Allreduce` (Volt %s GB/s)" % (
                label, fmt(statistics.median(float(r[i]["volt_busbw_gbps"]) for r in reps), 2)),
                "bus bandwidth ratio", [float(r[i]["ratio"]) for r in reps], ">= 0.95")
        text = ("`volt_comm_allreduce` against a bare `MPI_Allreduce`, f32 sum, %d ranks%s; "
                "bus bandwidth 2(p-1)/p bytes/time." % (
                    ranks, " on %s cores (oversubscribed: latency-bound sizes suffer)" %
                    os.cpu_count() if ranks > (os.cpu_count() or 1) else ""))
        if memcpy:
            text += (" The physical limit on one node: `memcpy` within one process moves "
                     "%.1f GB/s (`bench_gemm_adamw`, out of cache)." % memcpy)
        sections.append(("All-reduce, %d ranks (`bench_comm`)" % ranks, text, t))
    return sections


def scaling_folders(folder):
    """bench_scaling's folders: scaling_np<P>, one per rank count; scaling in older runs
    (2 ranks, weak scaling only)."""
    names = [os.path.basename(p) for p in glob.glob(os.path.join(folder, "scaling_np*"))]
    names.sort(key=lambda n: int(n[len("scaling_np"):]))
    if os.path.isdir(os.path.join(folder, "scaling")):
        names.insert(0, "scaling")
    return names


def read_scaling(path):
    """bench_scaling's rows by configuration letter, and its `# key,value` lines."""
    rows = {r["configuration"].strip('"')[1]: r for r in read_rows(path)}
    notes = {}
    with open(path) as f:
        for line in f:
            if line.startswith("# "):
                key, _, value = line[2:].strip().partition(",")
                notes[key] = value
    return rows, notes


def scaling(folder):
    sections = []
    machine_cores = read_machine(folder).get("cores")
    for name in scaling_folders(folder):
        reps = [read_scaling(p) for p in rep_files(folder, name, "scaling.csv")]
        if not reps:
            continue
        first, notes = reps[0]
        world = int(notes.get("world_ranks", first["b"]["ranks"]))
        cores = int(notes.get("cores_per_node") or machine_cores or os.cpu_count() or 1)
        per_node = int(notes.get("ranks_per_node", world))
        oversubscribed = per_node > cores
        step = lambda rows, letter: float(rows[0][letter]["ms_per_step"])  # noqa: E731
        ratio = lambda a, b: [step(r, a) / step(r, b) for r in reps]  # noqa: E731
        where = "%d ranks on %d cores" % (per_node, cores)
        if oversubscribed:
            where = ("**oversubscribed: %s**, which take turns on the cores; these figures "
                     "measure time-sharing, not what %d cores would give" % (where, per_node))
        if "f" in first:
            common = ("The built-in MLP 784-256-10, AdamW, f32, 1 BLAS thread per rank, %s; "
                      "the 1-rank fits run while the other ranks sleep. (e) and (j), every "
                      "rank training alone at the same time, are what the machine allows "
                      "without any communication." % where)
        else:  # an older bench_scaling: weak scaling only
            common = ("The built-in MLP 784-256-10, AdamW, f32, 1 BLAS thread per rank, %s. "
                      "(e), every rank training alone at the same time, is what the machine "
                      "allows without any communication." % where)
        # the goals of issue 10 are for 2 ranks on their own cores
        goal = lambda text: text if world == 2 and not oversubscribed else ""  # noqa: E731

        t = Table()
        for letter in "abcde":
            t.add(first[letter]["configuration"].strip('"'), "ms/step",
                  [step(r, letter) for r in reps])
        t.add("**efficiency t(a)/t(b)**, DDP (default buckets)", "", ratio("a", "b"),
              goal(">= 0.90"))
        t.add("efficiency t(a)/t(c), DDP 0.25 MB buckets (overlap)", "", ratio("a", "c"))
        t.add("efficiency t(a)/t(d), ZeRO-1", "", ratio("a", "d"))
        t.add("overlap gain t(b)/t(c)", "", ratio("b", "c"))
        t.add("ZeRO-1 / DDP t(d)/t(b)", "", ratio("d", "b"), goal("<= 1.05"))
        t.add("the machine's own limit t(a)/t(e)", "", ratio("a", "e"))
        t.add("what communication costs on top t(e)/t(b)", "", ratio("e", "b"))
        state = lambda rows, letter: float(  # noqa: E731
            rows[0][letter]["optimizer_state_bytes_per_rank"])
        t.add("optimizer state per rank, ZeRO-1 / DDP", "",
              [state(r, "d") / state(r, "b") for r in reps], "1/%d" % world, digits=4)
        sections.append((
            "Weak scaling, %d ranks (`bench_scaling`)" % world,
            "Per-rank batch 128 (global 128 x %d) against 1 rank with batch 128; efficiency "
            "t(1)/t(%d). %s" % (world, world, common), t))

        if "f" not in first:
            continue  # an older bench_scaling: weak scaling only
        t = Table()
        for letter in "fghij":
            t.add(first[letter]["configuration"].strip('"'), "ms/step",
                  [step(r, letter) for r in reps])
        for letter, what in (("g", "DDP (default buckets)"), ("h", "DDP 0.25 MB buckets"),
                             ("i", "ZeRO-1"), ("j", "independent ranks: the machine's limit")):
            speedup = ratio("f", letter)
            t.add("speedup t(f)/t(%s), %s" % (letter, what), "", speedup)
            t.add("efficiency t(f)/(%d t(%s)), %s" % (world, letter, what), "",
                  [s / world for s in speedup])
        t.add("overlap gain t(g)/t(h)", "", ratio("g", "h"))
        t.add("ZeRO-1 / DDP t(i)/t(g)", "", ratio("i", "g"))
        t.add("what communication costs on top t(j)/t(g)", "", ratio("j", "g"))
        sections.append((
            "Strong scaling, %d ranks (`bench_scaling`)" % world,
            "Global batch 512: %d ranks with %d each against 1 rank with 512; speedup "
            "t(1)/t(%d), efficiency speedup/%d. %s An efficiency of (j) above 1 means a batch "
            "of %d costs less per sample than one of 512 (it fits the caches better), which "
            "lets strong scaling pass %d." % (
                world, 512 // world, world, world, common, 512 // world, world), t))
    return sections


def ckpt_io(folder):
    reps = [dict((r["what"], float(r["value"])) for r in read_rows(p))
            for p in rep_files(folder, "ckpt_io", "ckpt_io.csv")]
    if not reps:
        return None
    t = Table()
    gb = reps[0]["bytes"] / 1e9
    for key, label in (("write_dd_s", "write: `dd conv=fsync` over the same file"),
                       ("write_dd_new_file_s", "write: `dd` into a new file, then `mv`"),
                       ("write_ddp_s", "write: Volt, DDP"),
                       ("write_zero1_s", "write: Volt, ZeRO-1"),
                       ("read_dd_s", "read: `dd of=/dev/null`"),
                       ("read_volt_s", "read: Volt")):
        if key in reps[0]:
            t.add(label, "GB/s", [gb / r[key] for r in reps], digits=2)
    for key, label, goal in (("write_ratio_ddp", "write ratio, DDP (vs dd)", ">= 0.8"),
                             ("write_ratio_zero1", "write ratio, ZeRO-1 (vs dd)", ">= 0.8"),
                             ("read_ratio", "read ratio (vs dd)", ""),
                             ("demo_share", "the demo's checkpoint / epoch", "<= 0.01")):
        if key in reps[0]:
            t.add(label, "", [r[key] for r in reps], goal, digits=4)
    cold = "the page cache dropped before reads" if reps[0].get("reads_cold") else \
        "reads from the page cache (it could not be dropped)"
    return ("Checkpoint I/O (`bench_ckpt_io`, 2 ranks)",
            "A %.2f GB checkpoint (parameters and AdamW state); the program alternates its "
            "writers and readers 8 times and reports medians (one invocation); %s." % (gb, cold),
            t)


def tensor_parallel(folder):
    reps = [read_rows(p) for p in rep_files(folder, "tensor_parallel", "tensor_parallel.csv")]
    if not reps:
        return None
    t = Table()
    key = lambda r: (int(r.get("dp", 1)), int(r["tp"]), int(r["blas_threads"]))  # noqa: E731
    base = lambda rows: next(r for r in rows if key(r) == (1, 1, 1))  # noqa: E731
    for row in reps[0]:
        dp, tp, threads = key(row)
        label = "dp=%d, tp=%d, %d BLAS thread%s per rank" % (dp, tp, threads,
                                                            "" if threads == 1 else "s")
        pick = lambda rows: next(r for r in rows  # noqa: E731
                                 if key(r) == (dp, tp, threads))
        t.add(label + ": parameters per rank / tp=1", "",
              [float(pick(r)["params_per_rank"]) / float(base(r)["params_per_rank"])
               for r in reps], "1/tp for the split layers")
        t.add(label + ": peak resident memory per rank", "MB",
              [float(pick(r)["peak_rss_mb_max"]) for r in reps], digits=1)
        t.add(label + ": step time", "s", [float(pick(r)["seconds_per_step"]) for r in reps])
        t.add(label + ": communicated per rank and step", "MB",
              [float(pick(r)["comm_mb_per_step"]) for r in reps], digits=1)
    return ("Tensor parallelism (`bench/tensor_parallel.sh`)",
            "A GPT of 12 blocks, width 768, byte vocabulary, context 64 (85 M parameters), "
            "global batch 4. Each tp=T rank holds about 1/T of the parameters, gradients and "
            "AdamW state; the replicated layer norms, biases and position embeddings are the "
            "rest, and activations are not split. tp=2 and dp=2 use both cores of a 2-core "
            "machine, as does tp=1 on 2 BLAS threads; tp=4 oversubscribes the cores. Tensor "
            "parallelism sends two all-reduces of batch x context x width activations per "
            "block in each direction; data parallelism one all-reduce of all the gradients "
            "per step, and keeps the whole model on every rank.", t)


def torch_mlp(folder):
    path = os.path.join(folder, "torch_mlp", "epochs.csv")
    if not os.path.exists(path):
        return None
    rows = read_rows(path)
    by = {}
    for r in rows:
        by.setdefault(r["implementation"], {}).setdefault(int(r["rep"]), []).append(r)
    if "volt" not in by or "torch" not in by:
        return None
    reps = sorted(set(by["volt"]) & set(by["torch"]))
    per = {impl: {} for impl in ("volt", "torch")}
    for impl in per:
        for rep in reps:
            epochs = by[impl][rep]
            samples = sum(int(e["samples"]) for e in epochs)
            seconds = sum(float(e["epoch_s"]) for e in epochs)
            last = max(epochs, key=lambda e: int(e["epoch"]))
            per[impl][rep] = {
                "sps": samples / seconds,
                "acc": float(last["eval_acc"]), "loss": float(last["train_loss"]),
                "epochs": len(epochs), "split": last["eval_split"],
                "threads": last["threads"], "blas": last["blas"],
                **{phase: statistics.median(float(e[phase + "_ms"]) for e in epochs)
                   for phase in ("data", "forward", "backward", "optimizer")}}
    v, p = per["volt"], per["torch"]
    t = Table()
    t.add("Volt, training epoch", "samples/s", [v[r]["sps"] for r in reps], digits=0)
    t.add("PyTorch, training epoch", "samples/s", [p[r]["sps"] for r in reps], digits=0)
    t.add("**ratio, epoch**", "Volt / PyTorch", [v[r]["sps"] / p[r]["sps"] for r in reps],
          "**>= 1.5**", digits=2)
    for phase in ("forward", "backward", "optimizer", "data"):
        t.add("%s: Volt" % phase, "ms/step", [v[r][phase] for r in reps])
        t.add("%s: PyTorch" % phase, "ms/step", [p[r][phase] for r in reps])
        t.add("%s: ratio" % phase, "PyTorch / Volt time",
              [p[r][phase] / v[r][phase] for r in reps], digits=2)
    epochs = v[reps[0]]["epochs"]
    split = v[reps[0]]["split"]
    t.add("Volt, %s accuracy after %d epoch%s" % (split, epochs, "s" * (epochs > 1)), "",
          [v[r]["acc"] for r in reps], digits=4)
    t.add("PyTorch, %s accuracy after %d epoch%s" % (split, epochs, "s" * (epochs > 1)), "",
          [p[r]["acc"] for r in reps], digits=4)
    t.add("Volt, mean training loss of the last epoch", "", [v[r]["loss"] for r in reps],
          digits=4)
    t.add("PyTorch, mean training loss of the last epoch", "", [p[r]["loss"] for r in reps],
          digits=4)
    text = ("MLP 784-1024-1024-10 on Fashion-MNIST, batch 256, AdamW (lr 1e-3, weight decay "
            "1e-2), f32, %s threads each, OpenBLAS kernel %s for both (PyTorch: %s); "
            "`bench_mlp_epoch` and `bench/torch_mlp.py` started in turn, %d repetition%s, "
            "the order swapped each time. Samples/s: all samples of the epochs over the sum "
            "of the epochs' times (evaluation excluded); the phase times are medians per step. "
            "Different initial weights and sample orders (each library's own), the same "
            "hyper-parameters: the accuracies show the same training happened." % (
                v[reps[0]]["threads"], v[reps[0]]["blas"], p[reps[0]]["blas"], len(reps),
                "s" * (len(reps) > 1)))
    return ("Against PyTorch (`bench_mlp_epoch`, `bench/torch_mlp.py`)", text, t)


def size_label(size):
    return "%d KB" % (size >> 10) if size < (1 << 20) else "%d MB" % (size >> 20)


def multinode(folder):
    """bench/multinode.sh: bench_hier_comm per node count, the MLP's step times, and the
    alpha-beta fit of the flat all-reduce, each over the invocations."""
    base = os.path.join(folder, "multinode")
    if not os.path.isdir(base):
        return None
    notes = []
    for path in sorted(glob.glob(os.path.join(base, "rep*", "notes.txt"))):
        with open(path) as f:
            notes += [line.strip() for line in f if line.strip() not in notes and line.strip()]
    comm_reps = {}  # nodes -> [rows of one invocation]
    for path in sorted(glob.glob(os.path.join(base, "rep*", "hier_comm_*nodes.csv"))):
        rows = read_rows(path)
        if rows:
            comm_reps.setdefault(int(rows[0]["nodes"]), []).append(rows)
    steps = [dict(r, invocation=i)  # the pairs' rows, each marked with its invocation
             for i, p in enumerate(rep_files(folder, "multinode", "mlp_steps.csv"))
             for r in read_rows(p)]
    title = "Flat against hierarchical all-reduce on simulated nodes (`bench/multinode.sh`)"
    if not comm_reps:
        return (title, "Not run: %s" % ("; ".join(notes) or "no bench_hier_comm CSV in "
                                           "multinode/ (see its log.txt)"), None)
    machine_cores = int(read_machine(folder).get("cores") or os.cpu_count() or 1)
    t = Table()
    summary = []
    verdicts = []  # per node count: -1 hier slower, 1 faster, 0 unclear (sizes and MLP agree)
    for nodes in sorted(comm_reps):
        reps = comm_reps[nodes]
        first = reps[0]
        per_node = int(first[0]["ranks_per_node"])
        ranks = nodes * per_node
        ratios = []
        for i, row in enumerate(first):
            flat = statistics.median(float(r[i]["flat_busbw_gbps"]) for r in reps)
            hier = statistics.median(float(r[i]["hier_busbw_gbps"]) for r in reps)
            values = [float(r[i]["hier_over_flat"]) for r in reps]
            ratios.append(statistics.median(values))
            t.add("%d nodes, %s: hier / flat (flat %s, hier %s GB/s)" % (
                nodes, size_label(int(row["bytes"])), fmt(flat, 3), fmt(hier, 3)),
                "bus bandwidth ratio", values)
        fits = [fit_alpha_beta(ranks, {int(r["bytes"]): float(r["flat_median_us"]) * 1e-6
                                       for r in rows}) for rows in reps]
        t.add("%d nodes: alpha of the flat all-reduce (fit, p = %d)" % (nodes, ranks),
              "us per ring step", [f[0] * 1e6 for f in fits], digits=1)
        t.add("%d nodes: beta of the flat all-reduce (fit)" % nodes, "GB/s",
              [f[1] / 1e9 for f in fits])
        mine = [r for r in steps if int(r["nodes"]) == nodes]
        by = {h: [r for r in mine if r["hierarchical"] == h] for h in ("false", "true")}
        step = {h: [float(r["step_ms_median"]) for r in by[h]] for h in by}
        wait = {h: [float(r["allreduce_wait_ms_median"]) for r in by[h]] for h in by}
        pairs = [(f, h) for f in by["false"] for h in by["true"]
                 if (f["pair"], f["invocation"]) == (h["pair"], h["invocation"])]
        for h, label in (("false", "flat"), ("true", "hierarchical")):
            t.add("%d nodes: MLP step, strategy.hierarchical=%s" % (nodes, h), "ms/step",
                  step[h])
            t.add("%d nodes: of it, waiting for the gradient all-reduce (%s)" % (nodes, label),
                  "ms/step", wait[h])
        step_ratios = [float(h["step_ms_median"]) / float(f["step_ms_median"])
                       for f, h in pairs]
        t.add("%d nodes: MLP step, hierarchical / flat" % nodes, "step time ratio",
              step_ratios)
        faster = sum(1 for r in ratios if r > 1.02)
        slower = sum(1 for r in ratios if r < 0.98)
        line_rate = rate_words(first[0]["rate"])[1]
        best_flat = max(statistics.median(float(r[i]["flat_busbw_gbps"]) for r in reps)
                        for i in range(len(first)))
        mlp = statistics.median(step_ratios) if step_ratios else 1.0
        verdicts.append(-1 if slower > faster and mlp > 1.02 else
                        1 if faster > slower and mlp < 0.98 else 0)
        summary.append(
            "at %d nodes (%d ranks on %d cores%s) the two-level all-reduce was faster at %d "
            "of %d sizes and slower at %d (hier/flat bandwidth %.2f to %.2f), the flat one "
            "peaked at %.2f GB/s bus bandwidth%s, and the MLP step with "
            "strategy.hierarchical=true took %s the time of the flat one" % (
                nodes, ranks, machine_cores,
                ", oversubscribed" if ranks > machine_cores else "", faster, len(ratios),
                slower, min(ratios), max(ratios), best_flat,
                " (the link's line rate: %.2f GB/s)" % (line_rate / 1e9) if line_rate else "",
                "%.2fx" % statistics.median(step_ratios) if step_ratios else "(not measured)"))
    first = next(iter(comm_reps.values()))[0][0]
    rate, delay = first["rate"], first["delay"]
    text = ("`bench_hier_comm` times `volt_comm_allreduce` (flat) and `volt_hier_allreduce` "
            "(reduce-scatter in the node, all-reduce across nodes, all-gather in the node) in "
            "turn on the same buffer, f32 sum, the slowest rank per repetition, medians; bus "
            "bandwidth 2(p-1)/p bytes/time with p all the ranks, so hier/flat above 1 means "
            "the two-level one is faster. Then the MLP of `configs/fashion_mnist_mlp.yaml` "
            "(784-256-10, per-rank batch 64, gradients 0.81 MB in one bucket) is fitted with "
            "strategy.hierarchical false and true in turn, each step as long as its slowest "
            "rank, the median over the steps after the first 5. The nodes are "
            "`tests/cluster/vcluster`'s network namespaces on this one machine, joined by a "
            "bridge, each node's link shaped with tc to %s (a token bucket of 1 ms of "
            "traffic: a burst smaller than that after a pause leaves at the machine's speed), "
            "added delay: %s; every node's ranks, their shared-memory copies and the "
            "simulated network's packets share this machine's %d cores. The alpha and beta "
            "rows fit the flat all-reduce's times as `bench/scaling_model.py` fits "
            "bench_comm's (its assumptions show them next to the stated InfiniBand)." % (
                rate_words(rate)[0], delay, machine_cores))
    if notes:
        text += " Notes: " + "; ".join(notes) + "."
    text += "\n\nHere " + "; ".join(summary)
    if all(v == -1 for v in verdicts):
        text += (": on these simulated nodes the two-level all-reduce costs more than it "
                 "saves, at every node count measured.")
    elif all(v == 1 for v in verdicts):
        text += ": on these simulated nodes the two-level all-reduce pays off at every node "
        text += "count measured."
    else:
        text += (": no consistent winner over the sizes, node counts and the MLP step; the "
                 "min and max columns say how much of it is noise.")
    return (title, text, t)


# --- the report ----------------------------------------------------------------------------

def read_machine(folder):
    machine = {}
    path = os.path.join(folder, "machine.txt")
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                key, _, value = line.rstrip("\n").partition(": ")
                machine[key] = value
    return machine


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: report.py FOLDER REPORT.md")
    folder, report = sys.argv[1], sys.argv[2]
    machine = read_machine(folder)
    relative = os.path.relpath(folder, os.path.dirname(os.path.abspath(report)))
    out = ["# Benchmarks, %s" % machine.get("date", "(date unknown)"), ""]
    out.append("Written by `bench/run%s`. Each benchmark runs Volt and its reference in the "
               "same invocation (or, against PyTorch, in processes started in turn), "
               "alternating; median, min and max are over the invocations (n), each ratio from "
               "its own invocation's paired figures. CSVs, logs and plots: `%s/`." % (
                   " --quick" if machine.get("quick") == "1" else "", relative))
    out.append("")
    quality = []
    if machine.get("quick") == "1":
        quality.append("`--quick`: few steps and repetitions, a check that everything runs")
    try:
        cores = int(machine.get("cores", "0"))
        loads = [float(machine.get(k, "0").split()[0]) for k in ("load", "load_end")
                 if machine.get(k)]
        if cores and loads and max(loads) > 0.5 * cores:
            quality.append("the machine was busy with other work (load average %s on %d "
                           "cores)" % (" -> ".join("%.1f" % x for x in loads), cores))
    except ValueError:
        pass
    if quality:
        out.append("**Development-quality figures**: %s." % "; ".join(quality))
        out.append("")
    out.append("## The machine\n")
    out.append("| | |\n|---|---|")
    labels = (("cpu", "CPU"), ("cores", "cores"), ("memory", "memory"),
              ("blas", "BLAS and its kernel"), ("openblas_coretype", "OPENBLAS_CORETYPE"),
              ("threads", "threads"), ("mpi", "MPI"), ("hdf5", "HDF5"),
              ("compiler", "compiler"), ("build", "build type"), ("torch", "PyTorch"),
              ("gpu", "GPU"), ("commit", "commit"),
              ("load", "load average (1, 5, 15 min) at the start"),
              ("load_end", "load average at the end"), ("reps", "invocations per benchmark"))
    for key, label in labels:
        if key in machine:
            out.append("| %s | %s |" % (label, machine[key]))
    out.append("")
    notes_path = os.path.join(folder, "notes.txt")
    if os.path.exists(notes_path):
        with open(notes_path) as f:
            notes = [line.strip() for line in f if line.strip()]
        if notes:
            out.append("Notes from this run:\n")
            out.extend("- %s" % n for n in notes)
            out.append("")

    sections = []
    for part in (torch_mlp, gemm_adamw, mlp_step, trainer_overhead, comm, scaling, ckpt_io,
                 tensor_parallel, multinode):
        result = part(folder)
        if isinstance(result, list):
            sections.extend(result)
        elif result:
            sections.append(result)
    for title, text, table in sections:
        out.append("## %s\n" % title)
        out.append(text + "\n")
        if table:
            out.append(table.markdown())
            out.append("")
    for png, caption in (("torch_mlp.png", "Volt against PyTorch"),
                         ("summary.png", "GEMM, AdamW and the MLP step"),
                         ("comm.png", "all-reduce bus bandwidth"),
                         ("scaling.png", "data-parallel scaling, weak and strong")):
        if os.path.exists(os.path.join(folder, png)):
            out.append("![%s](%s/%s)\n" % (caption, relative, png))

    model_dir = os.path.join(folder, "scaling_model", "rep1")
    model_md = os.path.join(model_dir, "scaling_model.md")
    if os.path.exists(model_md):
        out.append("## Scaling model (`bench/scaling_model.py`)\n")
        out.append("Projected from this machine's measurements onto a stated cluster: where "
                   "DDP and ZeRO-1 stop scaling.\n")
        with open(model_md) as f:
            out.append(f.read().replace("### ", "### "))
        if os.path.exists(os.path.join(model_dir, "scaling_model.png")):
            out.append("![scaling model](%s/scaling_model/rep1/scaling_model.png)\n" % relative)

    out.append("## GPU\n")
    gpu = machine.get("gpu", "none: GPU section not run")
    if gpu.startswith("none"):
        out.append("Not run: `nvidia-smi` found no NVIDIA GPU on this machine.\n")
    else:
        out.append("GPU found: %s. No GPU benchmark exists in `bench/` yet (the CUDA "
                   "issue's benchmarks), so none ran.\n" % gpu)
    with open(report, "w") as f:
        f.write("\n".join(out))
    print("wrote %s" % report)


if __name__ == "__main__":
    main()
