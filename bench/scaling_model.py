#!/usr/bin/env python3
"""bench/scaling_model.py — where data parallelism stops scaling: an alpha-beta model.

Ring all-reduce of n bytes over p ranks: each rank sends and receives 2 (p - 1) / p * n
bytes in 2 (p - 1) steps, so

    t_allreduce(n, p) = 2 (p - 1) / p * n / beta + 2 (p - 1) * alpha

(reduce-scatter and all-gather are each half of it). alpha (seconds per step) and beta
(bytes per second) are fitted to bench_comm's all-reduce times on this machine, one fit
per rank count, by least squares on the relative error.

A data-parallel step (weak scaling: the per-rank batch is fixed) is modelled as
    forward (1/3 of the compute) + backward (2/3)
    + exposed communication + optimizer
DDP (Volt's lib/dist/ddp.c): gradients in buckets of bucket_mb, each all-reduced as soon as
backward has produced it (buckets become ready evenly through backward, one after the
other on one channel); what is still running when backward ends is exposed; the rest is
overlapped. The optimizer updates every parameter on every rank.
ZeRO-1 (Volt's lib/dist/zero.c): after backward, a reduce-scatter of the gradients, the
optimizer on this rank's 1/p shard, an all-gather of the parameters; none overlapped.
Efficiency = t_step(1 rank) / t_step(p ranks).

Two models are projected from 2 to 1024 GPUs on a stated network (--help lists the
knobs): 8 GPUs per node on NVLink, nodes on InfiniBand, the all-reduce hierarchical
(reduce-scatter inside the node, an all-reduce of each GPU's 1/8 across nodes on its own
rail, all-gather inside the node):
  * the MLP of bench_scaling (784-256-10, per-rank batch 128), its compute the measured
    1-rank step of this machine (bench_scaling's configuration (a));
  * GPT-2-small, its compute from a stated flop count and a stated sustained TFLOP/s.
On this machine the model is checked against bench_scaling's DDP and ZeRO-1 steps (weak
scaling) at each rank count that bench_comm measured too.

--network-csv takes bench_hier_comm's CSVs (bench/multinode.sh: simulated nodes of
tests/cluster/vcluster on this one machine, links shaped with tc) and fits alpha and beta
to their flat all-reduce times in the same way, p being all the ranks; the assumptions
then show that link next to the stated InfiniBand one. The projection keeps the stated
network.

    scaling_model.py --out DIR [--comm comm.csv ...] [--scaling scaling.csv ...]
                     [--network-csv hier_comm.csv ...] [--no-plot]
                     [network and model knobs, see --help]
Writes DIR/scaling_model.md (assumptions, calibration, check, projection),
DIR/scaling_model.csv, DIR/network_fit.csv (with --network-csv: one row per cluster
shape) and DIR/scaling_model.png (matplotlib; --no-plot without it).
"""
import argparse
import csv
import math
import os
import statistics

MB = 1 << 20


def read_rows(path):
    with open(path, newline="") as f:
        return [r for r in csv.DictReader(line for line in f if not line.startswith("#"))]


# --- calibration on this machine ------------------------------------------------------------

def allreduce_times(comm_csvs):
    """{ranks: {bytes: median seconds over the files}} from bench_comm's bus bandwidths."""
    samples = {}
    for path in comm_csvs:
        for row in read_rows(path):
            p, n = int(row["ranks"]), int(row["bytes"])
            factor = 2.0 * (p - 1) / p
            seconds = factor * n / (float(row["volt_busbw_gbps"]) * 1e9)
            samples.setdefault(p, {}).setdefault(n, []).append(seconds)
    return {p: {n: statistics.median(v) for n, v in sorted(by_n.items())}
            for p, by_n in samples.items()}


