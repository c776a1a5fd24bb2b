#!/usr/bin/env python3
"""tests/tensorboard/read_events.py DIR [--expected FILE] — reads a folder of event files
with the tensorboard package's own readers and checks it against an answer key.

The key (default DIR/expected.json, as tests/tensorboard/write_events.c writes it):
    {"scalars": {tag: [[step, value, wall_time], ...]},   every point, in written order
     "hparams": {name: number | string | bool},            in written order
     "metrics": [tag, ...], "hparams_wall_time": t, "files": n}
JSON numbers may be NaN, Infinity, -Infinity (as Python's json module reads them).

Read twice, as TensorBoard does:
  - event_accumulator.EventAccumulator (the classic reader): Scalars(tag) for every tag,
    with no sampling (size guidance 0), and the "hparams" plugin's summary contents;
  - plugin_event_accumulator.EventAccumulator (what TensorBoard's dashboards are served
    from): simple_value migrated to scalar-plugin tensors.
A point matches when its step and wall_time are equal and its value is the expected
double rounded to float32 (NaN for NaN; the sign of a zero kept). Hyperparameters match
in name, kind and value; the experiment lists them in order with their types, and the
metric tags. Exit 0 when everything matches, 1 otherwise (the first mismatches printed).
"""
import argparse
import glob
import json
import math
import os
import sys

import numpy as np

from tensorboard import version as tb_version
from tensorboard.backend.event_processing import event_accumulator, plugin_event_accumulator
from tensorboard.plugins.hparams import api_pb2
from tensorboard.plugins.hparams import metadata as hparams_metadata
from tensorboard.util import tensor_util

MAX_REPORTED = 20


class Mismatches:
    def __init__(self):
        self.count = 0

    def __call__(self, text):
        self.count += 1
        if self.count <= MAX_REPORTED:
            print("MISMATCH", text)


def short(tags):
    """A few tags for a message, long ones cut."""
    return [tag if len(tag) <= 40 else tag[:37] + "..." for tag in sorted(tags)[:5]]


def as_float32(value):
    with np.errstate(over="ignore"):
        return float(np.float32(value))


def same_value(got, expected):
    """got (read back) against expected (a double the writer rounded to float32)."""
    want = as_float32(expected)
    if math.isnan(want):
        return math.isnan(got)
    return got == want and math.copysign(1, got) == math.copysign(1, want)


def check_points(reader_name, tag, points, expected, mismatch):
    """points: (step, value, wall_time) as read."""
    if len(points) != len(expected):
        mismatch(f"{reader_name}: tag {short([tag])[0]!r}: {len(points)} points, expected {len(expected)}")
        return
    for i, ((step, value, wall_time), (want_step, want_value, want_wall_time)) in enumerate(
        zip(points, expected)
    ):
        if step != want_step or wall_time != want_wall_time or not same_value(value, want_value):
            mismatch(
                f"{reader_name}: tag {short([tag])[0]!r} point {i}: (step {step}, value {value!r}, "
                f"wall_time {wall_time!r}), expected (step {want_step}, value "
                f"{as_float32(want_value)!r} from {want_value!r}, wall_time {want_wall_time!r})"
            )


