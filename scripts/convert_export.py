#!/usr/bin/env python3
"""Convert a SavedModel written by `pipeline export` to TFLite and ONNX.

`pipeline export -format tflite,onnx` (and export.formats at the end of a
run) runs this with the pinned venv; the Go command reports its errors.

  convert_export.py SAVEDMODEL OUT FORMAT[,FORMAT] [--manifest CSV]

SAVEDMODEL is an export folder (saved_model.pb, metadata.json); OUT an
empty folder that receives, per format:

  tflite  model.tflite       float32, from TensorFlow's TFLite converter
          model_int8.tflite  int8 weights and activations, calibrated on up to
                             100 training images of the run (--manifest), float
                             kernels where an op has no int8 one; without a
                             manifest, dynamic-range int8 (weights only)
  onnx    model.onnx         from tf2onnx, checked to load in onnxruntime
  labels.txt                 the class names, one a line, in label order

Each file carries the class names too: TFLite in the model's metadata
(entry "labels", the bytes of labels.txt), ONNX in metadata_props
("classes", a JSON list; "resize", how the run resized images). Input of every file: `images`, float32
[N, H, W, 3], RGB 0..255 (the SavedModel's serving_default). Neither format
can decode image bytes (no DecodeImage op), so classify_encoded stays with
the SavedModel.

Every converted file is checked against the SavedModel on the calibration
(or random) images before it counts: a converter that drops or changes an
op fails here, not in a user's app. With a manifest, the TFLite files'
accuracy on the run's test images is measured.

Prints one JSON line: {"files": [...], "check_images": n}. On failure,
prints the reason on stderr's last line and exits 1.
"""

import csv
import json
import os
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

SIGNATURE = "serving_default"
CALIBRATION_IMAGES = 100
CHECK_IMAGES = 16
TOLERANCE = 1e-4  # float files vs the SavedModel, max |Δ probability|
ONNX_OPSET = 17


class ConversionError(Exception):
    pass


def load_images(paths, h, w, resize):
    """RGB 0..255 float32 [N, h, w, 3], decoded and resized as the run does
    (PIL, as Keras' load_img; pipeline/images follows PIL exactly)."""
    from PIL import Image

    method = Image.NEAREST if resize == "nearest" else Image.BILINEAR
    out = np.empty((len(paths), h, w, 3), np.float32)
    for i, p in enumerate(paths):
        with Image.open(p) as im:
            out[i] = np.asarray(im.convert("RGB").resize((w, h), method), np.float32)
    return out