def fit_alpha_beta(p, times):
    """alpha, beta minimising sum(((a + b n) / t - 1)^2) with a = 2(p-1) alpha and
    b = 2(p-1)/(p beta): a linear least-squares problem in (a, b)."""
    # normal equations of the weighted problem: weights 1/t^2
    s00 = s01 = s11 = r0 = r1 = 0.0
    for n, t in times.items():
        w = 1.0 / (t * t)
        s00 += w
        s01 += w * n
        s11 += w * n * n
        r0 += w * t
        r1 += w * n * t
    det = s00 * s11 - s01 * s01
    a = (r0 * s11 - r1 * s01) / det
    b = (s00 * r1 - s01 * r0) / det
    a = max(a, 0.0)
    alpha = a / (2 * (p - 1))
    beta = 2.0 * (p - 1) / p / b
    errors = {n: (a + b * n) / t - 1 for n, t in times.items()}
    return alpha, beta, errors


def network_fits(hier_comm_csvs):
    """alpha-beta of the flat all-reduce on simulated nodes, one fit per cluster shape:
    {(nodes, ranks_per_node, rate, delay): (alpha, beta, errors)}; each size's time is the
    median over the files of bench_hier_comm's medians; p = nodes x ranks_per_node."""
    samples = {}
    for path in hier_comm_csvs:
        for row in read_rows(path):
            key = (int(row["nodes"]), int(row["ranks_per_node"]), row["rate"], row["delay"])
            samples.setdefault(key, {}).setdefault(int(row["bytes"]), []).append(
                float(row["flat_median_us"]) * 1e-6)
    return {key: fit_alpha_beta(key[0] * key[1],
                                {n: statistics.median(v) for n, v in sorted(by_n.items())})
            for key, by_n in sorted(samples.items()) if key[0] * key[1] > 1}


def rate_words(rate):
    """tc's rate (10gbit) as a reader writes it (10 Gbit/s), and in bytes per second."""
    units = {"bit": ("bit/s", 1), "kbit": ("kbit/s", 1e3), "mbit": ("Mbit/s", 1e6),
             "gbit": ("Gbit/s", 1e9), "tbit": ("Tbit/s", 1e12)}
    number = rate.rstrip("abcdefghijklmnopqrstuvwxyz")
    unit = units.get(rate[len(number):])
    if not number or not unit:
        return rate, None
    return "%s %s" % (number, unit[0]), float(number) * unit[1] / 8


def network_summary(fits):
    """The assumptions' row of the simulated link: (label, text)."""
    rates = sorted({key[2] for key in fits})
    delays = sorted({key[3] for key in fits})
    label = "between nodes, measured on simulated nodes (%s shaped veth, one machine)" % (
        ", ".join(rate_words(r)[0] for r in rates))
    parts = []
    for (nodes, per_node, rate, delay), (alpha, beta, errors) in sorted(fits.items()):
        parts.append("%d nodes x %d ranks: alpha %.1f us per ring step, beta %.2f GB/s "
                     "(fit error %+.0f%% to %+.0f%%)" % (
                         nodes, per_node, alpha * 1e6, beta / 1e9, 100 * min(errors.values()),
                         100 * max(errors.values())))
    line_rates = [rate_words(r) for r in rates]
    text = ("%s; fitted to bench_hier_comm's flat all-reduce (p = all the ranks) on "
            "tests/cluster/vcluster's network namespaces, every node on this machine's cores; "
            "line rate %s; added delay: %s" % (
                "; ".join(parts),
                ", ".join("%.2f GB/s" % (b / 1e9) for _, b in line_rates if b) or "?",
                ", ".join("none (not asked for, or tc's netem missing)" if d == "none"
                          else d for d in delays)))
    return label, text


def interpolate(times, n):
    """Measured all-reduce time at n bytes, log-log between the two nearest sizes."""
    sizes = sorted(times)
    if n <= sizes[0]:
        return times[sizes[0]]
    for lo, hi in zip(sizes, sizes[1:]):
        if lo <= n <= hi:
            f = math.log(n / lo) / math.log(hi / lo)
            return math.exp(math.log(times[lo]) * (1 - f) + math.log(times[hi]) * f)
    return times[sizes[-1]] * n / sizes[-1]


