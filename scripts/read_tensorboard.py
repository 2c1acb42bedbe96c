"""Read TensorBoard event folders with TensorBoard's own reader and print
what they hold as JSON, for the Go tests (pipeline/tensorboard).

    .venv/bin/python scripts/read_tensorboard.py DIR...

For each folder (one TensorBoard run: the event files directly in it):
scalars as [step, value] lists, histogram and image steps, image sizes,
and the HParams plugin's session start (hparams) and end (status) data.
"""

import json
import sys
import types

# TensorBoard imports TensorFlow when it can (seconds); its own stub reads
# event files as well. Importing `tensorboard.compat.notf` is how it is told
# to use the stub (tensorboard/compat/__init__.py).
sys.modules["tensorboard.compat.notf"] = types.ModuleType("tensorboard.compat.notf")

from tensorboard.backend.event_processing import event_accumulator
from tensorboard.plugins.hparams import metadata as hparams_metadata
from tensorboard.plugins.hparams import plugin_data_pb2


def read(path):
    acc = event_accumulator.EventAccumulator(
        path,
        size_guidance={
            event_accumulator.SCALARS: 0,
            event_accumulator.HISTOGRAMS: 0,
            event_accumulator.IMAGES: 0,
            event_accumulator.TENSORS: 0,
        },
    )
    acc.Reload()
    tags = acc.Tags()
    out = {
        "scalars": {t: [[e.step, e.value] for e in acc.Scalars(t)] for t in tags["scalars"]},
        "histograms": {
            t: [[e.step, e.histogram_value.num, e.histogram_value.min, e.histogram_value.max] for e in acc.Histograms(t)]
            for t in tags["histograms"]
        },
        "images": {
            t: [[e.step, e.width, e.height, len(e.encoded_image_string)] for e in acc.Images(t)]
            for t in tags["images"]
        },
        "hparams": None,
        "session_end_status": None,
    }
    try:
        content = acc.PluginTagToContent(hparams_metadata.PLUGIN_NAME)
    except KeyError:  # no hparams data in this folder
        content = {}
    for tag, raw in content.items():
        data = plugin_data_pb2.HParamsPluginData.FromString(raw)
        if tag == hparams_metadata.SESSION_START_INFO_TAG:
            hp = {}
            for k, v in data.session_start_info.hparams.items():
                kind = v.WhichOneof("kind")
                hp[k] = {"number_value": v.number_value, "string_value": v.string_value, "bool_value": v.bool_value}[kind]
            out["hparams"] = hp
        elif tag == hparams_metadata.SESSION_END_INFO_TAG:
            out["session_end_status"] = data.session_end_info.status
    return out


if __name__ == "__main__":
    json.dump({p: read(p) for p in sys.argv[1:]}, sys.stdout, indent=1, sort_keys=True)
