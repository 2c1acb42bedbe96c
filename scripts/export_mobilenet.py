#!/usr/bin/env python3
"""Export a real, ImageNet-pretrained MobileNet v1 as a SavedModel, offline.

No registry package ships Keras' ImageNet weights, and nothing else can be
downloaded here, but PyPI's `nudity==0.2.3` (MIT licence) carries a frozen
TensorFlow graph, nudity/files/retrained_graph.pb, made by TensorFlow's
retrain.py ("TensorFlow for Poets") from Google's mobilenet_v1_1.0_224:
the whole network up to and including the 1001-way ImageNet logits layer is
the original one (retrain.py caches those "bottleneck" outputs and never
trains them); it only added one layer on top (final_training_ops: 1001
ImageNet logits -> 2 classes, softmax). The package carries no LICENSE file;
its metadata (PKG-INFO) says MIT. The MobileNet weights inside are Google's,
released with TensorFlow's models repository under Apache-2.0. This script

  1. gets the sdist with the venv's own pip (`pip download nudity==0.2.3
     --no-deps --no-binary :all:`) into cache/pypi/ (reused when present),
     and checks the sha256 of the sdist and of the graph file;
  2. parses the GraphDef and copies its constants, layer by layer, into
     keras.applications.MobileNet(alpha=1.0, input_shape=(224, 224, 3),
     include_top=False, weights=None), plus the two dense layers on top;
     every weight of the graph is used exactly once;
  3. runs the frozen graph itself and the Keras model on the same inputs and
     fails unless they agree (global_pool, ImageNet logits, the package's
     own softmax);
  4. exports it with export_backbone.export (same conventions: one signature
     per endpoint, float32 NHWC "images" in, {endpoint: tensor} out, plus
     metadata.json and, with --golden N, golden/*.npy).

Endpoints (first one = serving_default):
  predictions      [N, 2]  the package's own head, softmax over 2 classes;
                           index 1 is what the package's Nudity.score()
                           returns ("nudity score"), index 0 its complement.
                           The package ships no label file.
  global_pool      [N, 1024] global average pool of conv_pw_13_relu (the
                           graph's MobilenetV1/Logits/AvgPool_1a, 7x7 VALID on
                           7x7). The feature vector for transfer learning.
  conv_pw_13_relu  [N, 7, 7, 1024] the last convolutional feature map.
The 1001-way ImageNet logits are a layer of the model ("imagenet_logits",
index 0 = background, 1..1000 = the ImageNet classes in the usual synset
order, i.e. Keras' index + 1) but no endpoint.

Input contract: float32 NHWC [N, 224, 224, 3], RGB, "tf" preprocessing:
x / 127.5 - 1, i.e. [-1, 1]. The graph has no normalisation ops: its
"input" placeholder feeds Conv2d_0 directly, and retrain.py trained it with
input_mean = input_std = 127.5 for MobileNet (TF-slim's own [-1, 1]
convention). (The package's Python wrapper feeds (x - 128) / 128 instead, a
difference of at most 1/128 per value.) Preprocessing is done in Go before
the model; the SavedModel contains none, so nothing is applied twice.

Verified (TF 2.18.1 / Keras 3.8.0 on CPU). The first two are rerun by
every export, which prints them and writes them into metadata.json
("weights.verification"); the last two were done by hand, once:
  * Conversion: the Keras model vs. the package's frozen graph run as is, on
    6 seeded inputs (4 uniform-noise images, 2 smooth ones): max abs diff
    global_pool 2.1e-05 (values up to 6), ImageNet logits 2.3e-05,
    predictions 3.6e-07.
  * The weights are trained, not an initialisation: conv1's 3x3 filters are
    smooth (correlation of horizontally adjacent taps 0.37, Keras' random
    initialisation -0.04), and the BatchNorm moving means are far from
    their initial 0 (mean |moving mean| 1.6).
  * ImageNet: the graph's own ImageNet logits (the Keras port gives the same
    top-5) on 6 labelled photos that ship in packages (5 from scikit-image's
    skimage/data, 1 from golang.org/x/image's testdata): top-1 5/6, top-5
    6/6 (cat -> Egyptian cat, espresso -> espresso 0.97, cameraman ->
    tripod 1.00, ...); a randomly initialised MobileNet: 0/6, 0/6. Details
    in IMAGENET_CHECK below.
  * Fashion-MNIST transfer (1,000 images, 500/500 split): logistic
    regression on global_pool features 0.838 accuracy, vs 0.736 with a
    randomly initialised MobileNet and 0.774 on raw pixels. Details in
    FASHION_CHECK below.

Examples:
  scripts/export_mobilenet.py --out savedmodels/mobilenet --golden 4
  scripts/export_mobilenet.py --out savedmodels/mobilenet --golden 4 --force
  scripts/export_mobilenet.py --sdist /path/to/nudity-0.2.3.tar.gz ...   (no PyPI)

Rerunning with the same arguments is a no-op when the export is there and was
made by the same arguments, TensorFlow and Keras (use --force to redo it).
"""

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import export_backbone  # noqa: E402  (scripts/ is not a package)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

