#!/usr/bin/env python3
"""The Python/Keras side of the benchmark (go run ./pipeline/bench).

  keras_bench.py features MANIFEST SAVEDMODEL ENDPOINT [--batch N] [--limit N]
      Feature extraction the way a Keras user does it: load_img (PIL,
      nearest) + preprocessing + model.predict over the images of a run's
      manifest.csv, through the same SavedModel (as a frozen TFSMLayer).
      Prints {"images": n, "seconds": s, "images_per_second": r}.

  keras_bench.py notebook MANIFEST SAVEDMODEL ENDPOINT --epochs E --batch B [--init DIR]
      The notebook's way, end to end: every image of the manifest loaded into
      RAM as float32, the frozen backbone and a new Dense(classes, softmax)
      in one Keras model, fit for E epochs (the backbone's forward pass is
      recomputed every epoch), then evaluated on the test split. Same split
      as the Go run (its manifest), same preprocessing (the SavedModel's
      metadata.json). With --init DIR (written by the Go side), the Dense
      layer starts from the Go run's initial weights (DIR/init/dense.*.npy)
      and each epoch visits the training images in the Go run's order
      (DIR/order.npy), so the two runs differ only in where the backbone's
      output comes from. Prints {"seconds": ..., "test_accuracy": ..., ...}.

  keras_bench.py session MANIFEST SAVEDMODEL ENDPOINT --precision P [--batch N] [--limit N]
      Feature extraction with the session settings the Go side uses: a
      TF1 session over the SavedModel created with a ConfigProto that turns
      oneDNN's bfloat16 rewrite on (P = bfloat16) or leaves TensorFlow's
      defaults (P = float32). One warm-up call on zeros (where the graph is
      optimized), then load_img + preprocessing + session.run per batch;
      also the session alone on the already decoded batches.
      Prints {"images": n, "seconds": s, "images_per_second": r,
      "backbone_images_per_second": r2}.

  keras_bench.py finetune MANIFEST SAVEDMODEL ARCH CUT [--epochs E] [--batch B]
      Keras' transfer-learning guide's fine-tuning step: the
      keras.applications class ARCH (MobileNet, ResNet50, EfficientNetB0,
      ...) without its top, every layer from CUT up trainable, called with
      training=False, global average pooling and a new Dense on top,
      Adam(1e-5), fit on the images in RAM, the whole backbone run forward
      every batch. SAVEDMODEL (the Go run's backbone) gives the input size
      and preprocessing. Prints the time of each epoch, the trainable
      parameters and the process's peak RSS.

Peak memory is measured by the caller (rusage of this process).
"""

import argparse
import csv
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def read_manifest(path):
    with open(path) as f:
        rows = list(csv.DictReader(f))
    classes = sorted({r["class"] for r in rows})
    return rows, classes


def preprocess(x, prep, np):
    """Keras' preprocess_input modes on float32 RGB pixels in 0..255."""
    mode = prep["mode"]
    if mode == "caffe":
        x = x[..., ::-1] - np.array([103.939, 116.779, 123.68], dtype=np.float32)
    elif mode == "tf":
        x = x / 127.5 - 1.0
    elif mode == "torch":
        x = (x / 255.0 - np.array([0.485, 0.456, 0.406], dtype=np.float32)) / np.array([0.229, 0.224, 0.225], dtype=np.float32)
    return np.ascontiguousarray(x, dtype=np.float32)


def load(paths, size, prep, keras, np):
    x = np.empty((len(paths), size[0], size[1], 3), dtype=np.float32)
    for i, p in enumerate(paths):
        img = keras.utils.load_img(p, target_size=size)  # PIL, nearest, RGB
        x[i] = keras.utils.img_to_array(img)
    return preprocess(x, prep, np)


_KEEP = []


def backbone(keras, savedmodel, endpoint):
    """The SavedModel's endpoint as a frozen Keras layer.

    keras.layers.TFSMLayer(trainable=False) fails in Keras 3.8 on this
    export ("property 'trainable' of 'UninitializedVariable' object has no
    setter"), so the signature is called from a plain layer: its variables
    are not Keras weights, hence never trained, as in the notebook's frozen
    VGG16, and the forward pass still runs on every batch of every epoch.
    """
    import tensorflow as tf

    with open(os.path.join(savedmodel, "metadata.json")) as f:
        meta = json.load(f)
    loaded = tf.saved_model.load(savedmodel)
    _KEEP.append(loaded)  # the signature needs its variables alive
    fn = loaded.signatures[endpoint]

    class Frozen(keras.layers.Layer):
        def call(self, x):
            return fn(images=x)[endpoint]

        def compute_output_shape(self, input_shape):
            return (input_shape[0],) + tuple(meta["endpoints"][endpoint]["shape"][1:])

    layer = Frozen(trainable=False)
    size = tuple(meta["input"]["shape"][1:3])
    return layer, size, meta["input"]["preprocessing"], meta["endpoints"][endpoint]["shape"][1:]


