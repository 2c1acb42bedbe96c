#!/usr/bin/env bash
# make test-cluster: the Slurm deployment on a real Slurm. Starts a
# single-node cluster (scripts/slurm_cluster.sh: Debian's slurm-wlm and
# munge, slurmctld + slurmd), submits the default experiment with
# deploy/slurm/submit.sh as an array of 4 feature shards plus a dependent
# training job, and checks that the cache entries and results equal a plain
# run's byte for byte. On the way it submits shards 0, 1 and 3 only, and
# checks that training refuses and names shard 2, which is then rerun alone.
# The daemons are stopped and everything is deleted at the end, pass or fail.
#
# To keep it to a few minutes on a 2-core machine it runs the default
# experiment on 100 images per class (-set data.max_per_class=100: 1,000
# images instead of 6,000); MAX_PER_CLASS=0 runs the full one.
# Needs set-up (make setup) and root, to install and run the daemons.
set -euo pipefail
cd "$(dirname "$0")/.."

work=$(mktemp -d /tmp/gotransfer-cluster.XXXXXX)
chmod 755 "$work" # munged wants every folder above its socket searchable
cluster=$work/cluster
cleanup() {
	local rc=$?
	if [[ $rc != 0 ]]; then
		echo "test-cluster: FAILED; the jobs' logs:" >&2
		tail -n 30 "$work"/logs/*.out >&2 2>/dev/null || true
	fi
	scripts/slurm_cluster.sh stop "$cluster" || true
	rm -rf "$work"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

scripts/slurm_cluster.sh start "$cluster"
export SLURM_CONF=$cluster/slurm.conf
go build -o "$work/pipeline" ./pipeline

config=configs/default.yaml
small=(-set "data.max_per_class=${MAX_PER_CLASS:-100}")
export PIPELINE=$work/pipeline LOGS=$work/logs SHARDS=4 CPUS=1 MEM=1G TRAIN_CPUS=1 TRAIN_MEM=2G
slurm=(-config "$config" "${small[@]}" -set "features.cache_dir=$work/slurm/cache" -set "runs_dir=$work/slurm/runs")
plain=(-config "$config" "${small[@]}" -set "features.cache_dir=$work/plain/cache" -set "runs_dir=$work/plain/runs")

# wait_job ID: waits until job ID (and, for an array, every task) has left
# the queue and prints its final state.
wait_job() {
	local deadline=$((SECONDS + 1800))
	while [[ -n $(squeue -h -j "$1" 2>/dev/null) ]]; do
		if ((SECONDS > deadline)); then
			echo "test-cluster: job $1 still queued after 30 minutes" >&2
			return 1
		fi
		sleep 2
	done
	scontrol -o show job "$1" | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p' | sort -u | paste -sd,
}

job_of() { sed -n "s/^$1: [a-z ]*job \([0-9]*\).*/\1/p"; }

start=$SECONDS
echo "test-cluster: shards 0, 1 and 3 of 4, then training (which must refuse: shard 2 is missing)"
out=$(ARRAY=0,1,3 deploy/slurm/submit.sh "${slurm[@]}")
echo "$out"
features=$(job_of features <<<"$out")
training=$(job_of training <<<"$out")
state=$(wait_job "$training")
[[ $(wait_job "$features") == COMPLETED ]] || { echo "test-cluster: shards 0, 1, 3 did not complete" >&2; exit 1; }
log=$LOGS/gotransfer-train-$training.out
if [[ $state != FAILED ]] || ! grep -q "shard 2 of 4 did not finish" "$log" || ! grep -q "ARRAY=2 SHARDS=4 deploy/slurm/submit.sh" "$log"; then
	echo "test-cluster: training with shard 2 missing ended $state; want FAILED, naming shard 2; its log:" >&2
	cat "$log" >&2
	exit 1
fi
echo "test-cluster: training refused as it should:"
grep -A2 "did not finish" "$log"

echo "test-cluster: shard 2 alone, then training"
out=$(ARRAY=2 deploy/slurm/submit.sh "${slurm[@]}")
echo "$out"
training=$(job_of training <<<"$out")
state=$(wait_job "$training")
if [[ $state != COMPLETED ]]; then
	echo "test-cluster: training ended $state; its log:" >&2
	cat "$LOGS/gotransfer-train-$training.out" >&2
	exit 1
fi
grep -q "features of 4 shards: all cached" "$LOGS/gotransfer-train-$training.out"
echo "test-cluster: Slurm run done in $((SECONDS - start)) s"

start=$SECONDS
echo "test-cluster: the same run in one plain process"
"$PIPELINE" "${plain[@]}" >"$work/plain.log" 2>&1 || { cat "$work/plain.log" >&2; exit 1; }
echo "test-cluster: plain run done in $((SECONDS - start)) s"

# The same cache entries, and the same run files but the effective config
# (its cache and runs paths differ), the files with wall times (TensorBoard's
# event files are stamped with them), and the two files of each exported
# SavedModel that name its run folder (its variables are compared).
diff -r "$work/plain/cache" "$work/slurm/cache"
a=$(echo "$work"/plain/runs/*) b=$(echo "$work"/slurm/runs/*)
diff -r -x config.yaml -x timing.json -x state.json -x tensorboard -x saved_model.pb -x metadata.json "$a" "$b"
n=$(find "$work/slurm/cache" -type f | wc -l)
m=$(find "$b" -type f | wc -l)
echo "test-cluster: PASS: the Slurm run's $n cache files and its run folder ($m files; config, wall times and the exports' run names aside) equal the plain run's"
grep "test accuracy" "$work/plain.log"