PACKAGE = "nudity"
VERSION = "0.2.3"
SDIST = f"{PACKAGE}-{VERSION}.tar.gz"
SDIST_SHA256 = "d26e10346f00ad76b1166a221f1b56877d154ca343e82c6e6c8e738ca5f27d5f"
GRAPH_MEMBER = f"{PACKAGE}-{VERSION}/nudity/files/retrained_graph.pb"
GRAPH_SHA256 = "3b90af536f810f5f75e9f6d431bc2e8a3c4fc2ff4f693aa0dd4ae429816f8735"
PKG_INFO_MEMBER = f"{PACKAGE}-{VERSION}/PKG-INFO"

ENDPOINTS = {  # endpoint name: Keras layer name; the first is serving_default
    "predictions": "predictions",
    "global_pool": "global_pool",
    "conv_pw_13_relu": "conv_pw_13_relu",
}

# Layers fine-tuning may start from (see export_backbone.fine_tune_layers),
# the default (fine_tune_from: auto) first: the last pointwise convolution,
# or the last depthwise one below it (each takes the whole state below it,
# as a cut must).
CUTS = ("conv_pw_13", "conv_dw_13")

# Graph tensors compared against the Keras layers of the same meaning.
GRAPH_OUTPUTS = {
    "global_pool": "MobilenetV1/Logits/AvgPool_1a/AvgPool:0",  # [N,1,1,1024]
    "imagenet_logits": "MobilenetV1/Predictions/Reshape:0",  # [N,1001]
    "predictions": "final_result:0",  # [N,2]
}
# Largest tolerated |keras - graph| relative to max |graph| per output.
# Observed: at most ~4e-6 (global_pool: 2.1e-05 on values up to 6), float32
# rounding from the two ways of computing BatchNorm and the pooling.
TOLERANCE = 1e-4

PREPROCESSING = {
    "mode": "tf",
    "channel_order": "RGB",
    "mean": [127.5, 127.5, 127.5],
    "scale": 1.0 / 127.5,
    "value_range": "RGB pixels 0..255 mapped to [-1, 1] as x/127.5 - 1 (what retrain.py and TF-slim "
    "used for MobileNet v1); the frozen graph has no normalisation ops of its own",
}

