#!/usr/bin/env bash
# Submit a run to a Slurm cluster in one line: the feature shards as a job
# array, and training chained after them with --dependency=afterok.
#
#   deploy/slurm/submit.sh -config configs/default.yaml [-set key=value ...]
#   ARRAY=1,3 deploy/slurm/submit.sh -config configs/default.yaml   # rerun shards 1 and 3 alone, then train
#
# Run it from the repository root on a filesystem every node mounts: jobs
# start there and read data/ and savedmodels/, and write cache/ and runs/.
# Settings, as environment variables [defaults]:
#   SHARDS       how many shards [4]
#   ARRAY        which shards to submit, in sbatch --array form [0-(SHARDS-1)]
#   CPUS MEM TIME                    each shard's CPUs, memory and time limit [4, 8G, 04:00:00]
#   TRAIN_CPUS TRAIN_MEM TRAIN_TIME  the same for training [4, 8G, 04:00:00]
#   GRES TRAIN_GRES  generic resources for shards and training, e.g. gpu:1 on a
#                site with GPUs [none]; the pinned TensorFlow library is CPU-only,
#                so a GPU needs a GPU build of it (see docs/cluster.md)
#   PARTITION ACCOUNT  where to run and whom to bill [the site's defaults]
#   PIPELINE     the pipeline binary every node runs [bin/pipeline, built here]
#   SBATCH_ARGS  more sbatch options for both jobs, e.g. "--qos=long" [none]
#   LOGS         the folder for the jobs' logs [slurm-logs]: <job>_<shard>.out
#                for the shards, <job>.out for training
set -euo pipefail

if [[ ! -f deploy/slurm/features.sbatch ]]; then
	echo "submit.sh: run it from the repository root (where deploy/slurm/ is)" >&2
	exit 2
fi
if [[ $# -eq 0 ]]; then
	echo "usage: [SHARDS=N] [ARRAY=I,J] deploy/slurm/submit.sh -config FILE [-set key=value ...]" >&2
	exit 2
fi
SHARDS=${SHARDS:-4}
ARRAY=${ARRAY:-0-$((SHARDS - 1))}
if [[ -z ${PIPELINE:-} ]]; then
	PIPELINE=bin/pipeline
	go build -o "$PIPELINE" ./pipeline
fi
LOGS=${LOGS:-slurm-logs}
mkdir -p "$LOGS"

common=(--parsable --chdir="$PWD" --export="ALL,SHARDS=$SHARDS,PIPELINE=$PIPELINE")
[[ -n ${PARTITION:-} ]] && common+=(--partition="$PARTITION")
[[ -n ${ACCOUNT:-} ]] && common+=(--account="$ACCOUNT")
read -r -a extra <<<"${SBATCH_ARGS:-}"
common+=("${extra[@]}")

shards=(--array="$ARRAY" --output="$LOGS/gotransfer-features-%A_%a.out" --cpus-per-task="${CPUS:-4}" --mem="${MEM:-8G}" --time="${TIME:-04:00:00}")
[[ -n ${GRES:-} ]] && shards+=(--gres="$GRES")
features=$(sbatch "${common[@]}" "${shards[@]}" deploy/slurm/features.sbatch "$@")
features=${features%%;*} # --parsable prints "job[;cluster]"

train=(--dependency="afterok:$features" --output="$LOGS/gotransfer-train-%j.out" --cpus-per-task="${TRAIN_CPUS:-4}" --mem="${TRAIN_MEM:-8G}" --time="${TRAIN_TIME:-04:00:00}")
[[ -n ${TRAIN_GRES:-} ]] && train+=(--gres="$TRAIN_GRES")
training=$(sbatch "${common[@]}" "${train[@]}" deploy/slurm/train.sbatch "$@")
training=${training%%;*}

echo "features: array job $features, shards $ARRAY of $SHARDS (logs: $LOGS/gotransfer-features-${features}_<shard>.out)"
echo "training: job $training, starts when every shard succeeds (log: $LOGS/gotransfer-train-$training.out)"
echo "follow with: squeue -j $features,$training"
