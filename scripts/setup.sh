#!/usr/bin/env bash
# Set-up for gotransfer: everything `go run ./pipeline` and `go test ./...` need.
#
# Idempotent and safe to rerun: each step checks whether its result is already
# there and up to date, says what it does, and skips what is done.
#
#   1. Python venv (.venv) with one pinned TensorFlow CPU release and its Keras
#      (scripts/requirements.txt).
#   2. TensorFlow's C library and headers for Go, taken from that same wheel,
#      installed under $TF_PREFIX (default /usr/local, where the system linker,
#      compiler and loader look, as TensorFlow's own Go guide does), with the
#      libtensorflow.so name the Go binding links against. The C API symbols
#      are checked before anything else uses the library.
#      Beside it, onnxruntime's C library from the pinned onnxruntime wheel
#      (for examples/classify-onnx).
#   3. Go modules (exact versions pinned in go.mod / go.sum).
#   4. SavedModels the configs and tests need: tiny and vgg16-random (seeded
#      random weights, for tests), mobilenet (ImageNet-pretrained MobileNet v1
#      from the PyPI package nudity==0.2.3), vgg16 (ImageNet, only online),
#      and under savedmodels/apps the any-backbone tests' (random weights).
#   5. Data: Debian's dataset-fashion-mnist (apt) as class folders of PNGs.
#
# Environment:
#   TF_PREFIX=DIR   install the C library under DIR instead of /usr/local
#                   (no root needed; then export the variables it prints).
#   PYTHON=python3.11  the interpreter for the venv.
set -euo pipefail

cd "$(dirname "$0")/.."
root=$(pwd)
prefix=${TF_PREFIX:-/usr/local}
python=${PYTHON:-python3}
venv=$root/.venv
say() { printf '[setup] %s\n' "$*"; }
die() { printf '[setup] error: %s\n' "$*" >&2; exit 1; }
start=$(date +%s)

# --- 0. tools and system packages -------------------------------------------
bash scripts/install_system_packages.sh || die "system packages missing: see above"
for tool in "$python" go gcc nm; do
	command -v "$tool" >/dev/null || die "$tool not found: install it (Go >= 1.26, Python 3.11, gcc, binutils)"
done
pyver=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
[ "$pyver" = 3.11 ] || say "warning: $python is Python $pyver; the pinned TensorFlow wheel is tested with 3.11"