# Checked by hand, once (they need images and ImageNet class names that no
# package in requirements.txt ships); quoted in metadata.json.
IMAGENET_CHECK = (
    "the graph's own 1001-way ImageNet logits (and the Keras port's, same top-5) on 6 labelled photos "
    "(scikit-image 0.26 skimage/data: chelsea.png, coffee.png, rocket.jpg, motorcycle_left.png, camera.png; "
    "golang.org/x/image testdata go-turns-two-280x360.jpeg), centre-cropped, resized to 224x224 "
    "(bilinear), 'tf' preprocessing: top-1 5/6, top-5 6/6 (cat -> Egyptian cat 0.53, tabby 0.29; "
    "espresso cup -> espresso 0.97; rocket on its pad -> missile 0.53, projectile 0.26; motorcycle -> "
    "moped 0.63, motor scooter 0.36; cameraman -> tripod 1.00; gopher plush -> wool 0.35, teddy 0.21); "
    "a randomly initialised MobileNet with the same head: top-1 0/6, top-5 0/6 (near-uniform softmax)"
)
FASHION_CHECK = (
    "global_pool features of 1,000 data/fashion-mnist images (100 per class, 28x28 gray upscaled to "
    "224x224 RGB, 'tf' preprocessing), standardised, 500 train / 500 test: logistic regression 0.838 "
    "accuracy, nearest class mean 0.780, 1-NN 0.746; the same with a randomly initialised MobileNet: "
    "0.736 / 0.614 / 0.686; raw 28x28 pixels: 0.774 / 0.690 / 0.718"
)


def fail(msg):
    print(f"export_mobilenet: {msg}", file=sys.stderr)
    sys.exit(2)


def say(msg):
    print(f"export_mobilenet: {msg}", flush=True)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="savedmodels/mobilenet", help="output SavedModel folder")
    p.add_argument("--golden", type=int, default=0, help="write N golden inputs/outputs (0 = none)")
    p.add_argument("--seed", type=int, default=0, help="seed for the golden and check inputs")
    p.add_argument("--force", action="store_true", help="export even if an up-to-date export exists")
    p.add_argument(
        "--cache",
        default=os.path.join(ROOT, "cache", "pypi"),
        help="folder for the downloaded sdist (default: cache/pypi in the repository)",
    )
    p.add_argument("--sdist", help=f"use this local {SDIST} instead of downloading it")
    return p.parse_args()


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def obtain_sdist(args):
    """Returns the path of a verified nudity-0.2.3.tar.gz, downloading it if needed."""
    if args.sdist:
        path = args.sdist
        if not os.path.isfile(path):
            fail(f"--sdist {path}: no such file")
    else:
        path = os.path.join(args.cache, SDIST)
        if not (os.path.isfile(path) and sha256_file(path) == SDIST_SHA256):
            os.makedirs(args.cache, exist_ok=True)
            tmp = tempfile.mkdtemp(prefix=".pip-download.", dir=args.cache)
            try:
                # The venv's own pip, the sdist only (there is no wheel), no
                # dependencies (it would want a full tensorflow).
                cmd = [sys.executable, "-m", "pip", "download", f"{PACKAGE}=={VERSION}", "--no-deps",
                       "--no-binary", ":all:", "--disable-pip-version-check", "--quiet",
                       "--timeout", "30", "--retries", "2", "-d", tmp]
                say(f"downloading {SDIST} from PyPI: {' '.join(cmd[2:])}")
                r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                got = os.path.join(tmp, SDIST)
                if r.returncode != 0 or not os.path.isfile(got):
                    fail(
                        f"pip could not download {PACKAGE}=={VERSION} (exit {r.returncode}):\n{r.stdout.strip()}\n"
                        f"  Without PyPI, copy {SDIST} (sha256 {SDIST_SHA256}) to {path}\n"
                        f"  or pass --sdist /path/to/{SDIST}."
                    )
                os.replace(got, path)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
    digest = sha256_file(path)
    if digest != SDIST_SHA256:
        fail(f"{path}: sha256 {digest}, want {SDIST_SHA256} (not the published {SDIST}); delete it and rerun")
    return path


def read_package(sdist):
    """Returns (graph bytes, licence string) from the sdist, without unpacking it."""
    with tarfile.open(sdist, "r:gz") as tar:
        graph = tar.extractfile(GRAPH_MEMBER).read()
        pkg_info = tar.extractfile(PKG_INFO_MEMBER).read().decode("utf-8")
    digest = hashlib.sha256(graph).hexdigest()
    if digest != GRAPH_SHA256:
        fail(f"{GRAPH_MEMBER} in {sdist}: sha256 {digest}, want {GRAPH_SHA256}")
    licence = classifiers = None
    for line in pkg_info.splitlines():
        if line.startswith("License:"):
            licence = line.split(":", 1)[1].strip()
        elif line.startswith("Classifier: License ::"):
            classifiers = line.split(":", 1)[1].strip()
    if not licence:
        fail(f"{PKG_INFO_MEMBER}: no License field")
    return graph, f"{licence} (PKG-INFO License: {licence}; classifier {classifiers})"