def scaling_measurements(scaling_csvs):
    """Medians over the files of bench_scaling's ms/step, by the invocation's rank count
    and configuration letter ({P: {letter: seconds}}), the model's parameter count (from
    DDP's AdamW state: 8 bytes per element) and the weak-scaling per-rank batch. Files
    without world_ranks (bench_scaling before it ran at any rank count) are 2 ranks."""
    steps, numel, batch = {}, None, None
    for path in scaling_csvs:
        rows = read_rows(path)
        world = max(int(r.get("world_ranks") or r["ranks"]) for r in rows)
        for row in rows:
            letter = row["configuration"].strip('"')[1]
            steps.setdefault(world, {}).setdefault(letter, []).append(
                float(row["ms_per_step"]) * 1e-3)
            if row["strategy"] != "zero1":
                numel = int(row["optimizer_state_bytes_per_rank"]) // 8
            if letter == "a":
                batch = round(float(row["samples_per_s"]) * float(row["ms_per_step"]) * 1e-3)
    return ({p: {k: statistics.median(v) for k, v in by_letter.items()}
             for p, by_letter in steps.items()}, numel, batch)


# --- the network and the step ---------------------------------------------------------------

class Network:
    """Ring collectives: flat over NVLink inside a node, hierarchical across nodes."""

    def __init__(self, name, gpus_per_node, nvlink_bw, alpha_nvlink, nic_bw, nics_per_node,
                 alpha_ib):
        self.name = name
        self.g = gpus_per_node
        self.nvlink_bw = nvlink_bw
        self.alpha_nvlink = alpha_nvlink
        self.rail_bw = nic_bw * nics_per_node / gpus_per_node  # inter-node, per GPU
        self.alpha_ib = alpha_ib

    def _ring(self, n, p, bw, alpha, half):
        if p <= 1:
            return 0.0
        steps = (p - 1) * (1 if half else 2)
        return steps / p * n / bw + steps * alpha

    def collective(self, n, p, half=False):
        """All-reduce of n bytes over p GPUs; half=True: reduce-scatter (or all-gather)."""
        if p <= self.g:
            return self._ring(n, p, self.nvlink_bw, self.alpha_nvlink, half)
        nodes = p // self.g
        inside = self._ring(n, self.g, self.nvlink_bw, self.alpha_nvlink, True)
        across = self._ring(n / self.g, nodes, self.rail_bw, self.alpha_ib, half)
        return inside * (1 if half else 2) + across


class MeasuredNetwork:
    """This machine: one alpha-beta fit per rank count measured."""

    def __init__(self, fits):
        self.name = "this machine"
        self.fits = fits

    def collective(self, n, p, half=False):
        alpha, beta = self.fits[p][:2]
        steps = (p - 1) * (1 if half else 2)
        return steps / p * n / beta + steps * alpha


def ddp_step(compute, optimizer, grad_bytes, p, network, bucket_bytes):
    """(step, exposed, overlapped) seconds of a DDP step with bucketed all-reduce."""
    forward, backward = compute / 3, compute * 2 / 3
    if p == 1:
        return compute + optimizer, 0.0, 0.0
    buckets = max(1, math.ceil(grad_bytes / bucket_bytes))
    end = forward
    total = 0.0
    for i in range(1, buckets + 1):
        size = min(bucket_bytes, grad_bytes - (i - 1) * bucket_bytes)
        ready = forward + backward * i / buckets
        t = network.collective(size, p)
        end = max(ready, end) + t
        total += t
    exposed = max(0.0, end - (forward + backward))
    return compute + exposed + optimizer, exposed, total - exposed