def features(args):
    import keras
    import numpy as np

    rows, _ = read_manifest(args.manifest)
    if args.limit:
        rows = rows[: args.limit]
    layer, size, prep, _ = backbone(keras, args.savedmodel, args.endpoint)
    inp = keras.Input(size + (3,))
    out = layer(inp)
    if isinstance(out, dict):
        out = out[args.endpoint]
    model = keras.Model(inp, out)
    paths = [r["path"] for r in rows]
    start = time.time()
    n = 0
    # Batches of images are loaded and predicted in turn (memory stays
    # bounded), as the Go side streams them.
    for b in range(0, len(paths), args.batch):
        x = load(paths[b : b + args.batch], size, prep, keras, np)
        model.predict(x, batch_size=args.batch, verbose=0)
        n += len(x)
    s = time.time() - start
    json.dump({"images": n, "seconds": s, "images_per_second": n / s}, sys.stdout)


def session(args):
    import keras
    import numpy as np
    import tensorflow as tf
    from tensorflow.core.protobuf import rewriter_config_pb2

    rows, _ = read_manifest(args.manifest)
    if args.limit:
        rows = rows[: args.limit]
    with open(os.path.join(args.savedmodel, "metadata.json")) as f:
        meta = json.load(f)
    size = tuple(meta["input"]["shape"][1:3])
    prep = meta["input"]["preprocessing"]
    cfg = tf.compat.v1.ConfigProto()
    if args.precision == "bfloat16":
        cfg.graph_options.rewrite_options.auto_mixed_precision_onednn_bfloat16 = rewriter_config_pb2.RewriterConfig.ON
    graph = tf.Graph()
    with tf.compat.v1.Session(graph=graph, config=cfg) as sess:
        mg = tf.compat.v1.saved_model.loader.load(sess, ["serve"], args.savedmodel)
        sig = mg.signature_def[args.endpoint]
        inp = sig.inputs[meta["input"]["signature_key"]].name
        out = next(iter(sig.outputs.values())).name
        sess.run(out, {inp: np.zeros((args.batch,) + size + (3,), np.float32)})
        paths = [r["path"] for r in rows]
        batches = []
        start = time.time()
        for b in range(0, len(paths), args.batch):
            x = load(paths[b : b + args.batch], size, prep, keras, np)
            sess.run(out, {inp: x})
            batches.append(x)
        s = time.time() - start
        start = time.time()
        for x in batches:
            sess.run(out, {inp: x})
        alone = time.time() - start
    n = len(paths)
    json.dump({"images": n, "seconds": s, "images_per_second": n / s, "backbone_images_per_second": n / alone}, sys.stdout)


def notebook(args):
    import keras
    import numpy as np

    keras.utils.set_random_seed(args.seed)
    rows, classes = read_manifest(args.manifest)
    layer, size, prep, _ = backbone(keras, args.savedmodel, args.endpoint)
    start = time.time()
    split = {s: [r for r in rows if r["split"] == s] for s in ("train", "val", "test")}
    data = {}
    for s, rs in split.items():
        x = load([r["path"] for r in rs], size, prep, keras, np)  # the whole split in RAM
        y = keras.utils.to_categorical([classes.index(r["class"]) for r in rs], len(classes))
        data[s] = (x, y)
    loaded = time.time() - start
    inp = keras.Input(size + (3,))
    feats = layer(inp)
    if isinstance(feats, dict):
        feats = feats[args.endpoint]
    dense = keras.layers.Dense(len(classes), activation="softmax", name="dense")
    out = dense(feats)
    model = keras.Model(inp, out)
    model.compile(optimizer=keras.optimizers.Adam(), loss="categorical_crossentropy", metrics=["accuracy"])
    val = data["val"] if len(data["val"][0]) else None
    x, y = data["train"]
    orders = [np.random.default_rng(args.seed + e).permutation(len(y)) for e in range(args.epochs)]
    if args.init:
        k, b = dense.kernel, dense.bias
        dense.set_weights([
            np.load(os.path.join(args.init, "init", "dense.kernel.npy")).reshape(k.shape),
            np.load(os.path.join(args.init, "init", "dense.bias.npy")).reshape(b.shape),
        ])
        orders = np.load(os.path.join(args.init, "order.npy")).reshape(args.epochs, len(y))

    class Batches(keras.utils.PyDataset):
        """One epoch's batches in a given order, without copying the images."""

        def __init__(self, order):
            super().__init__()
            self.order = order

        def __len__(self):
            return (len(self.order) + args.batch - 1) // args.batch

        def __getitem__(self, i):
            idx = self.order[i * args.batch:(i + 1) * args.batch]
            return x[idx], y[idx]

    epoch_times = []
    for e in range(args.epochs):
        t = time.time()
        model.fit(Batches(orders[e]), epochs=1, validation_data=val, shuffle=False, verbose=0)
        epoch_times.append(time.time() - t)
    loss, acc = model.evaluate(*data["test"], batch_size=args.batch, verbose=0)
    json.dump({
        "seconds": time.time() - start, "load_seconds": loaded, "epoch_seconds": epoch_times,
        "test_loss": float(loss), "test_accuracy": float(acc), "images": len(rows),
    }, sys.stdout)


