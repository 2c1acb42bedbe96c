#!/usr/bin/env python3
"""Convert a SavedModel written by `pipeline export` to TFLite and ONNX.

`pipeline export -format tflite,onnx` (and export.formats at the end of a
run) runs this with the pinned venv; the Go command reports its errors.

  convert_export.py SAVEDMODEL OUT FORMAT[,FORMAT] [--manifest CSV] [--int8-max-drop POINTS]

SAVEDMODEL is an export folder (saved_model.pb, metadata.json); OUT an
empty folder that receives, per format:

  tflite  model.tflite       float32, from TensorFlow's TFLite converter
          model_int8.tflite  int8 weights and activations, calibrated on up to
                             100 training images of the run (--manifest), float
                             kernels where an op has no int8 one; without a
                             manifest, dynamic-range int8 (weights only).
                             Guarded: on the run's validation and training
                             images (up to 1,200), int8 must give float's
                             top-1 on all but --int8-max-drop percent of them
                             (default 1), which bounds the accuracy it can
                             lose; else the layers that quantize worst
                             (TFLite's QuantizationDebugger: RMSE over scale
                             on the calibration images) stay float, 1, 2, 4
                             then 8 of them, and then dynamic range is tried;
                             the first within the bound wins, else the one
                             that agrees most. metadata.json lists every
                             candidate tried.
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
import io
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
INT8_MAX_DROP = 1.0  # percent of guard images on which int8 may change float's top-1
GUARD_IMAGES = 1200  # validation images first, then training images
INT8_FLOAT_LAYERS = (1, 2, 4, 8)  # layers kept float, tried in turn
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
    train, val, test = ([(r["path"], int(r["label"])) for r in rows if r["split"] == split] for split in ("train", "val", "test"))
    step = max(1, len(train) // CALIBRATION_IMAGES)
    guard = (val + train)[:GUARD_IMAGES]
    return [r[0] for r in train[::step][:CALIBRATION_IMAGES]], guard, test


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


def top1(run, rows, h, w, resize, batch=32):
    return np.concatenate([run(load_images([r[0] for r in rows[i : i + batch]], h, w, resize)).argmax(1)
                           for i in range(0, len(rows), batch)])


def accuracy(run, test, h, w, resize):
    hits = int(np.sum(top1(run, test, h, w, resize) == np.array([r[1] for r in test])))
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


def tflite(src, out, labels, calib, guard, test, h, w, resize, reference, max_drop, files):
    def converter():
        return tf.lite.TFLiteConverter.from_saved_model(src, signature_keys=[SIGNATURE])

    def convert(c):
        try:
            return c.convert()
        except Exception as e:  # the converter's own error, condensed
            raise ConversionError("tflite: TensorFlow's TFLite converter failed: " + condense(str(e))) from e

    t0 = time.time()
    content = convert(converter())
    entry = {"format": "tflite", "file": "model.tflite", "mode": "float32", "bytes": len(content), "seconds": round(time.time() - t0, 2)}
    entry["max_abs_diff"] = max_diff(TFLite(content), reference)
    if entry["max_abs_diff"] > TOLERANCE:
        raise ConversionError(f"tflite: model.tflite differs from the SavedModel by {entry['max_abs_diff']:.3g} (want ≤ {TOLERANCE})")
    want = top1(TFLite(content), guard, h, w, resize) if guard else None
    write_tflite(out, entry, content, labels, test, h, w, resize, files)

    t0 = time.time()
    content, entry = int8(converter, convert, calib, guard, want, max_drop, (h, w, resize))
    entry.update({"format": "tflite", "file": "model_int8.tflite", "bytes": len(content), "seconds": round(time.time() - t0, 2)})
    entry["max_abs_diff"] = max_diff(TFLite(content), reference)
    write_tflite(out, entry, content, labels, test, h, w, resize, files)


def write_tflite(out, entry, content, labels, test, h, w, resize, files):
    content = add_tflite_labels(content, labels)
    entry["bytes"] = len(content)
    if test:
        entry["test"] = accuracy(TFLite(content), test, h, w, resize)
    with open(os.path.join(out, entry["file"]), "wb") as f:
        f.write(content)
    files.append(entry)


def int8(converter, convert, calib, guard, want, max_drop, size):
    """model_int8.tflite's bytes and metadata entry. Without calibration
    images: dynamic range. With them: full integer, guarded by agreement
    with the float file's top-1 (want) on the guard images (see the
    module's doc)."""

    def dynamic():
        c = converter()
        c.optimizations = [tf.lite.Optimize.DEFAULT]
        return convert(c)

    if calib is None:
        return dynamic(), {"mode": "int8 dynamic range (weights)"}

    def calibrated():
        c = converter()
        c.optimizations = [tf.lite.Optimize.DEFAULT]
        c.representative_dataset = lambda: ({"images": calib[i : i + 1]} for i in range(len(calib)))
        return c

    full = "int8 weights and activations (float kernels where an op has none)"
    content = convert(calibrated())
    if not guard:
        return content, {"mode": full, "calibration_images": len(calib)}

    tried, best = [], None
    enough = 1 - max_drop / 100

    def consider(content, mode, layers):
        nonlocal best
        agree = float(np.mean(top1(TFLite(content), guard, *size) == want))
        tried.append({"mode": mode, "float_layers": layers, "agreement": agree})
        if best is None or agree > best[0]:
            best = (agree, content, mode, layers)
        return agree >= enough

    if not consider(content, full, []):
        debug = tf.lite.experimental.QuantizationDebugger
        options = tf.lite.experimental.QuantizationDebugOptions
        samples = lambda: ([calib[i : i + 1]] for i in range(0, len(calib), 5))  # noqa: E731
        try:
            d = debug(converter=calibrated(), debug_dataset=samples)
            d.run()
            stats = io.StringIO()
            d.layer_statistics_dump(stats)
        except Exception as e:
            raise ConversionError("tflite: TFLite's quantization debugger failed: " + condense(str(e))) from e
        stats.seek(0)

        def error(r):  # RMSE in quantization steps; layers with no scale last
            scale = float(r["scale"])
            return np.sqrt(float(r["mean_squared_error"])) / scale if scale > 0 else 0.0

        layers = sorted(csv.DictReader(stats), key=error, reverse=True)
        done = False
        for k in INT8_FLOAT_LAYERS:
            if k > len(layers):
                break
            deny = [r["tensor_name"] for r in layers[:k]]
            content = debug(converter=calibrated(), debug_dataset=samples,
                            debug_options=options(denylisted_nodes=deny)).get_nondebug_quantized_model()
            if done := consider(content, f"int8 weights and activations, {k} layer(s) kept float", [n.split(";")[0] for n in deny]):
                break
        if not done:
            consider(dynamic(), "int8 dynamic range (weights)", [])
    agree, content, mode, names = best
    entry = {"mode": mode, "calibration_images": len(calib)}
    if names:
        entry["float_layers"] = names
    entry["guard"] = {"examples": len(guard), "agreement": agree, "max_drop_percent": max_drop, "tried": tried}
    return content, entry


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
    usage = "usage: convert_export.py SAVEDMODEL OUT FORMAT[,FORMAT] [--manifest CSV] [--int8-max-drop POINTS]"
    if len(argv) < 3 or len(argv) % 2 == 0:
        sys.exit(usage)
    src, out, formats = argv[0], argv[1], argv[2].split(",")
    flags = dict(zip(argv[3::2], argv[4::2]))
    if set(flags) - {"--manifest", "--int8-max-drop"}:
        sys.exit(usage)
    max_drop = float(flags.get("--int8-max-drop", INT8_MAX_DROP))
    for f in formats:
        if f not in ("tflite", "onnx"):
            raise ConversionError(f"unknown format {f!r}; want tflite or onnx")
    with open(os.path.join(src, "metadata.json")) as f:
        meta = json.load(f)
    classes = meta["classes"]
    _, h, w, _ = meta["input"]["shape"]
    resize = meta["input"]["encoded_resize"]
    calib, guard, test = None, [], []
    if "--manifest" in flags:
        train, guard, test = read_manifest(flags["--manifest"])
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
        tflite(src, out, labels, calib, guard, test, h, w, resize, (x, want), max_drop, files)
    if "onnx" in formats:
        onnx_export(src, out, classes, resize, (x, want), files)
    print(json.dumps({"files": files, "check_images": len(x)}))


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except ConversionError as e:
        print(e, file=sys.stderr)
        sys.exit(1)
