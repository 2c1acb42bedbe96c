#!/usr/bin/env python3
"""Export a Keras image backbone as a SavedModel the Go pipeline can load.

The SavedModel has one signature per endpoint: "predictions" (the original
classifier's output) and one per feature layer the pipeline may cut at
("fc2", "block5_pool", ...). Each signature takes one float32 NHWC batch named
"images" and returns a single tensor keyed by the endpoint's name. Next to the
model, metadata.json records the input contract, the endpoints, where the
weights came from (with a fingerprint), and the TensorFlow and Keras versions.

The input contract: images are already preprocessed the way the original
model was trained ("caffe" for VGG16: RGB->BGR, ImageNet channel means
subtracted, no scaling). Preprocessing happens in Go, before the model, so the
SavedModel is exactly the Keras model and nothing is applied twice.

With --golden N, the script also runs the in-memory Keras model (not the
exported graph) on a seeded batch of N inputs and stores the inputs and each
endpoint's outputs as .npy files under golden/: the Go tests feed the same
batch through the SavedModel and compare.

Weights:
  imagenet   Keras' own download (online), or its cached file
             ~/.keras/models/<file> when present. Offline and without the
             cached file, fails within seconds and says how to supply it.
  random     seeded initialisation (--seed); labelled as random everywhere.
  PATH       a local Keras weights file (.h5 or .weights.h5).

Examples:
  scripts/export_backbone.py --arch vgg16 --weights imagenet --out savedmodels/vgg16
  scripts/export_backbone.py --arch tiny --weights random --out savedmodels/tiny --golden 4
"""

import argparse
import hashlib
import json
import os
import shutil
import socket
import sys
import tempfile
import urllib.parse

FORMAT = "gotransfer.backbone/v1"

# Endpoints every backbone exports, in order; the first is "serving_default".
ENDPOINTS = ("predictions", "fc2", "block5_pool")

# Layers fine-tuning may start from ("cuts"). Each adds an endpoint for the
# cut's input activation, where the pipeline caches features, and
# metadata.json describes the layers from the cut up (see fine_tune_layers).
CUTS = ("block5_conv1",)


def fail(msg):
    print(f"export_backbone: {msg}", file=sys.stderr)
    sys.exit(2)


def parse_args():
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--arch", choices=["vgg16", "tiny"], required=True)
    p.add_argument(
        "--weights", required=True, help="imagenet, random, or a path to a Keras weights file"
    )
    p.add_argument("--seed", type=int, default=0, help="seed for --weights random and golden inputs")
    p.add_argument("--out", required=True, help="output SavedModel folder")
    p.add_argument("--golden", type=int, default=0, help="write N golden inputs/outputs (0 = none)")
    p.add_argument("--force", action="store_true", help="overwrite an existing export")
    return p.parse_args()


def imagenet_weights_available():
    """Returns None if Keras can get the VGG16 ImageNet weights, else a reason.

    Keras downloads with no timeout; offline that can hang or fail slowly, so
    we look for its cached file first and otherwise try one TCP connection to
    the download host with a short timeout.
    """
    from keras.src.applications import vgg16

    url = vgg16.WEIGHTS_PATH
    fname = os.path.basename(url)
    keras_home = os.environ.get("KERAS_HOME", os.path.join(os.path.expanduser("~"), ".keras"))
    cached = os.path.join(keras_home, "models", fname)
    if os.path.exists(cached):
        return None
    host = urllib.parse.urlparse(url).hostname
    try:
        socket.create_connection((host, 443), timeout=5).close()
        return None
    except OSError as e:
        return (
            f"cannot download the ImageNet VGG16 weights ({url}): {e}.\n"
            f"  Offline? Copy the file to {cached}\n"
            f"  or pass --weights /path/to/{fname}\n"
            f"  (or --weights random for a randomly initialised model, for tests)."
        )


