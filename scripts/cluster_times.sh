#!/usr/bin/env bash
# Wall time of the default experiment on the single-node test Slurm
# (scripts/slurm_cluster.sh) with 1, 2 and 4 feature shards, each from an
# empty cache: the Markdown table in BENCHMARK.md's "Sharding on the test
# Slurm cluster".
#
#   scripts/cluster_times.sh                  # the full default experiment
#   MAX_PER_CLASS=100 scripts/cluster_times.sh   # 1,000 images, quicker
#
# Each shard asks for 1 CPU, so on a 2-core node two shards run at once;
# the test cluster binds no job to its CPUs (no cgroup plugin), so each
# shard's TensorFlow may use every core. Needs set-up and root.
set -euo pipefail
cd "$(dirname "$0")/.."

work=$(mktemp -d /tmp/gotransfer-times.XXXXXX)
chmod 755 "$work"
trap 'scripts/slurm_cluster.sh stop "$work/cluster" >/dev/null || true; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM
scripts/slurm_cluster.sh start "$work/cluster" >/dev/null
export SLURM_CONF=$work/cluster/slurm.conf
go build -o "$work/pipeline" ./pipeline
export PIPELINE=$work/pipeline LOGS=$work/logs CPUS=1 MEM=2G TRAIN_CPUS=1 TRAIN_MEM=4G

# epoch JOB: the earliest start and latest end of a job (all its array
# tasks), in seconds since the epoch.
span() {
	scontrol -o show job "$1" | tr ' ' '\n' | sed -n 's/^\(StartTime\|EndTime\)=//p' |
		while read -r t; do date -d "$t" +%s; done | sort -n | sed -n '1p;$p' | paste -sd' '
}

echo "CPU: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| shards | features (wall) | training and report | total |"
echo "|--:|--:|--:|--:|"
for n in 1 2 4; do
	out=$(SHARDS=$n deploy/slurm/submit.sh -config configs/default.yaml -set "data.max_per_class=${MAX_PER_CLASS:-0}" \
		-set "features.cache_dir=$work/$n/cache" -set "runs_dir=$work/$n/runs")
	features=$(sed -n 's/^features: array job \([0-9]*\).*/\1/p' <<<"$out")
	training=$(sed -n 's/^training: job \([0-9]*\).*/\1/p' <<<"$out")
	while [[ -n $(squeue -h -j "$features,$training") ]]; do sleep 2; done
	if ! scontrol -o show job "$training" | grep -q JobState=COMPLETED; then
		echo "training job $training failed:" >&2
		cat "$LOGS/gotransfer-train-$training.out" >&2
		exit 1
	fi
	read -r f0 f1 <<<"$(span "$features")"
	read -r t0 t1 <<<"$(span "$training")"
	echo "| $n | $((f1 - f0)) s | $((t1 - t0)) s | $((t1 - f0)) s |"
done
echo
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
