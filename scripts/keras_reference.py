#!/usr/bin/env python3
"""Train the same network in Keras as the Go pipeline did, for parity checks.

The Go side writes a folder with everything that defines a run:

  spec.json        layers (each a keras.layers class, its name and its
                   constructor arguments), how many leading layers are
                   frozen (a backbone's layers above a cut, while the new
                   top trains first), input shape, classes, batch size,
                   epochs, Adam settings
  x_train.npy      float32 inputs (features or preprocessed images), N×...
  y_train.npy      int32 class indices
  x_val.npy, y_val.npy   (optional) the validation split
  order.npy        int64 [epochs, N]: the example order of every epoch
  (every .npy is flat; shapes come from spec.json and from the Keras model)
  init/<name>.npy  initial weights, named as in the Go checkpoint with "/"
                   replaced by "." (dense.kernel.npy, conv2d_1.bias.npy, ...)

This script builds the model in Keras, loads those initial weights, and
trains epoch by epoch on the same batches (model.fit on the epoch's order,
shuffle off) with Keras' own Adam and categorical cross-entropy, timing
each epoch's fit (the benchmark compares it with Go's). Dropout
layers are built but the caller should use rate 0 for exact parity (Go and
Keras draw different masks). It prints one JSON object: Keras' History.

Usage: keras_reference.py DIR [--steps N]
  --steps N   instead of epochs, run N single batches with train_on_batch and
              report each batch's loss (for the scratch-CNN parity test).
"""

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def build(keras, spec):
    """The model of spec, a chain: each layer is keras.layers.<class>(**config),
    named as the Go side names it (so initial weights match by name).

    BatchNormalization layers always run in inference mode, as in Keras'
    transfer-learning guide (the base model called with training=False):
    they normalise with their moving statistics and never update them,
    while gamma and beta train. (Passing training=False when building a
    functional model of plain layers is not enough: Keras 3.8's fit then
    calls them with training=True, batch statistics; measured.) The first
    spec["frozen"] layers are not trainable.
    """

    class InferenceBatchNormalization(keras.layers.BatchNormalization):
        def call(self, inputs, training=None, mask=None):
            return super().call(inputs, training=False, mask=mask)

    x = inp = keras.Input(tuple(spec["input"]))
    for l in spec["layers"]:
        cls = getattr(keras.layers, l["class"], None)
        if cls is None:
            sys.exit(f"keras_reference: keras.layers has no class {l['class']!r}")
        if cls is keras.layers.BatchNormalization:
            cls = InferenceBatchNormalization
        x = cls(name=l["name"], **l["config"])(x)
    model = keras.Model(inp, x)
    for l in spec["layers"][: spec.get("frozen", 0)]:
        model.get_layer(l["name"]).trainable = False
    return model


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dir")
    p.add_argument("--steps", type=int, default=0)
    args = p.parse_args()

    import keras
    import numpy as np

    d = args.dir
    with open(os.path.join(d, "spec.json")) as f:
        spec = json.load(f)
    model = build(keras, spec)
    for layer in model.layers:
        ws = []
        for w in layer.weights:
            key = w.path.split("/")[-1]  # kernel / bias
            ws.append(np.load(os.path.join(d, "init", f"{layer.name}.{key}.npy")).reshape(w.shape))
        if ws:
            layer.set_weights(ws)
    adam = spec["adam"]
    model.compile(
        optimizer=keras.optimizers.Adam(adam["learning_rate"], beta_1=adam["beta_1"], beta_2=adam["beta_2"], epsilon=adam["epsilon"]),
        loss="categorical_crossentropy",
        metrics=["accuracy"],
    )
    classes = spec["classes"]
    shape = tuple(spec["input"])
    y = keras.utils.to_categorical(np.load(os.path.join(d, "y_train.npy")), classes)
    x = np.load(os.path.join(d, "x_train.npy")).reshape((len(y),) + shape)
    order = np.load(os.path.join(d, "order.npy")).reshape(spec["epochs"], len(y))
    bs = spec["batch_size"]

    if args.steps:
        losses = []
        flat = order.reshape(-1)
        for s in range(args.steps):
            idx = flat[s * bs:(s + 1) * bs]
            model.reset_metrics()  # else the loss is a running mean over calls
            out = model.train_on_batch(x[idx], y[idx], return_dict=True)
            losses.append(float(out["loss"]))
        json.dump({"batch_loss": losses}, sys.stdout)
        return

    val = None
    if os.path.exists(os.path.join(d, "x_val.npy")):
        yv = keras.utils.to_categorical(np.load(os.path.join(d, "y_val.npy")), classes)
        val = (np.load(os.path.join(d, "x_val.npy")).reshape((len(yv),) + shape), yv)
    hist = {"loss": [], "accuracy": [], "val_loss": [], "val_accuracy": [], "seconds": []}
    for e in range(spec["epochs"]):
        idx = order[e]
        start = time.time()
        h = model.fit(x[idx], y[idx], batch_size=bs, epochs=1, shuffle=False, validation_data=val, verbose=0)
        hist["seconds"].append(time.time() - start)
        for k in hist:
            if k in h.history:
                hist[k].append(float(h.history[k][0]))
    json.dump(hist, sys.stdout)


if __name__ == "__main__":
    main()
