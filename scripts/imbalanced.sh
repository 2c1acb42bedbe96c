#!/usr/bin/env bash
# The imbalanced run: the default data (data/fashion-mnist, 600 images per
# class) with four classes cut to 10% of their images, trained as it is,
# with train.class_weight: balanced and with train.sampling: balanced, once
# per seed; prints `pipeline report`'s comparison (mean class recall among
# its columns). Usage:
#
#   bash scripts/imbalanced.sh [SEED ...]     # default: 42
#
# data/fashion-mnist-imbalanced (ignored by git, like all of data/) is
# rebuilt from data/fashion-mnist each time: every class folder copied, the
# four cut classes keeping their first 60 files by name (the prepared files
# are already a seeded random draw). The stratified 10/10/80 split of
# configs/imbalanced.yaml then gives those classes 6 training, 6 validation
# and 48 test images, the others 60, 60 and 480.
set -euo pipefail
cd "$(dirname "$0")/.."

src=data/fashion-mnist
out=data/fashion-mnist-imbalanced
cut=(t-shirt_top trouser pullover dress)
keep=60

[ -d "$src" ] || { echo "imbalanced.sh: no $src: run set-up (make setup) first" >&2; exit 1; }
tmp=$(mktemp -d "$PWD/data/.fashion-mnist-imbalanced.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
for dir in "$src"/*/; do
	class=$(basename "$dir")
	mkdir "$tmp/$class"
	n=$(ls "$dir" | wc -l)
	if [[ " ${cut[*]} " == *" $class "* ]]; then
		n=$keep
	fi
	(cd "$dir" && ls | LC_ALL=C sort | awk -v n="$n" 'NR <= n' | xargs cp -t "$tmp/$class/")
done
rm -rf "$out"
mv "$tmp" "$out"
trap - EXIT
echo "$out: $(find "$out" -type f | wc -l) images; ${cut[*]} cut to $keep each" >&2

seeds=("$@")
[ ${#seeds[@]} -gt 0 ] || seeds=(42)
for seed in "${seeds[@]}"; do
	for set in train.class_weight=null train.class_weight=balanced train.sampling=balanced; do
		echo "== seed $seed, $set" >&2
		go run ./pipeline -config configs/imbalanced.yaml -set "seed=$seed" -set "$set"
	done
done
go run ./pipeline report runs/fashion-imbalanced-*
