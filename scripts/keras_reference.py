#!/usr/bin/env python3
"""Train the same network in Keras as the Go pipeline did, for parity checks.

The Go side writes a folder with everything that defines a run:

  spec.json        layers (each a keras.layers class, its name, its
                   constructor arguments, its weights' names in Keras'
                   order and, in a graph, "inputs": the indices of the
                   layers whose outputs it takes, -1 for the model's
                   input), how many leading layers are
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

spec.json may also give the loss's label_smoothing
(keras.losses.CategoricalCrossentropy), a class_weight list (fit's
class_weight, by class index) and a schedule for Adam's learning rate
({"class": "CosineDecay", "config": {...}}, a keras.optimizers.schedules
class and its arguments).

This script builds the model in Keras, loads those initial weights, and
trains epoch by epoch on the same batches (model.fit on the epoch's order,
shuffle off) with Keras' own Adam and categorical cross-entropy, timing
each epoch's fit (the benchmark compares it with Go's). Dropout
layers are built but the caller should use rate 0 for exact parity (Go and
Keras draw different masks). It prints one JSON object: Keras' History.

Usage: keras_reference.py DIR... [--steps N | --schedules]
  With several DIRs, each is a run of its own and the script prints a JSON
  list of their results, in order (one Python start for many parity checks).
  --steps N   instead of epochs, run N single batches with train_on_batch and
              report each batch's loss and the optimizer's learning rate
              before and after it (for the per-step parity tests), and the
              class probabilities of every training example with the
              initial weights (initial_probs, flat, example by example).
  --schedules read DIR/schedules.json: {"steps": N, "schedules": [{"class",
              "config"}, ...], "plateaus": [{"config": {...}, "learning_rate":
              r, "values": [...]}, ...]} and print each schedule's rate at
              steps 0..N-1, and for each plateau the learning rate the
              optimizer holds after ReduceLROnPlateau.on_epoch_end of each
              value (logged under the plateau's monitor), with what it logged
              as the epoch's learning_rate.
"""

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def build(keras, spec):
    """The model of spec, a chain or (with "inputs") a graph: each layer is
    keras.layers.<class>(**config) (or a backbone's own class, such as
    ConvNeXt's LayerScale), named as the Go side names it (so initial
    weights match by name), called on the outputs it takes.

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

    from keras.src.applications import convnext, inception_resnet_v2

    # Classes the backbones use from outside keras.layers.
    others = {"LayerScale": convnext.LayerScale, "CustomScaleLayer": inception_resnet_v2.CustomScaleLayer}

    inp = keras.Input(tuple(spec["input"]))
    outs = []
    for i, l in enumerate(spec["layers"]):
        cls = getattr(keras.layers, l["class"], None) or others.get(l["class"])
        if cls is None:
            sys.exit(f"keras_reference: neither keras.layers nor the backbones have a class {l['class']!r}")
        if cls is keras.layers.BatchNormalization:
            cls = InferenceBatchNormalization
        srcs = [inp if j < 0 else outs[j] for j in l.get("inputs", [i - 1])]
        outs.append(cls(name=l["name"], **l["config"])(srcs if len(srcs) > 1 else srcs[0]))
    model = keras.Model(inp, outs[-1])
    for l in spec["layers"][: spec.get("frozen", 0)]:
        model.get_layer(l["name"]).trainable = False
    return model


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dir", nargs="+")
    p.add_argument("--steps", type=int, default=0)
    p.add_argument("--schedules", action="store_true")
    args = p.parse_args()

    import keras

    out = []
    for d in args.dir:
        keras.backend.clear_session()
        out.append(schedules(keras, d) if args.schedules else run(keras, d, args.steps))
    json.dump(out[0] if len(args.dir) == 1 else out, sys.stdout)


def run(keras, d, steps):
    """The result of the run in folder d (see the usage)."""
    import numpy as np

    with open(os.path.join(d, "spec.json")) as f:
        spec = json.load(f)
    model = build(keras, spec)
    for l in spec["layers"]:
        # In the layer's own order (Keras' weights order), by the names
        # the Go side gave them (spec.json's "weights"), not Keras' names
        # for them: a weight Keras leaves unnamed has none to go by.
        layer = model.get_layer(l["name"])
        names = l.get("weights")
        if names is None:
            names = [w.path.split("/")[-1] for w in layer.weights]
        if len(names) != len(layer.weights):
            sys.exit(f"keras_reference: layer {l['name']}: {len(names)} weights given, Keras has {len(layer.weights)}")
        ws = [np.load(os.path.join(d, "init", f"{l['name']}.{n}.npy")).reshape(w.shape) for n, w in zip(names, layer.weights)]
        if ws:
            layer.set_weights(ws)
    adam = spec["adam"]
    lr = adam["learning_rate"]
    if spec.get("schedule"):
        lr = schedule(keras, spec["schedule"])
    model.compile(
        optimizer=keras.optimizers.Adam(lr, beta_1=adam["beta_1"], beta_2=adam["beta_2"], epsilon=adam["epsilon"]),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=spec.get("label_smoothing", 0.0)),
        metrics=["accuracy"],
    )
    class_weight = None
    if spec.get("class_weight"):
        class_weight = dict(enumerate(spec["class_weight"]))
    classes = spec["classes"]
    shape = tuple(spec["input"])
    y = keras.utils.to_categorical(np.load(os.path.join(d, "y_train.npy")), classes)
    x = np.load(os.path.join(d, "x_train.npy")).reshape((len(y),) + shape)
    order = np.load(os.path.join(d, "order.npy")).reshape(spec["epochs"], len(y))
    bs = spec["batch_size"]

    if steps:
        probs = model.predict_on_batch(x)
        losses, before, after = [], [], []
        flat = order.reshape(-1)
        for s in range(steps):
            idx = flat[s * bs:(s + 1) * bs]
            model.reset_metrics()  # else the loss is a running mean over calls
            before.append(float(model.optimizer.learning_rate))
            out = model.train_on_batch(x[idx], y[idx], class_weight=class_weight, return_dict=True)
            losses.append(float(out["loss"]))
            after.append(float(model.optimizer.learning_rate))
        return {"batch_loss": losses, "learning_rate": before, "learning_rate_after": after,
                "initial_probs": [float(v) for v in np.asarray(probs).reshape(-1)]}

    val = None
    if os.path.exists(os.path.join(d, "x_val.npy")):
        yv = keras.utils.to_categorical(np.load(os.path.join(d, "y_val.npy")), classes)
        val = (np.load(os.path.join(d, "x_val.npy")).reshape((len(yv),) + shape), yv)
    hist = {"loss": [], "accuracy": [], "val_loss": [], "val_accuracy": [], "seconds": []}
    for e in range(spec["epochs"]):
        idx = order[e]
        start = time.time()
        h = model.fit(x[idx], y[idx], batch_size=bs, epochs=1, shuffle=False, validation_data=val, class_weight=class_weight, verbose=0)
        hist["seconds"].append(time.time() - start)
        for k in hist:
            if k in h.history:
                hist[k].append(float(h.history[k][0]))
    return hist


def schedule(keras, s):
    """The keras.optimizers.schedules object s names."""
    cls = getattr(keras.optimizers.schedules, s["class"], None)
    if cls is None:
        sys.exit(f"keras_reference: keras.optimizers.schedules has no class {s['class']!r}")
    config = dict(s["config"])
    # JSON writes 0.0 as 0: a rate must not become an int32 tensor.
    for k in ("initial_learning_rate", "alpha", "warmup_target", "decay_rate"):
        if config.get(k) is not None:
            config[k] = float(config[k])
    if "values" in config:
        config["values"] = [float(v) for v in config["values"]]
    return cls(**config)


def schedules(keras, d):
    """The --schedules mode's result for folder d (see the usage)."""
    import numpy as np

    with open(os.path.join(d, "schedules.json")) as f:
        spec = json.load(f)
    steps = np.arange(spec["steps"], dtype="int64")
    rates = []
    for s in spec["schedules"]:
        fn = schedule(keras, s)
        rates.append([float(keras.ops.convert_to_numpy(fn(keras.ops.convert_to_tensor(i)))) for i in steps])
    plateaus = []
    for p in spec["plateaus"]:
        inp = keras.Input((1,))
        model = keras.Model(inp, keras.layers.Dense(1)(inp))
        model.compile(optimizer=keras.optimizers.Adam(p["learning_rate"]), loss="mse")
        cb = keras.callbacks.ReduceLROnPlateau(**p["config"])
        cb.set_model(model)
        cb.on_train_begin()
        held, logged = [], []
        for e, v in enumerate(p["values"]):
            logs = {p["config"]["monitor"]: v}
            cb.on_epoch_end(e, logs)
            logged.append(logs["learning_rate"])
            held.append(float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)))
        plateaus.append({"learning_rate": held, "logged": logged})
    return {"schedules": rates, "plateaus": plateaus}


if __name__ == "__main__":
    main()