def graph_constants(graph_def):
    from tensorflow.python.framework import tensor_util

    return {n.name: tensor_util.MakeNdarray(n.attr["value"].tensor) for n in graph_def.node if n.op == "Const"}


def build_model(keras):
    """MobileNet v1 1.0 224 without top, then the graph's two layers on top."""
    from keras import layers

    base = keras.applications.MobileNet(
        input_shape=(224, 224, 3), alpha=1.0, include_top=False, weights=None
    )
    x = layers.GlobalAveragePooling2D(name="global_pool")(base.output)
    x = layers.Dense(1001, name="imagenet_logits")(x)  # MobilenetV1/Logits/Conv2d_1c_1x1 (1x1 conv)
    x = layers.Dense(2, activation="softmax", name="predictions")(x)  # final_training_ops + final_result
    return keras.Model(base.input, x, name="mobilenet_v1_1.0_224_nudity")


def load_weights(model, consts):
    """Copies the graph's constants into the Keras model; every weight used once."""
    import numpy as np

    used = set()

    def take(name, shape):
        a = consts[name]
        if tuple(a.shape) != tuple(shape):
            fail(f"graph constant {name} has shape {a.shape}, Keras wants {tuple(shape)}")
        used.add(name)
        return a

    def set_conv_bn(keras_conv, keras_bn, scope, kernel_name):
        conv = model.get_layer(keras_conv)
        conv.set_weights([take(f"MobilenetV1/{scope}/{kernel_name}", conv.weights[0].shape)])
        bn = model.get_layer(keras_bn)
        eps = float(consts[f"MobilenetV1/MobilenetV1/{scope}/BatchNorm/batchnorm/add/y"])
        if abs(eps - bn.epsilon) > 1e-9:
            fail(f"{scope}: BatchNorm epsilon {eps} in the graph, {bn.epsilon} in Keras")
        used.add(f"MobilenetV1/MobilenetV1/{scope}/BatchNorm/batchnorm/add/y")
        # Keras order: gamma, beta, moving_mean, moving_variance.
        bn.set_weights(
            [take(f"MobilenetV1/{scope}/BatchNorm/{v}", w.shape)
             for v, w in zip(("gamma", "beta", "moving_mean", "moving_variance"), bn.weights)]
        )

    set_conv_bn("conv1", "conv1_bn", "Conv2d_0", "weights")
    for i in range(1, 14):
        set_conv_bn(f"conv_dw_{i}", f"conv_dw_{i}_bn", f"Conv2d_{i}_depthwise", "depthwise_weights")
        set_conv_bn(f"conv_pw_{i}", f"conv_pw_{i}_bn", f"Conv2d_{i}_pointwise", "weights")
    logits = model.get_layer("imagenet_logits")
    logits.set_weights([
        take("MobilenetV1/Logits/Conv2d_1c_1x1/weights", (1, 1, 1024, 1001)).reshape(1024, 1001),
        take("MobilenetV1/Logits/Conv2d_1c_1x1/biases", (1001,)),
    ])
    head = model.get_layer("predictions")
    head.set_weights([
        take("final_training_ops/weights/final_weights", (1001, 2)),
        take("final_training_ops/biases/final_biases", (2,)),
    ])
    # Everything left must be a shape or a scalar, not a weight we forgot.
    left = {k: v.shape for k, v in consts.items() if k not in used and np.asarray(v).size > 2}
    if left:
        fail(f"graph constants not mapped onto the Keras model: {left}")
    n_graph = sum(int(np.asarray(consts[k]).size) for k in used if not k.endswith("/add/y"))
    if n_graph != model.count_params():
        fail(f"graph has {n_graph} weights, the Keras model {model.count_params()}")
    return n_graph


