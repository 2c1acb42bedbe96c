#!/usr/bin/env python3
"""Print the layers of the upper part of keras.applications backbones, as
JSON, for package layers' FromKeras tests (pipeline/layers/testdata/tails.json).

For each architecture (built with weights=None), the distinct layer class
and get_config() pairs among its last 30% of operations up to the global
pooling: the blocks fine-tuning rebuilds in Go. A nested Sequential
(ConvNeXt's downsampling) contributes its layers. Operations that are not
layers (Keras ops such as x + 3.0) are listed by class under "ops".

Usage: keras_tail_configs.py > pipeline/layers/testdata/tails.json
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ARCHS = ["MobileNetV2", "MobileNetV3Small", "EfficientNetB0", "EfficientNetV2B0", "ResNet50",
         "ResNet50V2", "DenseNet121", "InceptionV3", "ConvNeXtTiny"]


def main():
    import keras

    out = {}
    for name in ARCHS:
        model = getattr(keras.applications, name)(weights=None)
        ops = model.operations
        pool = max(i for i, o in enumerate(ops) if type(o).__name__.startswith("Global"))
        seen, layers, others = set(), [], set()

        def add(op):
            if isinstance(op, keras.Sequential):
                for inner in op.layers:
                    add(inner)
                return
            if not isinstance(op, keras.layers.Layer):
                others.add(type(op).__name__)
                return
            cfg = op.get_config()
            cfg.pop("name", None)
            key = type(op).__name__ + json.dumps(cfg, sort_keys=True, default=str)
            if key not in seen:
                seen.add(key)
                layers.append({"class": type(op).__name__, "config": cfg})

        for op in ops[int(pool * 0.7):pool + 1]:
            add(op)
        out[name] = {"layers": layers, "ops": sorted(others)}
    # One layer a line, for readable diffs.
    lines = []
    for name, v in out.items():
        rows = ",\n    ".join(json.dumps(l, sort_keys=True, default=str) for l in v["layers"])
        lines.append(f'  {json.dumps(name)}: {{"ops": {json.dumps(v["ops"])}, "layers": [\n    {rows}]}}')
    print("{\n" + ",\n".join(lines) + "\n}")


if __name__ == "__main__":
    main()