def finetune(args):
    """Keras' transfer-learning guide's fine-tuning step, timed per epoch.

    The guide's way (https://keras.io/guides/transfer_learning/): every
    image in RAM, base_model = keras.applications.ARCH without its top,
    base_model.trainable = True with every layer below the cut frozen, the
    model built as base_model(inputs, training=False) (batch normalisation
    in inference mode, its statistics unchanged) -> global average pooling
    -> Dense(classes, softmax), compiled with Adam(1e-5), fit epoch by
    epoch: the whole backbone runs forward on every batch, and backward
    down to the cut. The pooling is the architecture's feature endpoint
    (avg_pool, global_pool) that the Go side fine-tunes up to. The base is
    built with seeded random weights (ImageNet files cannot be downloaded
    here): the same computation, so the same time, as with the pretrained
    ones; the accuracy is not compared.
    """
    import resource

    import keras
    import numpy as np

    keras.utils.set_random_seed(args.seed)
    build = getattr(keras.applications, args.arch, None)
    if not (args.arch[:1].isupper() and callable(build)):
        sys.exit(f"keras_bench.py finetune: {args.arch}: not a keras.applications class (MobileNet, ResNet50, EfficientNetB0, ...)")
    rows, classes = read_manifest(args.manifest)
    with open(os.path.join(args.savedmodel, "metadata.json")) as f:
        meta = json.load(f)
    size = tuple(meta["input"]["shape"][1:3])
    prep = meta["input"]["preprocessing"]
    start = time.time()
    data = {}
    for s in ("train", "val"):
        rs = [r for r in rows if r["split"] == s]
        if args.limit:
            rs = rs[: args.limit]
        x = load([r["path"] for r in rs], size, prep, keras, np)
        data[s] = (x, keras.utils.to_categorical([classes.index(r["class"]) for r in rs], len(classes)))
    loaded = time.time() - start
    base = build(input_shape=size + (3,), include_top=False, weights=None)
    base.trainable = True
    names = [l.name for l in base.layers]
    if args.cut not in names:
        sys.exit(f"keras_bench.py finetune: {args.arch} has no layer {args.cut!r} (its last layers: {', '.join(names[-12:])})")
    for layer in base.layers[: names.index(args.cut)]:
        layer.trainable = False
    inp = keras.Input(size + (3,))
    x = base(inp, training=False)
    x = keras.layers.GlobalAveragePooling2D()(x)
    out = keras.layers.Dense(len(classes), activation="softmax")(x)
    model = keras.Model(inp, out)
    model.compile(optimizer=keras.optimizers.Adam(1e-5), loss="categorical_crossentropy", metrics=["accuracy"])
    trainable = int(sum(np.prod(w.shape) for w in model.trainable_weights))
    epoch_times = []
    for e in range(args.epochs):
        t = time.time()
        model.fit(*data["train"], batch_size=args.batch, epochs=1, validation_data=data["val"], verbose=0)
        epoch_times.append(time.time() - t)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    json.dump({"seconds": time.time() - start, "load_seconds": loaded, "epoch_seconds": epoch_times,
               "trainable_params": trainable, "images": sum(len(d[1]) for d in data.values()),
               "peak_rss_mib": rss}, sys.stdout)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("features")
    n = sub.add_parser("notebook")
    se = sub.add_parser("session")
    t = sub.add_parser("finetune")
    t.add_argument("manifest")
    t.add_argument("savedmodel")
    t.add_argument("arch", help="the keras.applications class: MobileNet, ResNet50, EfficientNetB0, ...")
    t.add_argument("cut", help="the first layer that trains")
    t.add_argument("--limit", type=int, default=0, help="at most this many training and validation images each (0: all)")
    t.add_argument("--batch", type=int, default=32)
    t.add_argument("--epochs", type=int, default=3)
    t.add_argument("--seed", type=int, default=0)
    for q in (f, n, se):
        q.add_argument("manifest")
        q.add_argument("savedmodel")
        q.add_argument("endpoint")
        q.add_argument("--batch", type=int, default=32)
    f.add_argument("--limit", type=int, default=0)
    se.add_argument("--limit", type=int, default=0)
    se.add_argument("--precision", choices=["float32", "bfloat16"], required=True)
    n.add_argument("--epochs", type=int, default=10)
    n.add_argument("--seed", type=int, default=0)
    n.add_argument("--init", help="folder with the Go run's init/ weights and order.npy")
    args = p.parse_args()
    {"features": features, "notebook": notebook, "session": session, "finetune": finetune}[args.cmd](args)


if __name__ == "__main__":
    main()