def read_manifest(path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    train = [r["path"] for r in rows if r["split"] == "train"]
    test = [(r["path"], int(r["label"])) for r in rows if r["split"] == "test"]
    step = max(1, len(train) // CALIBRATION_IMAGES)
    return train[::step][:CALIBRATION_IMAGES], test


class TFLite:
    def __init__(self, content):
        self.it = tf.lite.Interpreter(model_content=content, num_threads=os.cpu_count())
        runner = self.it.get_signature_runner(SIGNATURE)
        self.input = runner.get_input_details()["images"]["index"]
        self.probs = runner.get_output_details()["probabilities"]["index"]
        self.shape = None

    def __call__(self, x):
        if self.shape != x.shape:
            self.it.resize_tensor_input(self.input, x.shape)
            self.it.allocate_tensors()
            self.shape = x.shape
        self.it.set_tensor(self.input, x)
        self.it.invoke()
        return self.it.get_tensor(self.probs).copy()


def accuracy(run, test, h, w, resize, batch=32):
    hits = 0
    for i in range(0, len(test), batch):
        rows = test[i : i + batch]
        p = run(load_images([r[0] for r in rows], h, w, resize))
        hits += int(np.sum(p.argmax(1) == np.array([r[1] for r in rows])))
    return {"examples": len(test), "accuracy": hits / len(test)}


def add_tflite_labels(content, labels):
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils as fb

    model = fb.convert_bytearray_to_object(bytearray(content))
    buf = schema.BufferT()
    buf.data = np.frombuffer(labels, np.uint8)
    model.buffers.append(buf)
    meta = schema.MetadataT()
    meta.name, meta.buffer = "labels", len(model.buffers) - 1
    model.metadata = (model.metadata or []) + [meta]
    return bytes(fb.convert_object_to_bytearray(model))


def tflite(src, out, labels, calib, test, h, w, resize, reference, files):
    def convert(int8):
        c = tf.lite.TFLiteConverter.from_saved_model(src, signature_keys=[SIGNATURE])
        mode = "float32"
        if int8:
            c.optimizations = [tf.lite.Optimize.DEFAULT]
            mode = "int8 dynamic range (weights)"
            if calib is not None:
                c.representative_dataset = lambda: ({"images": calib[i : i + 1]} for i in range(len(calib)))
                mode = "int8 weights and activations (float kernels where an op has none)"
        t0 = time.time()
        try:
            content = c.convert()
        except Exception as e:  # the converter's own error, condensed
            raise ConversionError("tflite: TensorFlow's TFLite converter failed: " + condense(str(e))) from e
        return add_tflite_labels(content, labels), mode, time.time() - t0

    for name, int8 in (("model.tflite", False), ("model_int8.tflite", True)):
        content, mode, secs = convert(int8)
        run = TFLite(content)
        entry = {"format": "tflite", "file": name, "mode": mode, "bytes": len(content), "seconds": round(secs, 2)}
        entry["max_abs_diff"] = max_diff(run, reference)
        if not int8 and entry["max_abs_diff"] > TOLERANCE:
            raise ConversionError(f"tflite: {name} differs from the SavedModel by {entry['max_abs_diff']:.3g} (want ≤ {TOLERANCE})")
        if int8 and calib is not None:
            entry["calibration_images"] = len(calib)
        if test:
            entry["test"] = accuracy(run, test, h, w, resize)
        with open(os.path.join(out, name), "wb") as f:
            f.write(content)
        files.append(entry)


def onnx_export(src, out, classes, resize, reference, files):
    import onnx
    import onnxruntime as ort

    path = os.path.join(out, "model.onnx")
    t0 = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        raw = os.path.join(tmp, "model.onnx")
        cmd = [sys.executable, "-m", "tf2onnx.convert", "--saved-model", src, "--tag", "serve",
               "--signature_def", SIGNATURE, "--opset", str(ONNX_OPSET), "--output", raw]
        res = subprocess.run(cmd, capture_output=True, text=True)
        log = res.stdout + res.stderr
        # tf2onnx exits 0 with ops it could not convert left in the graph.
        bad = [l for l in log.splitlines() if " ERROR " in l or ("op [" in l and "is not supported" in l)]
        if res.returncode != 0 or bad or not os.path.exists(raw):
            raise ConversionError("onnx: tf2onnx failed: " + condense("\n".join(bad) or log))
        m = onnx.load(raw)
    # tf2onnx turns each PlaceholderWithDefault (the export's constant
    # divisors) into a graph input with an initializer as its default;
    # onnxruntime then warns that it cannot treat them as constants. Nothing
    # should override them: keep them as initializers only (what
    # onnxruntime's remove_initializer_from_input.py does).
    inits = {i.name for i in m.graph.initializer}
    inputs = [i for i in m.graph.input if i.name not in inits]
    del m.graph.input[:]
    m.graph.input.extend(inputs)
    del m.metadata_props[:]
    for k, v in (("classes", json.dumps(classes)), ("input", "images: float32 [N, H, W, 3], RGB 0..255"), ("resize", resize),
                 ("converted_by", "gotransfer scripts/convert_export.py (tf2onnx)")):
        p = m.metadata_props.add()
        p.key, p.value = k, v
    content = m.SerializeToString()
    secs = time.time() - t0
    try:
        sess = ort.InferenceSession(content, providers=["CPUExecutionProvider"])
    except Exception as e:
        raise ConversionError("onnx: onnxruntime refuses tf2onnx's file: " + condense(str(e))) from e
    diff = max_diff(lambda x: sess.run(["probabilities"], {"images": x})[0], reference)
    if diff > TOLERANCE:
        raise ConversionError(f"onnx: model.onnx differs from the SavedModel by {diff:.3g} (want ≤ {TOLERANCE})")
    with open(path, "wb") as f:
        f.write(content)
    files.append({"format": "onnx", "file": "model.onnx", "opset": ONNX_OPSET, "bytes": len(content),
                  "seconds": round(secs, 2), "max_abs_diff": diff})


def max_diff(run, reference):
    x, want = reference
    return float(np.abs(run(x) - want).max())


def condense(msg, lines=6):
    """The lines of a converter's message that say what went wrong."""
    all_lines = [l.strip() for l in msg.splitlines() if l.strip()]
    errs = [l for l in all_lines if "error" in l.lower() or "not supported" in l or "failed" in l.lower()]
    return " | ".join((errs or all_lines)[-lines:])[:2000]


def main(argv):
    if len(argv) not in (3, 5) or (len(argv) == 5 and argv[3] != "--manifest"):
        sys.exit("usage: convert_export.py SAVEDMODEL OUT FORMAT[,FORMAT] [--manifest CSV]")
    src, out, formats = argv[0], argv[1], argv[2].split(",")
    for f in formats:
        if f not in ("tflite", "onnx"):
            raise ConversionError(f"unknown format {f!r}; want tflite or onnx")
    with open(os.path.join(src, "metadata.json")) as f:
        meta = json.load(f)
    classes = meta["classes"]
    _, h, w, _ = meta["input"]["shape"]
    resize = meta["input"]["encoded_resize"]
    calib, test = None, []
    if len(argv) == 5:
        train, test = read_manifest(argv[4])
        if train:
            calib = load_images(train, h, w, resize)
    x = calib[:CHECK_IMAGES] if calib is not None else np.random.RandomState(0).uniform(0, 255, (CHECK_IMAGES, h, w, 3)).astype(np.float32)
    try:
        sig = tf.saved_model.load(src).signatures[SIGNATURE]
        want = sig(images=tf.constant(x))["probabilities"].numpy()
    except Exception as e:
        raise ConversionError(f"the SavedModel {src} does not run: " + condense(str(e))) from e
    labels = ("\n".join(classes) + "\n").encode()
    with open(os.path.join(out, "labels.txt"), "wb") as f:
        f.write(labels)
    files = []
    if "tflite" in formats:
        tflite(src, out, labels, calib, test, h, w, resize, (x, want), files)
    if "onnx" in formats:
        onnx_export(src, out, classes, resize, (x, want), files)
    print(json.dumps({"files": files, "check_images": len(x)}))


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except ConversionError as e:
        print(e, file=sys.stderr)
        sys.exit(1)
