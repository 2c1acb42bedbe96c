#!/usr/bin/env bash
# The table of docs/backbones.md: every keras.applications architecture
# (scripts/export_backbone.py --list), each exported with random weights
# and a golden batch of 2, measured by `go run ./pipeline/bench -only
# backbone` (input size, preprocessing, feature size, parameters, largest
# |Go - Keras| over every endpoint on the golden batch, the features
# stage's images/s in float32 and bfloat16 on 60 Fashion-MNIST images), then
# deleted, so that the disk holds one export at a time.
#
# Then the cuts pass: for each architecture, `export_backbone.py
# --describe` builds the Keras model alone (seconds: no export, no
# golden) and prints the cuts fine-tuning may start from with the layers
# above each, and `go run ./pipeline/bench -only backbone-cuts` records
# in its row the trainable parameters above each cut and whether Go
# rebuilds that tail (or which layer stops it).
#
# Usage: scripts/backbones.sh [ARCH ...]    (default: all of them)
#        CUTS=1 scripts/backbones.sh [ARCH ...]    the cuts pass (and the table) alone
# Rows go to bench/backbones.jsonl (one per architecture; an architecture
# measured again replaces its row; the cuts pass updates it in place, or
# writes a row with only the cuts), the table to docs/backbones.md. A row
# already there is kept unless FORCE=1 (the cuts pass always runs).
# Exports go under bench/backbones/.
set -euo pipefail
cd "$(dirname "$0")/.."
py=.venv/bin/python
rows=bench/backbones.jsonl
work=bench/backbones
mkdir -p "$work"
say() { printf '[backbones] %s\n' "$*"; }

go build -o "$work/bench" ./pipeline/bench
if [ $# -eq 0 ]; then
	set -- $(TF_CPP_MIN_LOG_LEVEL=2 "$py" scripts/export_backbone.py --list | awk 'NR > 1 && $1 != "tiny" { print $1 }')
fi
start=$(date +%s)
[ "${CUTS:-0}" = 1 ] || for arch in "$@"; do
	if [ "${FORCE:-0}" != 1 ] && [ -f "$rows" ] && grep -q "\"architecture\":\"$arch\"" "$rows"; then
		say "$arch: measured already (FORCE=1 measures again)"
		continue
	fi
	out=$work/$arch
	rm -rf "$out"
	say "$arch: exporting ($(df -h --output=avail "$work" | tail -1 | tr -d ' ') free)"
	t0=$(date +%s.%N)
	if ! TF_CPP_MIN_LOG_LEVEL=2 "$py" scripts/export_backbone.py --arch "$arch" --weights random --golden 2 --out "$out" >"$work/export.log" 2>&1; then
		why=$(grep -v '^\s*$' "$work/export.log" | tail -1 | cut -c1-200)
		say "$arch: export failed: $why"
		"$work/bench" -only backbone -backbones "$rows" -backbone-arch "$arch" -backbone-error "export failed: $why"
		rm -rf "$out"
		continue
	fi
	secs=$(echo "$(date +%s.%N) - $t0" | bc)
	size=$(du -sh "$out" | cut -f1)
	say "$arch: exported in ${secs%.*} s ($size); measuring"
	if ! "$work/bench" -only backbone -out "$work" -backbones "$rows" -backbone "$out" -backbone-arch "$arch" -export-seconds "$secs"; then
		"$work/bench" -only backbone -backbones "$rows" -backbone-arch "$arch" -backbone-error "measuring failed (see the log)"
	fi
	rm -rf "$out"
done
[ "${CUTS:-0}" = 1 ] || say "done in $(($(date +%s) - start)) s"

# The cuts pass.
start=$(date +%s)
for arch in "$@"; do
	desc=$work/$arch.cuts.json
	if ! TF_CPP_MIN_LOG_LEVEL=2 "$py" scripts/export_backbone.py --describe --arch "$arch" >"$desc" 2>"$work/describe.log"; then
		why=$(grep -v '^\s*$' "$work/describe.log" | tail -1 | cut -c1-200)
		say "$arch: describe failed: $why"
		"$work/bench" -only backbone-cuts -backbones "$rows" -backbone-arch "$arch" -backbone-error "describe failed: $why"
	elif ! "$work/bench" -only backbone-cuts -backbones "$rows" -backbone-arch "$arch" -describe "$desc" 2>"$work/cuts.log"; then
		why=$(grep -v '^\s*$' "$work/cuts.log" | tail -1 | cut -c1-200)
		say "$arch: recording the cuts failed: $why"
		"$work/bench" -only backbone-cuts -backbones "$rows" -backbone-arch "$arch" -backbone-error "recording the cuts failed: $why"
	else
		grep "^bench: $arch: " "$work/cuts.log" | sed 's/^bench: /[backbones] /' || true
	fi
	rm -f "$desc"
done
say "cuts pass done in $(($(date +%s) - start)) s"

# The table goes between docs/backbones.md's two markers; the rest of the
# page is written by hand.
page=docs/backbones.md
table=$(mktemp "$work/table.XXXXXX")
"$work/bench" -only backbones-table -backbones "$rows" >"$table"
grep -q '^<!-- table: scripts/backbones.sh -->$' "$page" && grep -q '^<!-- end of table -->$' "$page" ||
	{ say "error: $page lacks the table markers"; exit 1; }
tmp=$(mktemp docs/.backbones.md.XXXXXX)
awk -v table="$table" '
	/^<!-- end of table -->$/ { skip = 0 }
	!skip { print }
	/^<!-- table: scripts\/backbones.sh -->$/ { print ""; while ((getline line < table) > 0) print line; print ""; skip = 1 }
' "$page" >"$tmp"
mv "$tmp" "$page"
rm -f "$table"
say "wrote the table into $page"
