#!/usr/bin/env bash
# Exports every model of a finished run in each format (SavedModel, TFLite
# float32 and int8, ONNX) and prints one table per model: file sizes,
# conversion times, the TFLite files' test accuracy (measured by the
# conversion on the whole test split, written to the export's
# metadata.json), and each runtime's images per second on the run's test
# images (scripts/check_export.py speed). Usage:
#
#   bash scripts/export_formats.sh RUN [N]    # N test images for the speed (default 1000)
#
# The exports go to bench/export-formats/<model> (ignored by git) and are
# replaced on each call. All numbers come from one call on one machine:
# compare rows with each other, not with another machine's.
set -euo pipefail
cd "$(dirname "$0")/.."

run=${1:?usage: bash scripts/export_formats.sh RUN [N]}
n=${2:-1000}
[ -f "$run/manifest.csv" ] || { echo "export_formats: $run has no manifest.csv: not a finished run folder" >&2; exit 1; }
py=.venv/bin/python
out=bench/export-formats
mkdir -p "$out" bin
go build -o bin/pipeline ./pipeline

echo "CPU: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; flags: $(grep -o -w -E 'avx2|avx512f|avx512_bf16|avx512_vnni|amx_bf16|amx_int8' /proc/cpuinfo | sort -u | tr '\n' ' ')"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg); run: $run; speed on the first $n test images"
for dir in "$run"/models/*/; do
	model=$(basename "$dir")
	dest="$out/$model"
	t0=$(date +%s.%N)
	bin/pipeline export -run "$run" -model "$model" -out "$dest" -force -format savedmodel,tflite,onnx >/dev/null
	t1=$(date +%s.%N)
	speed=$("$py" scripts/check_export.py speed "$dest" "$run/manifest.csv" "$n")
	"$py" - "$dest" "$model" "$t0" "$t1" "$speed" <<'PY'
import json, os, sys

dest, model, speed = sys.argv[1], sys.argv[2], json.loads(sys.argv[5])
total = float(sys.argv[4]) - float(sys.argv[3])
meta = json.load(open(os.path.join(dest, "metadata.json")))
conv = {f["file"]: f for f in meta["converted"]}
sm = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(dest) for f in fs
         if os.path.relpath(os.path.join(r, f), dest) in ("saved_model.pb",) or r.startswith(os.path.join(dest, "variables")))
acc = meta.get("test", {}).get("accuracy")
print(f"\n### {model}\n")
print(f"`pipeline export -format savedmodel,tflite,onnx`: {total:.1f} s in all; {speed['images']} test images for the speed, load {speed['load']:.2f}\n")
print("| file | bytes | conversion (s) | test accuracy | max \\|Δp\\| vs SavedModel | runtime: images/s |")
print("|---|---:|---:|---:|---:|---|")
def pct(a):
    return f"{100 * a:.2f}%" if a is not None else "–"
print(f"| SavedModel | {sm:,} | – | {pct(acc)} (the run's) | – | TensorFlow, batch 32: {speed['savedmodel_tf_batch32']} |")
for name in ("model.tflite", "model_int8.tflite", "model.onnx"):
    f = conv[name]
    rt = {"model.tflite": f"TFLite interpreter, batch 1: {speed['model.tflite_batch1']}",
          "model_int8.tflite": f"TFLite interpreter, batch 1: {speed['model_int8.tflite_batch1']}",
          "model.onnx": f"onnxruntime, batch 1: {speed['model.onnx_batch1']}; batch 32: {speed['model.onnx_batch32']}"}[name]
    print(f"| {name} ({f.get('mode', 'opset %s' % f.get('opset'))}) | {f['bytes']:,} | {f['seconds']} | {pct(f.get('test', {}).get('accuracy'))} | {f['max_abs_diff']:.2g} | {rt} |")
PY
done
