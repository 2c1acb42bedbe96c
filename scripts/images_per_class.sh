#!/usr/bin/env bash
# Runs configs/images-per-class.yaml, and the small-data recipe's columns
# (configs/images-per-class-augment.yaml: augmented views and test-time
# augmentation; configs/images-per-class-paper.yaml: the VGG paper's
# protocol), once per number of training images per class and prints the
# comparison table (pipeline report). Usage:
#
#   bash scripts/images_per_class.sh [N ...]     # default: 5 10 20 50 100 200
#   CONFIGS="images-per-class-augment" bash scripts/images_per_class.sh 5 10
#                                                # only those configs
#
# Each of Fashion-MNIST's classes has 600 images: N train, 20 validation,
# the rest test. The split fractions are written so that the pipeline's
# int(fraction * 600) gives exactly N and N + 20 (half an image of margin).
set -euo pipefail
cd "$(dirname "$0")/.."

read -r -a configs <<<"${CONFIGS:-images-per-class images-per-class-augment images-per-class-paper}"
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(5 10 20 50 100 200)
per_class=600
val=20

runs=()
for n in "${sizes[@]}"; do
	read -r train valf test < <(awk -v n="$n" -v v="$val" -v t="$per_class" \
		'BEGIN { tr = (n + 0.5) / t; va = v / t; printf "%.9f %.9f %.9f\n", tr, va, 1 - tr - va }')
	echo "== $n training images per class: data.split = {train: $train, val: $valf, test: $test}" >&2
	for c in "${configs[@]}"; do
		go run ./pipeline -config "configs/$c.yaml" \
			-set "data.split={train: $train, val: $valf, test: $test}"
	done
done
go run ./pipeline report runs/images-per-class-*