# --- 1. Python venv with pinned TensorFlow --------------------------------
req=scripts/requirements.txt
stamp=$venv/.requirements.sha256
want=$(sha256sum "$req" | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
	say "venv: .venv up to date with $req"
else
	say "venv: creating .venv and installing $req (TensorFlow CPU wheel, ~1.5 GB installed)"
	[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
	"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req"
	echo "$want" >"$stamp"
fi
tfdir=$("$venv/bin/python" -c 'import importlib.util as u, os; print(os.path.dirname(u.find_spec("tensorflow").origin))')
tfver=$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("tensorflow-cpu"))')
say "venv: tensorflow-cpu $tfver at $tfdir"

# --- 2. C library and headers for Go, from the same wheel -----------------
cc_lib=$tfdir/libtensorflow_cc.so.2
fw_lib=$tfdir/libtensorflow_framework.so.2
[ -f "$cc_lib" ] && [ -f "$fw_lib" ] || die "the wheel in .venv has no $cc_lib / $fw_lib: is it tensorflow-cpu for Linux x86_64?"

# The Go binding calls these; a wheel whose C API is not exported (or a
# different library) fails here instead of at link time.
# Exported names carry the version tag "@@tensorflow".
syms=$(nm -D --defined-only "$cc_lib" | grep -E ' T TF_(AddGradientsWithPrefix|LoadSessionFromSavedModel|SessionRun|NewGraph)(@|$)' || true)
for s in TF_AddGradientsWithPrefix TF_LoadSessionFromSavedModel TF_SessionRun TF_NewGraph; do
	grep -q " $s@" <<<"$syms" || grep -q " $s\$" <<<"$syms" || die "$cc_lib does not export $s: this wheel cannot serve the Go binding"
done
say "C API: $(grep -c . <<<"$syms") checked symbols exported by libtensorflow_cc.so.2 ($(nm -D --defined-only "$cc_lib" | grep -c ' T TF_') TF_* functions in all)"

lib=$prefix/lib
inc=$prefix/include
marker=$lib/libtensorflow.gotransfer
if [ -f "$marker" ] && [ "$(cat "$marker")" = "$tfver $(stat -c %s "$cc_lib")" ] && [ -e "$lib/libtensorflow.so" ]; then
	say "C library: $lib/libtensorflow.so ($tfver) already installed"
else
	[ -w "$prefix" ] || [ -w "$lib" ] || die "cannot write to $prefix: run as root, or set TF_PREFIX=\$HOME/.local"
	say "C library: installing TensorFlow $tfver C library into $lib and headers into $inc"
	mkdir -p "$lib" "$inc"
	# Copy, not link: the library must not vanish if .venv is rebuilt.
	install -m 0644 "$cc_lib" "$lib/libtensorflow_cc.so.2.tmp" && mv -f "$lib/libtensorflow_cc.so.2.tmp" "$lib/libtensorflow_cc.so.2"
	install -m 0644 "$fw_lib" "$lib/libtensorflow_framework.so.2.tmp" && mv -f "$lib/libtensorflow_framework.so.2.tmp" "$lib/libtensorflow_framework.so.2"
	ln -sf libtensorflow_cc.so.2 "$lib/libtensorflow.so"
	ln -sf libtensorflow_framework.so.2 "$lib/libtensorflow_framework.so"
	# Only the headers the C API includes (a few hundred KB of the wheel's 177 MB).
	printf '#include "tensorflow/c/c_api.h"\n#include "tensorflow/c/c_api_experimental.h"\n#include "tensorflow/c/eager/c_api.h"\n' >"$lib/.tf_headers.c"
	(cd "$tfdir/include" && gcc -I. -MM "$lib/.tf_headers.c" | tr ' \\' '\n\n' | grep -E '^(tensorflow|tsl|xla|third_party)/' | sort -u |
		while read -r h; do install -D -m 0644 "$h" "$inc/$h"; done)
	rm -f "$lib/.tf_headers.c"
	echo "$tfver $(stat -c %s "$cc_lib")" >"$marker"
	if [ "$prefix" = /usr/local ] && command -v ldconfig >/dev/null; then ldconfig; fi
fi
if [ "$prefix" != /usr/local ]; then
	cat <<EOF
[setup] C library is under $prefix, where the system does not look. Add to your shell profile:
    export CGO_CFLAGS="-I$inc"
    export CGO_LDFLAGS="-L$lib -Wl,-rpath,$lib"
[setup] (the rpath lets programs find the library at run time without LD_LIBRARY_PATH)
EOF
	export CGO_CFLAGS="-I$inc" CGO_LDFLAGS="-L$lib -Wl,-rpath,$lib"
fi

# onnxruntime's C library from the pinned onnxruntime wheel, for Go programs
# that run the ONNX export without TensorFlow (examples/classify-onnx, on
# github.com/yalue/onnxruntime_go, whose version matches the wheel's C API).
ort_lib=$("$venv/bin/python" -c 'import glob, importlib.util as u, os; print(sorted(glob.glob(os.path.join(os.path.dirname(u.find_spec("onnxruntime").origin), "capi", "libonnxruntime.so.*")))[-1])')
if cmp -s "$ort_lib" "$lib/$(basename "$ort_lib")" && [ -e "$lib/libonnxruntime.so" ]; then
	say "onnxruntime: $lib/libonnxruntime.so ($(basename "$ort_lib")) already installed"
else
	say "onnxruntime: installing $(basename "$ort_lib") (22 MB) into $lib"
	install -m 0644 "$ort_lib" "$lib/$(basename "$ort_lib").tmp" && mv -f "$lib/$(basename "$ort_lib").tmp" "$lib/$(basename "$ort_lib")"
	ln -sf "$(basename "$ort_lib")" "$lib/libonnxruntime.so"
	if [ "$prefix" = /usr/local ] && command -v ldconfig >/dev/null; then ldconfig; fi
fi

# --- 3. Go modules ----------------------------------------------------------
say "Go: downloading modules pinned in go.sum"
go mod download
# `go mod tidy -diff` (make test, TestGoModTidy) also reads the modules
# that dependencies' own tests import, which `go mod download` skips: fetch
# them now, while set-up is online. It writes nothing; untidiness is the
# tests' to report.
go mod tidy -diff >/dev/null 2>&1 || true
go build -o /dev/null ./pipeline || die "go build ./pipeline failed: see above"
say "Go: ./pipeline builds and links against libtensorflow $tfver"

# --- 4. SavedModels -----------------------------------------------------------
export_model() { # out arch weights [extra args]
	local out=$1 arch=$2 weights=$3
	shift 3
	if [ -f "$out/metadata.json" ] && grep -q "\"exported_by\": \"scripts/export_backbone.py --arch $arch --weights $weights " "$out/metadata.json" &&
		grep -q "\"tensorflow\": \"$tfver\"" "$out/metadata.json" &&
		grep -q '"cuts"' "$out/metadata.json" &&
		{ [ "${out#savedmodels/apps/}" = "$out" ] || [ -f "$out/golden/pixels.npy" ]; }; then
		say "model: $out up to date"
		return 0
	fi
	say "model: exporting $arch ($weights weights) to $out"
	TF_CPP_MIN_LOG_LEVEL=2 "$venv/bin/python" scripts/export_backbone.py --arch "$arch" --weights "$weights" --out "$out" --force "$@"
}
export_model savedmodels/tiny tiny random --golden 4
export_model savedmodels/vgg16-random vgg16 random --golden 2
say "model: savedmodels/mobilenet (pretrained MobileNet v1 from PyPI nudity==0.2.3)"
"$venv/bin/python" scripts/export_mobilenet.py --out savedmodels/mobilenet --golden 4
# The backbones of the any-backbone tests and configs/backbones.yaml, cached
# here: each is exported once (a golden batch of 2) and skipped while up to
# date. A representative set of keras.applications (scripts/test_backbones.txt)
# with ImageNet's weights where Keras' download host answers, random ones
# otherwise; a user's .keras file, and SavedModels without metadata.json.
apps_start=$(date +%s)
apps_weights=random
if "$venv/bin/python" -c 'import socket; socket.create_connection(("storage.googleapis.com", 443), timeout=5).close()' 2>/dev/null; then
	apps_weights=imagenet
fi
while read -r arch; do
	case $arch in '' | '#'*) continue ;; esac
	export_model "savedmodels/apps/$arch" "$arch" "$apps_weights" --golden 2 ||
		export_model "savedmodels/apps/$arch" "$arch" random --golden 2
