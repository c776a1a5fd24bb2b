#!/usr/bin/env python3
"""bench/trace_steps.py — per-step times of one volt-train fit from its profiler traces.

    trace_steps.py RUN_FOLDER [--skip N]

RUN_FOLDER holds trace_rank<r>.json (volt-train ... --trainer.profiler=simple
--profiler.trace=true). The k-th train_batch region of every rank is step k; a step takes
as long as its slowest rank. After the first N steps (5: start-up, first connections),
prints one CSV line without a header: steps measured, the median step (train_batch: forward,
backward, the gradient all-reduce's wait, optimizer) in ms, its min and max, and the median
of the slowest rank's grad_allreduce_wait in ms. Standard library only.
"""
import argparse
import glob
import json
import os
import statistics
import sys


def durations(path, name):
    with open(path) as f:
        events = json.load(f)["traceEvents"]
    spans = [e for e in events if e.get("name") == name and e.get("ph") == "X"]
    spans.sort(key=lambda e: e["ts"])
    return [e["dur"] * 1e-3 for e in spans]  # the trace's microseconds, in ms


def slowest(per_rank, skip):
    steps = min(len(d) for d in per_rank)
    return [max(d[k] for d in per_rank) for k in range(skip, steps)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run_folder")
    ap.add_argument("--skip", type=int, default=5)
    args = ap.parse_args()
    paths = glob.glob(os.path.join(args.run_folder, "trace_rank*.json"))
    if not paths:
        sys.exit("trace_steps.py: no trace_rank*.json in %s" % args.run_folder)
    steps = slowest([durations(p, "train_batch") for p in paths], args.skip)
    waits = slowest([durations(p, "grad_allreduce_wait") for p in paths], args.skip)
    if not steps:
        sys.exit("trace_steps.py: no step after the first %d in %s" % (args.skip,
                                                                         args.run_folder))
    print("%d,%.4f,%.4f,%.4f,%.4f" % (len(steps), statistics.median(steps), min(steps),
                                      max(steps), statistics.median(waits) if waits else 0.0))


if __name__ == "__main__":
    main()