def build_tiny(keras):
    """A VGG-shaped model with the same layer names as VGG16, 32x32 input.

    Small enough to export in seconds; used by tests.
    """
    from keras import layers

    x = inp = keras.Input((32, 32, 3), name="input_layer")
    for i, filters in enumerate((8, 8, 16, 16, 16), start=1):
        x = layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"block{i}_conv1")(x)
        x = layers.MaxPooling2D(2, name=f"block{i}_pool")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(32, activation="relu", name="fc1")(x)
    x = layers.Dense(32, activation="relu", name="fc2")(x)
    x = layers.Dense(10, activation="softmax", name="predictions")(x)
    return keras.Model(inp, x, name="tiny_vgg")


def build(keras, arch, weights, seed):
    """Returns (model, weights description dict)."""
    keras.utils.set_random_seed(seed)
    if arch == "tiny":
        if weights != "random":
            fail("--arch tiny only supports --weights random")
        return build_tiny(keras), {"source": "random", "seed": seed}
    if weights == "imagenet":
        reason = imagenet_weights_available()
        if reason:
            fail(reason)
        model = keras.applications.VGG16(weights="imagenet", include_top=True)
        return model, {"source": "imagenet", "origin": "keras.applications.VGG16(weights='imagenet')"}
    model = keras.applications.VGG16(weights=None, include_top=True)
    if weights == "random":
        return model, {"source": "random", "seed": seed}
    if not os.path.isfile(weights):
        fail(f"--weights {weights}: no such file (want imagenet, random, or a Keras weights file)")
    try:
        model.load_weights(weights)
    except Exception as e:  # Keras raises many types here; report the file.
        fail(f"--weights {weights}: cannot load into VGG16: {e}")
    return model, {"source": "file", "path": os.path.abspath(weights)}


def fingerprint(model):
    """sha256 over every weight's name, shape, dtype and little-endian bytes."""
    import numpy as np

    h = hashlib.sha256()
    for w in model.weights:
        a = np.ascontiguousarray(w.numpy())
        h.update(f"{w.path}|{a.shape}|{a.dtype.str}\n".encode())
        h.update(a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes())
    return h.hexdigest()


def preprocessing(arch):
    if arch == "vgg16":
        return {
            "mode": "caffe",
            "channel_order": "BGR",
            "mean": [103.939, 116.779, 123.68],
            "scale": 1.0,
            "value_range": "0..255 pixel values, channels reordered to BGR, per-channel ImageNet mean subtracted",
        }
    return {
        "mode": "caffe",
        "channel_order": "BGR",
        "mean": [103.939, 116.779, 123.68],
        "scale": 1.0,
        "value_range": "as vgg16 (the tiny model mirrors its contract)",
    }


def main():
    args = parse_args()
    out = os.path.abspath(args.out)
    if os.path.exists(out) and not args.force:
        fail(f"{args.out} exists; pass --force to overwrite")

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    model, weights = build(keras, args.arch, args.weights, args.seed)
    meta = export(
        model,
        out,
        {name: name for name in ENDPOINTS},
        {
            "cuts": CUTS,
            "architecture": args.arch,
            "weights": weights,
            "preprocessing": preprocessing(args.arch),
            "exported_by": "scripts/export_backbone.py "
            + " ".join(f"--{k} {v}" for k, v in (("arch", args.arch), ("weights", args.weights), ("seed", args.seed))),
        },
        golden_n=args.golden,
        seed=args.seed,
    )
    print(
        f"exported {args.arch} ({weights['source']} weights, {meta['params']:,} params, "
        f"sha256 {weights['sha256'][:12]}) to {args.out}: endpoints {', '.join(meta['endpoints'])}"
    )