done <scripts/test_backbones.txt
TF_CPP_MIN_LOG_LEVEL=2 "$venv/bin/python" scripts/plain_savedmodels.py --out savedmodels/apps
say "model: savedmodels/apps ($(du -sh savedmodels/apps | cut -f1)) checked in $(($(date +%s) - apps_start)) s"
if [ -f savedmodels/vgg16/metadata.json ]; then
	say "model: savedmodels/vgg16 present ($(grep -o '"source": "[a-z]*"' savedmodels/vgg16/metadata.json | head -1))"
else
	say "model: savedmodels/vgg16 (ImageNet weights) is not there; trying Keras' download"
	TF_CPP_MIN_LOG_LEVEL=2 "$venv/bin/python" scripts/export_backbone.py --arch vgg16 --weights imagenet --out savedmodels/vgg16 ||
		say "model: skipped savedmodels/vgg16 (see above); configs/vgg16.yaml needs it, nothing else does"
fi

# --- 5. data -------------------------------------------------------------------
say "data: data/fashion-mnist (600 images per class from Debian's dataset-fashion-mnist)"
"$venv/bin/python" scripts/prepare_fashion_mnist.py --out data/fashion-mnist --per-class 600

say "done in $(($(date +%s) - start)) s; disk: .venv $(du -sh "$venv" | cut -f1), savedmodels $(du -sh savedmodels | cut -f1), data $(du -sh data | cut -f1), C library $(du -shc "$lib"/libtensorflow_cc.so.2 "$lib"/libtensorflow_framework.so.2 | tail -1 | cut -f1)"
