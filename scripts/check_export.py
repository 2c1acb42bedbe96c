#!/usr/bin/env python3
"""Use a SavedModel written by `pipeline export` the way a Python user would,
with no code from this project: only TensorFlow and Keras.

  check_export.py probs DIR IMAGES.npy OUT.npy [DIR IMAGES.npy OUT.npy ...]
      IMAGES.npy: float32 [N, H, W, 3] (or flat), RGB 0..255. Runs
      tf.saved_model.load(DIR).signatures["serving_default"] and, in a fresh
      Keras model, keras.layers.TFSMLayer(DIR, call_endpoint="serving_default").
      Writes the probabilities of both to OUT.npy ([2, N, classes]) and prints
      the top-1 classes of the signature as JSON, one line per DIR.

  check_export.py converted DIR IMAGES.npy OUT.npy [DIR IMAGES.npy OUT.npy ...]
      Runs DIR's model.tflite and model_int8.tflite in TensorFlow's TFLite
      interpreter and model.onnx in onnxruntime (one image at a time, as an
      app does) and writes their probabilities to OUT.npy ([3, N, classes]);
      prints the class names each file carries as JSON, one line per DIR.

  check_export.py speed DIR MANIFEST.csv [N]
      Images per second of each runtime on the first N (default all) test
      images of a run's manifest, decoded beforehand: the SavedModel in
      TensorFlow (batches of 32), model.tflite and model_int8.tflite in the
      TFLite interpreter and model.onnx in onnxruntime (one image per call,
      as an app does, and batches of 32 for onnxruntime). Prints JSON.

  check_export.py accuracy DIR MANIFEST.csv
      Test accuracy recomputed from the export: every test row of a run's
      manifest, loaded as Keras' load_img does (PIL, nearest, the model's
      input size), through serving_default. Prints JSON.
"""

import csv
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402


def probs(export_dir, images_path, out_path):
    import keras

    sig = tf.saved_model.load(export_dir).signatures["serving_default"]
    h, w = sig.structured_input_signature[1]["images"].shape[1:3]
    x = np.load(images_path).astype(np.float32).reshape(-1, h, w, 3)
    out = sig(images=tf.constant(x))
    p_sig = out["probabilities"].numpy()
    top = [c.decode() for c in out["top_k_classes"].numpy()[:, 0]]

    inp = keras.Input(shape=x.shape[1:], name="images")
    layer = keras.layers.TFSMLayer(export_dir, call_endpoint="serving_default")
    model = keras.Model(inp, layer(inp))
    p_keras = np.asarray(model.predict(x, verbose=0)["probabilities"])
    np.save(out_path, np.stack([p_sig, p_keras]).astype(np.float32))
    print(json.dumps({"top1": top}))


def converted(export_dir, images_path, out_path):
    import onnxruntime as ort
    from tensorflow.lite.tools import flatbuffer_utils as fb

    meta = json.load(open(os.path.join(export_dir, "metadata.json")))
    _, h, w, _ = meta["input"]["shape"]
    x = np.load(images_path).astype(np.float32).reshape(-1, h, w, 3)
    probs, labels = [], {}
    for name in ("model.tflite", "model_int8.tflite"):
        path = os.path.join(export_dir, name)
        run = tf.lite.Interpreter(model_path=path).get_signature_runner("serving_default")
        probs.append(np.concatenate([run(images=x[i : i + 1])["probabilities"] for i in range(len(x))]))
        model = fb.read_model(path)
        entry = [m for m in model.metadata if m.name.decode() == "labels"][0]
        labels[name] = bytes(model.buffers[entry.buffer].data).decode().split("\n")[:-1]
    sess = ort.InferenceSession(os.path.join(export_dir, "model.onnx"), providers=["CPUExecutionProvider"])
    probs.append(np.concatenate([sess.run(["probabilities"], {"images": x[i : i + 1]})[0] for i in range(len(x))]))
    props = {p.key: p.value for p in __import__("onnx").load(os.path.join(export_dir, "model.onnx")).metadata_props}
    labels["model.onnx"] = json.loads(props["classes"])
    np.save(out_path, np.stack(probs).astype(np.float32))
    print(json.dumps(labels))


def speed(export_dir, manifest, n=None):
    import time

    import onnxruntime as ort
    from PIL import Image

    meta = json.load(open(os.path.join(export_dir, "metadata.json")))
    _, h, w, _ = meta["input"]["shape"]
    method = Image.NEAREST if meta["input"]["encoded_resize"] == "nearest" else Image.BILINEAR
    rows = [r for r in csv.DictReader(open(manifest)) if r["split"] == "test"][: int(n) if n else None]
    x = np.stack([np.asarray(Image.open(r["path"]).convert("RGB").resize((w, h), method), np.float32) for r in rows])
    res = {"images": len(x), "cpus": os.cpu_count(), "load": os.getloadavg()[0]}

    def timed(name, fn, batch):
        t0 = time.time()
        for i in range(0, len(x), batch):
            fn(x[i : i + batch])
        res[name] = round(len(x) / (time.time() - t0), 1)

    sig = tf.saved_model.load(export_dir).signatures["serving_default"]
    timed("savedmodel_tf_batch32", lambda b: sig(images=tf.constant(b)), 32)
    for name in ("model.tflite", "model_int8.tflite"):
        run = tf.lite.Interpreter(model_path=os.path.join(export_dir, name), num_threads=os.cpu_count()).get_signature_runner("serving_default")
        timed(name + "_batch1", lambda b: run(images=b), 1)
    sess = ort.InferenceSession(os.path.join(export_dir, "model.onnx"), providers=["CPUExecutionProvider"])
    timed("model.onnx_batch1", lambda b: sess.run(["probabilities"], {"images": b}), 1)
    timed("model.onnx_batch32", lambda b: sess.run(["probabilities"], {"images": b}), 32)
    print(json.dumps(res))


def accuracy(export_dir, manifest):
    from keras.utils import img_to_array, load_img

    sig = tf.saved_model.load(export_dir).signatures["serving_default"]
    h, w = sig.structured_input_signature[1]["images"].shape[1:3]
    with open(os.path.join(export_dir, "assets", "labels.txt")) as f:
        labels = f.read().split("\n")[:-1]
    rows = [r for r in csv.DictReader(open(manifest)) if r["split"] == "test"]
    hits = 0
    for i in range(0, len(rows), 64):
        batch = rows[i : i + 64]
        x = np.stack([img_to_array(load_img(r["path"], target_size=(h, w))) for r in batch])
        p = sig(images=tf.constant(x, tf.float32))["probabilities"].numpy()
        hits += sum(labels[j] == r["class"] for j, r in zip(p.argmax(1), batch))
    print(json.dumps({"examples": len(rows), "correct": int(hits), "accuracy": hits / len(rows)}))


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd in ("probs", "converted"):
        for i in range(0, len(args), 3):
            {"probs": probs, "converted": converted}[cmd](*args[i : i + 3])
    elif cmd == "speed":
        speed(*args)
    else:
        accuracy(*args)