def export(model, out, endpoints, meta_extra, golden_n=0, seed=0):
    """Writes model as a SavedModel with metadata.json (and golden files) to out.

    The reusable part of this script (scripts/export_mobilenet.py calls it too).

    endpoints: ordered {endpoint name: layer name}; the first one is the
      default endpoint and the "serving_default" signature.
    meta_extra: must hold "architecture", "weights" (a dict; its "sha256" is
      filled in here), "preprocessing" (the dict that goes under
      input.preprocessing; its "mode" also decides how golden inputs are
      drawn), "exported_by" and "cuts" (layer names fine-tuning may start
      from; see fine_tune_layers); any other keys go into metadata.json as
      they are.
    golden_n: when > 0, writes golden/input.npy and golden/<endpoint>.npy,
      computed by the in-memory Keras model on a batch seeded with seed.

    Writes into a temporary folder beside out and renames it at the end,
    replacing out if it exists (the caller decides whether that is allowed).
    Returns the metadata dict.
    """
    import keras
    import numpy as np
    import tensorflow as tf

    meta_extra = dict(meta_extra)
    weights = meta_extra.pop("weights")
    prep = meta_extra.pop("preprocessing")
    cuts = meta_extra.pop("cuts")
    weights["sha256"] = fingerprint(model)
    endpoints = dict(endpoints)
    for cut in cuts:  # the cut's input activation is an endpoint too
        below = cut_input(model, cut)
        endpoints.setdefault(below, below)

    h, w, c = model.input_shape[1:]
    spec = tf.TensorSpec([None, h, w, c], tf.float32, name="images")
    archive = keras.export.ExportArchive()
    # No archive.track(model): Keras 3.8 would then save every weight twice
    # (as the Keras variable and as the tf.Variable the endpoints capture),
    # doubling the files and the memory the Go side needs to load them. The
    # endpoints capture all the variables they use by themselves.
    subs = {}
    meta_endpoints = {}
    for name, layer in endpoints.items():
        sub = keras.Model(model.input, model.get_layer(layer).output)
        subs[name] = sub
        archive.add_endpoint(name, endpoint_fn(name, sub), [spec])
        meta_endpoints[name] = {"layer": layer, "shape": [None] + list(sub.output_shape[1:])}

    # Write into a temporary folder beside the target and rename at the end,
    # so an interrupted export never leaves a half-written model behind.
    parent = os.path.dirname(out)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="." + os.path.basename(out) + ".", dir=parent)
    os.chmod(tmp, 0o755)
    try:
        archive.write_out(tmp, verbose=False)
        fine_tune = fine_tune_layers(model, archive, cuts, tmp)
        meta = {
            "format": FORMAT,
            "architecture": meta_extra.pop("architecture"),
            "weights": weights,
            "params": int(model.count_params()),
            "input": {
                "signature_key": "images",
                "dtype": "float32",
                "shape": [None, h, w, c],
                "layout": "NHWC",
                "preprocessing": prep,
            },
            "endpoints": meta_endpoints,
            "default_endpoint": next(iter(endpoints)),
            "fine_tune": fine_tune,
            "tags": ["serve"],
            "versions": {
                "tensorflow": tf.__version__,
                "keras": keras.__version__,
                "python": sys.version.split()[0],
            },
            "exported_by": meta_extra.pop("exported_by"),
        }
        meta.update(meta_extra)
        if golden_n > 0:
            write_golden(os.path.join(tmp, "golden"), model, subs, prep, golden_n, seed, np)
            meta["golden"] = {"n": golden_n, "seed": seed, "files": "golden/input.npy, golden/<endpoint>.npy"}
        with open(os.path.join(tmp, "metadata.json"), "w") as f:
            json.dump(meta, f, indent=2, sort_keys=True)
            f.write("\n")
        if os.path.exists(out):
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return meta


def cut_input(model, cut):
    """The name of the layer whose output is the input of layer cut.

    Fine-tuning from cut rebuilds the layers from cut up as one chain fed by
    that activation, so the model must be a chain from there on: each layer
    takes exactly the previous layer's output.
    """
    names = [l.name for l in model.layers]
    if cut not in names:
        fail(f"cut {cut!r}: the model has no such layer")
    i = names.index(cut)
    for j in range(i, len(names)):
        inbound = model.layers[j]._inbound_nodes[0].parent_nodes
        if len(inbound) != 1 or inbound[0].operation.name != names[j - 1]:
            fail(f"cut {cut!r}: layer {names[j]} does not take only {names[j - 1]}'s output; "
                 "fine-tuning needs a chain of layers above the cut")
    return names[i - 1]


