#!/usr/bin/env python3
"""Build the backbones the tests use that scripts/export_backbone.py --arch
does not: what a user brings.

Into --out (set-up uses savedmodels/apps), each only when it is not there yet:
  user-cnn.keras      a small Keras 3 model file, as a user's own trained
                      model (random weights, seeded), and user-cnn/, its
                      export through export_backbone.py --keras ... --endpoint features
                      (exported again when its metadata.json predates
                      fine-tuning cuts, "cuts")
  resnet50-export/    keras.applications.ResNet50(weights=None).export(...):
                      what the Keras docs tell a user to do; no metadata.json
  uint8-module/       tf.saved_model.save of a tf.Module whose serving_default
                      takes uint8 pixels of any height and width and returns
                      two outputs (features, logits); no metadata.json
  vector-module/      a SavedModel with no image signature (its input is a
                      [batch, 10] vector), for the tests of that error

The two SavedModels without metadata.json get golden/input.npy (float32
pixels or preprocessed values) and golden/<signature>[_<output>].npy,
computed in Python, for the Go tests to compare with.

Example:
  .venv/bin/python scripts/plain_savedmodels.py --out savedmodels/apps
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def atomic(out, build):
    """Runs build(tmp) in a temporary folder beside out, then renames it."""
    if os.path.exists(out):
        print(f"plain_savedmodels: {out} up to date")
        return
    parent = os.path.dirname(os.path.abspath(out))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="." + os.path.basename(out) + ".", dir=parent)
    os.chmod(tmp, 0o755)
    try:
        build(tmp)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    print(f"plain_savedmodels: wrote {out}")


def user_cnn(out_dir):
    """A user's own small Keras model, saved as .keras, then exported."""
    path = os.path.join(out_dir, "user-cnn.keras")
    export = os.path.join(out_dir, "user-cnn")
    meta = os.path.join(export, "metadata.json")
    current = False  # an export from before fine-tuning cuts is redone
    if os.path.exists(meta):
        with open(meta) as f:
            current = '"cuts"' in f.read()
    if os.path.exists(path) and current:
        print(f"plain_savedmodels: {path} and {export} up to date")
        return
    import keras
    from keras import layers

    if not os.path.exists(path):
        keras.utils.set_random_seed(3)
        x = inp = keras.Input((64, 64, 3), name="pixels")
        x = layers.Rescaling(1 / 255.0, name="rescale")(x)
        x = layers.Conv2D(8, 3, strides=2, activation="relu", name="conv1")(x)
        x = layers.BatchNormalization(name="bn1")(x)
        x = layers.Conv2D(16, 3, strides=2, activation="relu", name="conv2")(x)
        x = layers.GlobalAveragePooling2D(name="features")(x)
        x = layers.Dense(5, activation="softmax", name="scores")(x)
        model = keras.Model(inp, x, name="user_cnn")
        tmp = path + ".tmp.keras"
        model.save(tmp)
        os.replace(tmp, path)
    shutil.rmtree(export, ignore_errors=True)
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "export_backbone.py")
    subprocess.run([sys.executable, script, "--keras", path, "--endpoint", "features", "--endpoint", "conv2",
                    "--preprocess", "none", "--golden", "2", "--out", export], check=True)


def resnet50_export(tmp):
    """ResNet50 with random weights through model.export(), as the Keras
    docs show; golden: a caffe-preprocessed batch of 2 and its output."""
    import keras
    import numpy as np

    keras.utils.set_random_seed(4)
    model = keras.applications.ResNet50(weights=None)
    model.export(tmp, verbose=False)
    rng = np.random.default_rng(4)
    pixels = rng.integers(0, 256, size=(2, 224, 224, 3)).astype(np.float32)
    x = keras.applications.resnet50.preprocess_input(pixels.copy())
    golden = os.path.join(tmp, "golden")
    os.makedirs(golden)
    np.save(os.path.join(golden, "input.npy"), np.ascontiguousarray(x, dtype=np.float32))
    np.save(os.path.join(golden, "serving_default.npy"), np.asarray(model(x, training=False), dtype=np.float32))


def uint8_module(tmp):
    """A tf.Module taking uint8 images of any size: two outputs."""
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(5)

    class Net(tf.Module):
        def __init__(self):
            super().__init__()
            self.kernel = tf.Variable(rng.normal(0, 0.3, (3, 3, 3, 8)).astype(np.float32), name="kernel")
            self.dense = tf.Variable(rng.normal(0, 0.3, (8, 4)).astype(np.float32), name="dense")

        @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8, name="pixels")])
        def serve(self, pixels):
            x = tf.cast(pixels, tf.float32) / 255.0
            x = tf.nn.relu(tf.nn.conv2d(x, self.kernel, strides=2, padding="SAME"))
            features = tf.reduce_mean(x, axis=[1, 2])
            return {"features": features, "logits": tf.matmul(features, self.dense)}

    net = Net()
    tf.saved_model.save(net, tmp, signatures={"serving_default": net.serve.get_concrete_function()})
    pixels = rng.integers(0, 256, size=(2, 40, 48, 3)).astype(np.uint8)
    out = net.serve(tf.constant(pixels))
    golden = os.path.join(tmp, "golden")
    os.makedirs(golden)
    np.save(os.path.join(golden, "input.npy"), pixels.astype(np.float32))
    for k, v in out.items():
        np.save(os.path.join(golden, f"serving_default_{k}.npy"), v.numpy().astype(np.float32))


def vector_module(tmp):
    """A SavedModel whose only signature takes vectors, not images."""
    import tensorflow as tf

    class Net(tf.Module):
        def __init__(self):
            super().__init__()
            self.w = tf.Variable(tf.ones([10, 2]), name="w")

        @tf.function(input_signature=[tf.TensorSpec([None, 10], tf.float32, name="x")])
        def serve(self, x):
            return {"y": tf.matmul(x, self.w)}

    net = Net()
    tf.saved_model.save(net, tmp, signatures={"serving_default": net.serve.get_concrete_function()})


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="folder to write into")
    args = p.parse_args()
    os.makedirs(args.out, exist_ok=True)
    user_cnn(args.out)
    atomic(os.path.join(args.out, "resnet50-export"), resnet50_export)
    atomic(os.path.join(args.out, "uint8-module"), uint8_module)
    atomic(os.path.join(args.out, "vector-module"), vector_module)


if __name__ == "__main__":
    main()