def zero1_step(compute, optimizer, grad_bytes, param_bytes, p, network):
    """(step, exposed, overlapped) of Volt's ZeRO-1: reduce-scatter, shard update,
    all-gather, none overlapped with compute."""
    if p == 1:
        return compute + optimizer, 0.0, 0.0
    exposed = network.collective(grad_bytes, p, half=True) + \
        network.collective(param_bytes, p, half=True)
    return compute + exposed + optimizer / p, exposed, 0.0


# --- main -----------------------------------------------------------------------------------

def first_below(rows, threshold):
    for r in rows:
        if r["efficiency"] < threshold:
            return r["gpus"]
    return None


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--comm", nargs="+", default=[os.path.join(here, "results", "comm.csv")])
    ap.add_argument("--scaling", nargs="+",
                    default=[os.path.join(here, "results", "scaling.csv")])
    ap.add_argument("--network-csv", nargs="+", default=[],
                    help="bench_hier_comm's CSVs from simulated nodes (bench/multinode.sh)")
    ap.add_argument("--no-plot", action="store_true")
    ap.add_argument("--gpus-per-node", type=int, default=8)
    ap.add_argument("--nvlink-gbs", type=float, default=450.0,
                    help="NVLink bandwidth per GPU and direction, GB/s (H100 SXM: 450)")
    ap.add_argument("--ib-gbits", type=float, default=200.0, help="one NIC, Gb/s")
    ap.add_argument("--alpha-ib-us", type=float, default=5.0,
                    help="latency of one inter-node ring step, us")
    ap.add_argument("--alpha-nvlink-us", type=float, default=2.0,
                    help="latency of one NVLink ring step, us")
    ap.add_argument("--bucket-mb", type=float, default=25.0)
    ap.add_argument("--gpt-params", type=float, default=124.44e6)
    ap.add_argument("--gpt-tokens", type=int, default=8 * 1024,
                    help="tokens per GPU and step (8 sequences of 1024)")
    ap.add_argument("--h100-tflops", type=float, default=400.0,
                    help="sustained bf16 TFLOP/s of one H100 on GPT-2-small")
    ap.add_argument("--hbm-tbs", type=float, default=2.0,
                    help="sustained HBM TB/s for the optimizer's memory traffic")
    ap.add_argument("--max-gpus", type=int, default=1024)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)

    # calibration
    times = allreduce_times(args.comm)
    fits = {p: fit_alpha_beta(p, t) for p, t in times.items() if p > 1}
    if not fits:
        raise SystemExit("scaling_model.py: no all-reduce times with more than one rank in %s"
                         % " ".join(args.comm))
    measured_links = network_fits(args.network_csv)
    steps_by_ranks, numel, batch = scaling_measurements(args.scaling)
    # the 1-rank step (a) from the 2-rank invocation (its other rank has a core of its own)
    steps = steps_by_ranks.get(2) or steps_by_ranks[min(steps_by_ranks)]
    p_here = min(fits)
    alpha_here = fits[p_here][0]

    # the MLP: compute as measured; optimizer from AdamW's 28 bytes per element of traffic
    # at the memory speed bench_gemm_adamw measures out of cache (about 35 GB/s here)
    mlp_grad_bytes = 4 * numel
    mlp_opt = 28 * numel / 35e9
    mlp_compute = steps["a"] - mlp_opt
    # GPT-2-small: 6 N flops per token (forward 2N, backward 4N) plus attention's
    # 12 L T d per token (L 12 layers, T 1024, d 768)
    gpt_flops = (6 * args.gpt_params + 12 * 12 * 1024 * 768) * args.gpt_tokens
    gpt_compute = gpt_flops / (args.h100_tflops * 1e12)
    gpt_grad_bytes = 4 * args.gpt_params  # f32 gradients (DDP keeps them in f32 under AMP)
    gpt_opt = 28 * args.gpt_params / (args.hbm_tbs * 1e12)

    alpha_nvlink = args.alpha_nvlink_us * 1e-6
    nic = args.ib_gbits / 8 * 1e9
    networks = [
        Network("1 NIC per GPU", args.gpus_per_node, args.nvlink_gbs * 1e9, alpha_nvlink,
                nic, args.gpus_per_node, args.alpha_ib_us * 1e-6),
        Network("1 NIC per node", args.gpus_per_node, args.nvlink_gbs * 1e9, alpha_nvlink,
                nic, 1, args.alpha_ib_us * 1e-6),
    ]
    models = [("MLP 784-256-10", mlp_compute, mlp_opt, mlp_grad_bytes),
              ("GPT-2-small", gpt_compute, gpt_opt, gpt_grad_bytes)]
    bucket = args.bucket_mb * MB
    gpus = [2 ** k for k in range(0, int(math.log2(args.max_gpus)) + 1)]
    rows = []
    for model, compute, opt, grad_bytes in models:
        for net in networks:
            for strategy in ("ddp", "zero1"):
                base = None
                for p in gpus:
                    if strategy == "ddp":
                        step, exposed, hidden = ddp_step(compute, opt, grad_bytes, p, net, bucket)
                    else:
                        step, exposed, hidden = zero1_step(compute, opt, grad_bytes, grad_bytes,
                                                           p, net)
                    base = base or step
                    rows.append({"model": model, "network": net.name, "strategy": strategy,
                                 "gpus": p, "step_ms": step * 1e3, "compute_ms": compute * 1e3,
                                 "exposed_comm_ms": exposed * 1e3,
                                 "overlapped_comm_ms": hidden * 1e3,
                                 "optimizer_ms": (opt / p if strategy == "zero1" else opt) * 1e3,
                                 "efficiency": base / step})

    # the check on this machine at each rank count measured by both bench_comm and
    # bench_scaling: compute as the machine allows P busy ranks (e)
    here_net = MeasuredNetwork(fits)
    check = []
    for p, measured in sorted(steps_by_ranks.items()):
        if p not in fits or not all(k in measured for k in "bde"):
            continue
        compute_p = measured["e"] - mlp_opt
        one_bucket = MB * 25
        ddp_p = ddp_step(compute_p, mlp_opt, mlp_grad_bytes, p, here_net, one_bucket)[0]
        measured_ar = interpolate(times[p], mlp_grad_bytes)
        ddp_p_measured_ar = compute_p + mlp_opt + measured_ar
        zero_p = zero1_step(compute_p, mlp_opt, mlp_grad_bytes, mlp_grad_bytes, p,
                            here_net)[0]
        check += [("DDP, %d ranks, one bucket (b)" % p, measured["b"], ddp_p,
                   ddp_p_measured_ar),
                  ("ZeRO-1, %d ranks (d)" % p, measured["d"], zero_p, None)]

    if measured_links:
        with open(os.path.join(args.out, "network_fit.csv"), "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["nodes", "ranks_per_node", "rate", "delay", "alpha_us", "beta_gbps",
                        "fit_error_min", "fit_error_max"])
            for (nodes, per_node, rate, delay), (alpha, beta, errors) in measured_links.items():
                w.writerow([nodes, per_node, rate, delay, round(alpha * 1e6, 3),
                            round(beta / 1e9, 4), round(min(errors.values()), 4),
                            round(max(errors.values()), 4)])

    with open(os.path.join(args.out, "scaling_model.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        for r in rows:
            w.writerow({k: (round(v, 5) if isinstance(v, float) else v) for k, v in r.items()})

    md = []
    md.append("### Assumptions\n")
    md.append("| what | value |\n|---|---|")
    md.append("| all-reduce | ring, 2(p-1)/p n/beta + 2(p-1) alpha; hierarchical above one "
              "node: reduce-scatter in the node, all-reduce of n/%d across nodes on each "
              "GPU's rail, all-gather in the node |" % args.gpus_per_node)
    md.append("| node | %d GPUs, NVLink %.0f GB/s per GPU and direction, alpha %.1f us per "
              "ring step (stated: the %.2f us fitted here is MPI over shared memory between "
              "two CPU processes, a lower bound for a step between GPUs) |"
              % (args.gpus_per_node, args.nvlink_gbs, alpha_nvlink * 1e6, alpha_here * 1e6))
    md.append("| between nodes | InfiniBand %.0f Gb/s per NIC, alpha %.1f us per ring step; "
              "either 1 NIC per GPU (%.1f GB/s per GPU) or 1 NIC per node (%.2f GB/s per "
              "GPU) |" % (args.ib_gbits, args.alpha_ib_us, nic / 1e9,
                         nic / args.gpus_per_node / 1e9))
    if measured_links:
        md.append("| %s | %s |" % network_summary(measured_links))
    md.append("| DDP | buckets of %.0f MB all-reduced as backward produces them (backward = 2/3 "
              "of compute, buckets ready evenly through it), one channel; optimizer on every "
              "rank |" % args.bucket_mb)
    md.append("| ZeRO-1 | reduce-scatter of the gradients after backward, optimizer on 1/p, "
              "all-gather of the f32 parameters; nothing overlapped (as lib/dist/zero.c) |")
    md.append("| MLP 784-256-10 | %d parameters, per-rank batch %s, gradients f32 (%.2f MB); "
              "compute %.3f ms per step = bench_scaling's 1-rank step (a) minus the "
              "optimizer (%.3f ms: 28 B per parameter at 35 GB/s), measured on this "
              "machine's CPU: a GPU computes it far faster, which only raises communication's "
              "share, so these efficiencies are an upper bound |"
              % (numel, batch, mlp_grad_bytes / 1e6, mlp_compute * 1e3, mlp_opt * 1e3))
    md.append("| GPT-2-small | %.1f M parameters, %d tokens per GPU and step (8 x 1024), "
              "%.2f TFLOP per step (6 N per token + attention 12 L T d per token), "
              "**assumed %.0f TFLOP/s sustained on an H100** (bf16, about 40%% of its dense "
              "peak): %.1f ms compute; gradients f32 (%.0f MB); AdamW 28 B per parameter at "
              "%.1f TB/s: %.2f ms |"
              % (args.gpt_params / 1e6, args.gpt_tokens, gpt_flops / 1e12, args.h100_tflops,
                 gpt_compute * 1e3, gpt_grad_bytes / 1e6, args.hbm_tbs, gpt_opt * 1e3))
    md.append("| not modelled | NCCL's tree algorithms (lower latency than a ring at many "
              "nodes: the ring's 2(p-1) alpha makes large p pessimistic for small buckets), "
              "congestion, stragglers, overlap of ZeRO-1's all-gather with the next forward, "
              "gradient accumulation (fewer all-reduces per sample). ZeRO-1's efficiency "
              "can pass 1: each rank updates only 1/p of the parameters |")
    md.append("")
    md.append("### Calibration on this machine (bench_comm, Volt's all-reduce)\n")
    md.append("| ranks | alpha (us) | beta (GB/s) | fit error over sizes |\n|---|---|---|---|")
    for p, (alpha, beta, errors) in sorted(fits.items()):
        md.append("| %d | %.2f | %.2f | %+.0f%% to %+.0f%% |" % (
            p, alpha * 1e6, beta / 1e9, 100 * min(errors.values()),
            100 * max(errors.values())))
    md.append("\nOne beta cannot follow both in-cache (about 1 MB) and out-of-cache (64 MB and "
              "up) copies on one machine; the fit errors say by how much it misses.\n")
    if check:
        md.append("Check against bench_scaling's weak scaling (compute = P independent "
                  "ranks' step (e), which includes what the ranks cost each other; more "
                  "ranks than cores take turns on them):\n")
        md.append("| step | measured ms | model ms (alpha-beta) | model ms (measured "
                  "all-reduce) |\n|---|---|---|---|")
        for label, measured, model, with_measured in check:
            md.append("| %s | %.3f | %.3f (%+.0f%%) | %s |" % (
                label, measured * 1e3, model * 1e3, 100 * (model / measured - 1),
                "%.3f (%+.0f%%)" % (with_measured * 1e3, 100 * (with_measured / measured - 1))
                if with_measured else "-"))
        md.append("")
    md.append("### Projection (weak scaling, efficiency = t(1 GPU) / t(p GPUs))\n")
    shown = [p for p in gpus if p in (2, 8, 16, 64, 256, 1024)]
    md.append("| model | network | strategy | " +
              " | ".join("%d GPUs" % p for p in shown) + " | eff. < 0.9 from | < 0.5 from |")
    md.append("|---|---|---|" + "---|" * (len(shown) + 2))
    for model, _, _, _ in models:
        for net in networks:
            for strategy in ("ddp", "zero1"):
                sel = [r for r in rows if r["model"] == model and r["network"] == net.name
                       and r["strategy"] == strategy]
                by_p = {r["gpus"]: r for r in sel}
                cells = ["%.3f ms, %.2f" % (by_p[p]["step_ms"], by_p[p]["efficiency"])
                         for p in shown]
                f90, f50 = first_below(sel, 0.9), first_below(sel, 0.5)
                md.append("| %s | %s | %s | %s | %s | %s |" % (
                    model, net.name, "DDP" if strategy == "ddp" else "ZeRO-1",
                    " | ".join(cells), f90 or "never", f50 or "never"))
    md.append("")
    with open(os.path.join(args.out, "scaling_model.md"), "w") as f:
        f.write("\n".join(md))
    print("\n".join(md))

    if not args.no_plot:
        plot(rows, models, networks, os.path.join(args.out, "scaling_model.png"))


def plot(rows, models, networks, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker
    fig, axes = plt.subplots(2, len(models), figsize=(12, 8.5), sharex=True)
    styles = {networks[0].name: "-", networks[1].name: "--"}
    colors = {"ddp": "C0", "zero1": "C3"}
    for column, (model, _, _, _) in enumerate(models):
        for net in networks:
            for strategy in ("ddp", "zero1"):
                sel = [r for r in rows if r["model"] == model and r["network"] == net.name
                       and r["strategy"] == strategy]
                label = "%s, %s" % ("DDP" if strategy == "ddp" else "ZeRO-1", net.name)
                x = [r["gpus"] for r in sel]
                axes[0][column].plot(x, [r["efficiency"] for r in sel], styles[net.name],
                                     color=colors[strategy], marker="o", ms=3, label=label)
                axes[1][column].plot(x, [r["step_ms"] for r in sel], styles[net.name],
                                     color=colors[strategy], marker="o", ms=3, label=label)
        compute = next(r["compute_ms"] for r in rows if r["model"] == model)
        axes[1][column].axhline(compute, color="grey", lw=0.8, label="compute alone")
        axes[0][column].axhline(0.9, color="grey", lw=0.6, ls=":")
        axes[0][column].set_title("%s: efficiency" % model)
        top = max(r["efficiency"] for r in rows if r["model"] == model)
        axes[0][column].set_ylim(0, max(1.05, top + 0.05))
        axes[1][column].set_title("%s: step time" % model)
        axes[1][column].set_ylabel("ms per step")
        axes[1][column].set_yscale("log")
        axes[1][column].yaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
        axes[1][column].yaxis.set_minor_formatter(matplotlib.ticker.ScalarFormatter())
        axes[1][column].set_xlabel("GPUs (8 per node)")
        for row in axes:
            row[column].set_xscale("log", base=2)
            row[column].grid(alpha=0.3)
        axes[0][column].legend(fontsize=7)
    fig.suptitle("Data parallelism, alpha-beta model (bench/scaling_model.py; assumptions "
                 "in scaling_model.md)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    print("wrote %s" % path)


if __name__ == "__main__":
    main()