def fine_tune_layers(model, archive, cuts, folder):
    """metadata.json's "fine_tune": for each cut, the endpoint of its input
    activation and every layer from the cut to the model's output, in order:
    its Keras class, name, config (get_config()) and, for each weight, the
    key under which the SavedModel's variables/ checkpoint holds it (Keras'
    export names them "_all_variables/<i>/.ATTRIBUTES/VARIABLE_VALUE") and
    whether Keras trains it.

    Every key is read back from the written checkpoint and compared with the
    layer's weight, so a wrong mapping fails the export, not a run.
    """
    import numpy as np
    import tensorflow as tf

    index = {id(v): i for i, v in enumerate(archive._tf_trackable._all_variables)}
    reader = tf.train.load_checkpoint(os.path.join(folder, "variables", "variables"))
    names = [l.name for l in model.layers]
    out = {}
    for cut in cuts:
        layers = []
        for layer in model.layers[names.index(cut):]:
            ws = []
            for w in layer.weights:
                i = index.get(id(w.value))
                if i is None:
                    fail(f"{layer.name}/{w.name}: not among the exported variables")
                key = f"_all_variables/{i}/.ATTRIBUTES/VARIABLE_VALUE"
                if not np.array_equal(reader.get_tensor(key), w.numpy()):
                    fail(f"{layer.name}/{w.name}: checkpoint key {key} holds another value")
                ws.append({"name": w.name, "key": key, "shape": list(w.shape), "trainable": bool(w.trainable)})
            layers.append({
                "name": layer.name,
                "class": type(layer).__name__,
                "config": json.loads(json.dumps(layer.get_config(), default=str)),
                "weights": ws,
            })
        out[cut] = {"input_endpoint": cut_input(model, cut), "layers": layers}
    return out


def endpoint_fn(name, sub):
    """The function behind one signature: images -> {name: features}.

    A closure rather than a lambda with default arguments: TensorFlow would
    record those defaults as extra, unencodable signature arguments.
    """

    def fn(images):
        return {name: sub(images, training=False)}

    return fn


def preprocess_pixels(pixels, prep, np):
    """Applies an input.preprocessing contract to RGB pixels in 0..255 (NHWC).

    The same arithmetic the Go side does before the model; used here to draw
    golden inputs that look like real, preprocessed images.
    """
    mode = prep["mode"]
    if mode == "caffe":
        # RGB->BGR, per-channel mean subtracted, no scaling: about [-124, 152].
        x = pixels[..., ::-1] - np.array(prep["mean"], dtype=np.float32)
    elif mode == "tf":
        x = pixels / np.float32(127.5) - np.float32(1.0)  # [-1, 1]
    elif mode == "torch":
        x = (pixels / np.float32(255.0) - np.array(prep["mean"], dtype=np.float32)) / np.array(
            prep["std"], dtype=np.float32
        )
    elif mode == "none":
        x = pixels
    else:
        raise ValueError(f"unknown preprocessing mode {mode!r}")
    return np.ascontiguousarray(x, dtype=np.float32)


def write_golden(folder, model, subs, prep, n, seed, np):
    """Runs the Keras model itself on a seeded batch and stores inputs and outputs.

    subs: {endpoint name: Keras sub-model}. The inputs are uniform random
    pixels in 0..255 with the model's preprocessing applied.
    """
    os.makedirs(folder)
    rng = np.random.default_rng(seed)
    h, w, c = model.input_shape[1:]
    pixels = rng.integers(0, 256, size=(n, h, w, c)).astype(np.float32)
    x = preprocess_pixels(pixels, prep, np)
    np.save(os.path.join(folder, "input.npy"), x)
    for name, sub in subs.items():
        y = np.asarray(sub(x, training=False), dtype=np.float32)
        np.save(os.path.join(folder, f"{name}.npy"), y)


if __name__ == "__main__":
    main()