def check_hparams(reader_name, tag_to_content, key, mismatch):
    want_tags = {hparams_metadata.SESSION_START_INFO_TAG}
    if key["metrics"]:
        want_tags.add(hparams_metadata.EXPERIMENT_TAG)
    if set(tag_to_content) != want_tags:
        mismatch(f"{reader_name}: hparams tags {sorted(tag_to_content)}, expected {sorted(want_tags)}")
        return
    # these parsers also check HParamsPluginData.version (0)
    start = hparams_metadata.parse_session_start_info_plugin_data(
        tag_to_content[hparams_metadata.SESSION_START_INFO_TAG]
    )
    want = key["hparams"]
    if set(start.hparams) != set(want):
        mismatch(f"{reader_name}: hyperparameters {sorted(start.hparams)}, expected {sorted(want)}")
    for name, want_value in want.items():
        if name not in start.hparams:
            continue
        value = start.hparams[name]
        kind = value.WhichOneof("kind")
        if isinstance(want_value, bool):
            ok = kind == "bool_value" and value.bool_value == want_value
        elif isinstance(want_value, str):
            ok = kind == "string_value" and value.string_value == want_value
        else:
            ok = kind == "number_value" and value.number_value == want_value
        if not ok:
            mismatch(f"{reader_name}: hyperparameter {name!r} is {value}, expected {want_value!r}")
    if start.start_time_secs != key["hparams_wall_time"]:
        mismatch(f"{reader_name}: start_time_secs {start.start_time_secs}, expected {key['hparams_wall_time']}")

    if hparams_metadata.EXPERIMENT_TAG not in tag_to_content:
        return
    experiment = hparams_metadata.parse_experiment_plugin_data(
        tag_to_content[hparams_metadata.EXPERIMENT_TAG]
    )
    types = {bool: api_pb2.DATA_TYPE_BOOL, str: api_pb2.DATA_TYPE_STRING}
    want_infos = [(name, types.get(type(v), api_pb2.DATA_TYPE_FLOAT64)) for name, v in want.items()]
    infos = [(info.name, info.type) for info in experiment.hparam_infos]
    if infos != want_infos:
        mismatch(f"{reader_name}: experiment hparam_infos {infos}, expected {want_infos}")
    metrics = [(info.name.group, info.name.tag) for info in experiment.metric_infos]
    want_metrics = [("", tag) for tag in key["metrics"]]
    if metrics != want_metrics:
        mismatch(f"{reader_name}: experiment metric_infos {metrics}, expected {want_metrics}")
    if experiment.time_created_secs != key["hparams_wall_time"]:
        mismatch(f"{reader_name}: time_created_secs {experiment.time_created_secs}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("dir")
    parser.add_argument("--expected", help="the answer key (default DIR/expected.json)")
    args = parser.parse_args()
    with open(args.expected or os.path.join(args.dir, "expected.json"), encoding="utf-8") as f:
        key = json.load(f)
    want_scalars = key["scalars"]
    mismatch = Mismatches()

    files = sorted(glob.glob(os.path.join(args.dir, "*tfevents*")))
    if len(files) != key["files"]:
        mismatch(f"{len(files)} event files in {args.dir}, expected {key['files']}: {files}")

    classic = event_accumulator.EventAccumulator(
        args.dir, size_guidance=event_accumulator.STORE_EVERYTHING_SIZE_GUIDANCE
    )
    classic.Reload()
    if classic.file_version != 2:
        mismatch(f"file_version {classic.file_version}, expected 2 (brain.Event:2)")
    tags = classic.Tags()[event_accumulator.SCALARS]
    if set(tags) != set(want_scalars):
        mismatch(
            f"EventAccumulator: scalar tags missing {short(set(want_scalars) - set(tags))}, "
            f"unexpected {short(set(tags) - set(want_scalars))}"
        )
    for tag, expected in want_scalars.items():
        if tag in tags:
            points = [(e.step, e.value, e.wall_time) for e in classic.Scalars(tag)]
            check_points("EventAccumulator", tag, points, expected, mismatch)
    check_hparams("EventAccumulator", classic.PluginTagToContent("hparams"), key, mismatch)

    served = plugin_event_accumulator.EventAccumulator(
        args.dir, size_guidance=plugin_event_accumulator.STORE_EVERYTHING_SIZE_GUIDANCE
    )
    served.Reload()
    scalar_tags = served.PluginTagToContent("scalars")
    if set(scalar_tags) != set(want_scalars):
        mismatch(
            f"plugin path: scalars-plugin tags missing {short(set(want_scalars) - set(scalar_tags))}, "
            f"unexpected {short(set(scalar_tags) - set(want_scalars))}"
        )
    for tag, expected in want_scalars.items():
        if tag in scalar_tags:
            points = [
                (e.step, tensor_util.make_ndarray(e.tensor_proto).item(), e.wall_time)
                for e in served.Tensors(tag)
            ]
            check_points("plugin path", tag, points, expected, mismatch)
    check_hparams("plugin path", served.PluginTagToContent("hparams"), key, mismatch)

    point_count = sum(len(points) for points in want_scalars.values())
    summary = (
        f"{len(files)} event files: {point_count} scalars in {len(want_scalars)} tags, "
        f"{len(key['hparams'])} hyperparameters, {len(key['metrics'])} metric tags "
        f"(tensorboard {tb_version.VERSION}, both readers)"
    )
    if mismatch.count:
        print(f"FAILED: {mismatch.count} mismatches; {summary}")
        return 1
    print(f"all match: {summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