def check_inputs(seed, np):
    """6 preprocessed images: 4 of uniform noise, 2 smooth (upsampled noise)."""
    rng = np.random.default_rng(seed + 1)
    noise = rng.integers(0, 256, size=(4, 224, 224, 3)).astype(np.float32)
    coarse = rng.integers(0, 256, size=(2, 7, 7, 3)).astype(np.float32)
    smooth = np.repeat(np.repeat(coarse, 32, axis=1), 32, axis=2)
    pixels = np.concatenate([noise, smooth])
    return export_backbone.preprocess_pixels(pixels, PREPROCESSING, np)


def run_graph(graph_def, x):
    """Runs the frozen graph on x (its own placeholder is batch 1: remapped)."""
    import tensorflow as tf

    g = tf.Graph()
    with g.as_default():
        inp = tf.compat.v1.placeholder(tf.float32, [None, 224, 224, 3], name="images")
        tf.compat.v1.import_graph_def(graph_def, input_map={"input:0": inp}, name="g")
        fetch = {k: g.get_tensor_by_name("g/" + v) for k, v in GRAPH_OUTPUTS.items()}
        with tf.compat.v1.Session(graph=g) as sess:
            out = sess.run(fetch, {inp: x})
    out["global_pool"] = out["global_pool"].reshape(len(x), 1024)
    return out


def check_conversion(model, graph_def, x, keras, np):
    graph_out = run_graph(graph_def, x)
    sub = keras.Model(model.input, [model.get_layer(k).output for k in GRAPH_OUTPUTS])
    keras_out = dict(zip(GRAPH_OUTPUTS, (np.asarray(y) for y in sub(x, training=False))))
    diffs = {}
    for k in GRAPH_OUTPUTS:
        d = float(np.max(np.abs(keras_out[k] - graph_out[k])))
        scale = float(np.max(np.abs(graph_out[k])))
        diffs[k] = d
        if not d <= TOLERANCE * max(scale, 1e-12):
            fail(f"Keras and the frozen graph disagree on {k}: max abs diff {d:.3g} (max |graph| {scale:.3g})")
    return diffs, graph_out


def filter_smoothness(kernel, np):
    """Correlation of horizontally adjacent taps of a [kh, kw, in, out] kernel."""
    a = kernel[:, :-1].ravel()
    b = kernel[:, 1:].ravel()
    return float(np.corrcoef(a, b)[0, 1])


def weight_statistics(model, keras, seed, np):
    """Numbers that tell trained weights from Keras' random initialisation."""
    keras.utils.set_random_seed(seed)
    fresh = keras.applications.MobileNet(input_shape=(224, 224, 3), include_top=False, weights=None)
    stats = {}
    for name, m in (("pretrained", model), ("random_init", fresh)):
        means = np.concatenate([l.moving_mean.numpy() for l in m.layers if isinstance(l, keras.layers.BatchNormalization)])
        stats[name] = {
            "conv1_adjacent_tap_correlation": round(filter_smoothness(m.get_layer("conv1").kernel.numpy(), np), 3),
            "bn_moving_mean_abs_mean": round(float(np.mean(np.abs(means))), 3),
        }
    return stats


def up_to_date(out, exported_by):
    """True if out holds an export made by these arguments with this TF/Keras."""
    try:
        with open(os.path.join(out, "metadata.json")) as f:
            meta = json.load(f)
    except (OSError, ValueError):
        return False
    import importlib.metadata as md

    try:
        tf_version = md.version("tensorflow-cpu")
    except md.PackageNotFoundError:
        tf_version = md.version("tensorflow")
    return (
        meta.get("exported_by") == exported_by
        and meta.get("weights", {}).get("file_sha256") == GRAPH_SHA256
        and meta.get("versions", {}).get("tensorflow") == tf_version
        and meta.get("versions", {}).get("keras") == md.version("keras")
        and meta.get("cuts") == list(CUTS)
        and set(meta.get("fine_tune", {})) == set(CUTS)
        and os.path.isfile(os.path.join(out, "saved_model.pb"))
    )


