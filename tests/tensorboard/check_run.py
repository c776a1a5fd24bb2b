"""tests/tensorboard/check_run.py — a volt-train run folder written with
trainer.logger=tensorboard, read with the tensorboard package: every value of its
metrics.csv must be a TensorBoard scalar of the same tag and step (as float32), and the
run's hyperparameters must be there.

    check_run.py RUN_FOLDER EXPECTED_HPARAM=VALUE...
"""
import csv
import math
import sys

import numpy as np
from tensorboard.backend.event_processing import event_accumulator, plugin_event_accumulator
from tensorboard.plugins.hparams import metadata as hparams_metadata


def main():
    folder, expected = sys.argv[1], dict(a.split("=", 1) for a in sys.argv[2:])
    problems = []
    accumulator = event_accumulator.EventAccumulator(folder, size_guidance={"scalars": 0})
    accumulator.Reload()
    scalars = {tag: {e.step: e.value for e in accumulator.Scalars(tag)}
               for tag in accumulator.Tags()["scalars"]}
    rows = 0
    values = 0
    with open(f"{folder}/metrics.csv") as f:
        for row in csv.DictReader(f):
            rows += 1
            step = int(row["step"])
            for tag, text in row.items():
                if tag in ("step", "epoch") or text == "":
                    continue
                values += 1
                want = float(np.float32(float(text)))
                got = scalars.get(tag, {}).get(step)
                if got is None:
                    problems.append(f"{tag} at step {step}: missing from TensorBoard")
                elif not (got == want or (math.isnan(got) and math.isnan(want))
                          or abs(got - want) <= 1e-6 * abs(want)):
                    problems.append(f"{tag} at step {step}: TensorBoard {got!r}, metrics.csv {text}")
    plugin = plugin_event_accumulator.EventAccumulator(folder)
    plugin.Reload()
    content = plugin.PluginTagToContent(hparams_metadata.PLUGIN_NAME)
    if hparams_metadata.SESSION_START_INFO_TAG not in content:
        problems.append("no hyperparameters (session_start_info)")
    else:
        start = hparams_metadata.parse_session_start_info_plugin_data(
            content[hparams_metadata.SESSION_START_INFO_TAG])
        for name, want in expected.items():
            value = start.hparams.get(name)
            got = None if value is None else (value.string_value if value.HasField("string_value")
                                              else value.number_value)
            if got is None or str(got) != want and not (isinstance(got, float) and float(want) == got):
                problems.append(f"hyperparameter {name}: {got!r}, expected {want}")
    if rows == 0 or values < 10:
        problems.append(f"metrics.csv has only {rows} rows, {values} values")
    for p in problems[:20]:
        print(p)
    if problems:
        print(f"{len(problems)} problems")
        return 1
    print(f"all {values} values of {rows} metrics.csv rows are TensorBoard scalars; "
          f"hyperparameters {sorted(expected)} match")
    return 0


if __name__ == "__main__":
    sys.exit(main())