def older_export(out, exported_by):
    """True if out was exported by this script with these arguments before it
    recorded fine-tuning cuts as a graph (metadata.json without "cuts", the
    list of cuts that comes with each tail layer's "inputs"): set-up
    replaces such an export."""
    try:
        with open(os.path.join(out, "metadata.json")) as f:
            meta = json.load(f)
    except (OSError, ValueError):
        return False
    return meta.get("exported_by") == exported_by and "cuts" not in meta


def main():
    args = parse_args()
    out = os.path.abspath(args.out)
    exported_by = f"scripts/export_mobilenet.py --golden {args.golden} --seed {args.seed}"
    if os.path.exists(out) and not args.force:
        if up_to_date(out, exported_by):
            say(f"{args.out} is up to date ({exported_by}); nothing to do (--force redoes it)")
            return
        if older_export(out, exported_by):
            say(f"{args.out} was exported by an older version of this script (no fine-tuning cuts as a graph): exporting again")
        else:
            fail(f"{args.out} exists but was not exported by '{exported_by}' with this TensorFlow/Keras; "
                 "pass --force to overwrite")

    sdist = obtain_sdist(args)
    graph_bytes, licence = read_package(sdist)

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import numpy as np
    import tensorflow as tf

    graph_def = tf.compat.v1.GraphDef()
    graph_def.ParseFromString(graph_bytes)
    consts = graph_constants(graph_def)

    keras.utils.set_random_seed(args.seed)
    model = build_model(keras)
    n = load_weights(model, consts)

    x = check_inputs(args.seed, np)
    diffs, _ = check_conversion(model, graph_def, x, keras, np)
    stats = weight_statistics(model, keras, args.seed, np)
    pre, rnd = stats["pretrained"], stats["random_init"]
    checked = (
        f"Keras model vs the package's frozen graph on {len(x)} seeded inputs (TF {tf.__version__}): "
        + ", ".join(f"{k} max abs diff {v:.2g}" for k, v in diffs.items())
        + f". Weights are trained: conv1 adjacent-tap correlation {pre['conv1_adjacent_tap_correlation']}"
        f" (random init {rnd['conv1_adjacent_tap_correlation']}), mean |BN moving mean|"
        f" {pre['bn_moving_mean_abs_mean']} (random init {rnd['bn_moving_mean_abs_mean']})."
    )
    say(checked)
    verification = (
        f"{checked} ImageNet (by hand, once): {IMAGENET_CHECK}. Fashion-MNIST (by hand, once): {FASHION_CHECK}."
    )

    weights = {
        "source": f"pypi:{PACKAGE}=={VERSION}",
        "file": "nudity/files/retrained_graph.pb",
        "file_sha256": GRAPH_SHA256,
        "sdist_sha256": SDIST_SHA256,
        "licence": licence,
        "origin": "TensorFlow retrain.py on Google's mobilenet_v1_1.0_224 (ImageNet): conv base and "
        "1001-way ImageNet logits frozen as released; only final_training_ops (1001 -> 2) trained "
        "by the package's author",
        "verification": verification,
        "conversion_max_abs_diff": diffs,
        "weight_statistics": stats,
        "graph_weights": n,
    }
    meta = export_backbone.export(
        model,
        out,
        ENDPOINTS,
        {
            "cuts": CUTS,
            "architecture": "mobilenet_v1_1.0_224",
            "weights": weights,
            "preprocessing": PREPROCESSING,
            "exported_by": exported_by,
            "heads": {
                "predictions": "the nudity package's own 2-way softmax; index 1 = its nudity score "
                "(Nudity.score), index 0 = the complement; no label file ships",
                "imagenet_logits": "layer only, no endpoint: 1001 ImageNet logits, index 0 = background",
            },
        },
        golden_n=args.golden,
        seed=args.seed,
    )
    say(
        f"exported mobilenet_v1_1.0_224 ({weights['source']}, {meta['params']:,} params, "
        f"sha256 {weights['sha256'][:12]}) to {args.out}: endpoints "
        + ", ".join(f"{k} {v['shape']}" for k, v in meta["endpoints"].items())
    )


if __name__ == "__main__":
    main()
