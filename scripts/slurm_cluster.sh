#!/usr/bin/env bash
# A single-node Slurm cluster on this machine, for testing the Slurm
# deployment (deploy/slurm/) for real: `make test-cluster` starts one,
# submits a run, and stops it.
#
#   scripts/slurm_cluster.sh start DIR   install Debian's slurm-wlm and munge if
#                                        missing (apt, as root), write DIR/slurm.conf,
#                                        start munged, slurmctld and slurmd, wait
#                                        until the node is idle
#   scripts/slurm_cluster.sh stop DIR    stop the daemons started in DIR and delete DIR
#
# Everything (config, munge key and socket, state, logs) lives in DIR, so
# the machine's own /etc/slurm and /etc/munge are untouched. The daemons
# run as root (CI does). Clients need SLURM_CONF=DIR/slurm.conf.
# Tracking is by process (ProctrackType=proctrack/linuxproc) with no cgroup
# plugin (TaskPlugin=task/none), which works in containers; it also means
# Slurm does not bind jobs to their CPUs, so jobs on one node share all its
# cores. Ports: SLURMCTLD_PORT [6817] and SLURMD_PORT [6818].
set -euo pipefail

cmd=${1:-}
dir=${2:-}
if [[ -z $cmd || -z $dir ]]; then
	echo "usage: $0 start|stop DIR" >&2
	exit 2
fi

log() { echo "slurm_cluster: $*"; }

install() {
	if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v sbatch >/dev/null &&
		command -v munged >/dev/null && command -v mungekey >/dev/null; then
		return
	fi
	if [[ $(id -u) != 0 ]]; then
		echo "slurm_cluster: Slurm or munge is missing and installing them needs root: sudo apt-get install slurm-wlm munge" >&2
		exit 1
	fi
	log "installing Debian's slurm-wlm and munge"
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends slurm-wlm munge >/dev/null ||
		{ apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends slurm-wlm munge >/dev/null; }
	# The packages' own daemons are not used: stop any the install started.
	for s in slurmctld slurmd munge; do
		service "$s" stop >/dev/null 2>&1 || true
	done
}

start() {
	install
	if [[ -e $dir/slurm.conf ]]; then
		echo "slurm_cluster: $dir already holds a cluster: stop it first ($0 stop $dir)" >&2
		exit 1
	fi
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	chmod 755 "$dir" # munged wants every folder above its socket searchable by all
	mkdir -p "$dir/state" "$dir/spool"
	mungekey --create --keyfile="$dir/munge.key"
	munged --socket="$dir/munge.socket" --key-file="$dir/munge.key" --pid-file="$dir/munged.pid" \
		--log-file="$dir/munged.log" --seed-file="$dir/munged.seed"

	local host cpus mem
	host=$(hostname -s)
	cpus=$(nproc)
	mem=$(awk '/MemTotal/ {print int($2 / 1024 * 0.9)}' /proc/meminfo) # MiB, less a margin
	cat >"$dir/slurm.conf" <<CONF
# Written by scripts/slurm_cluster.sh: a one-node test cluster.
ClusterName=gotransfer-test
SlurmctldHost=$host
SlurmctldPort=${SLURMCTLD_PORT:-6817}
SlurmdPort=${SLURMD_PORT:-6818}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge.socket
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
# A job whose dependency can no longer be met (a shard failed) is cancelled
# rather than left pending for ever.
DependencyParameters=kill_invalid_depend
# Finished jobs stay visible to scontrol for 10 minutes.
MinJobAge=600
NodeName=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=test Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
	export SLURM_CONF=$dir/slurm.conf
	slurmctld -f "$SLURM_CONF"
	slurmd -f "$SLURM_CONF"
	log "started slurmctld and slurmd ($cpus CPUs, $mem MiB) in $dir"
	for _ in $(seq 60); do
		if [[ $(sinfo -h -o %t 2>/dev/null) == idle ]]; then
			log "node $host is idle: export SLURM_CONF=$SLURM_CONF to use it"
			return
		fi
		sleep 1
	done
	echo "slurm_cluster: the node did not come up in 60 s; logs:" >&2
	tail -n 20 "$dir"/slurmctld.log "$dir"/slurmd.log >&2 || true
	exit 1
}

# kill_pidfile stops the daemon whose pid is in file, waiting for it.
kill_pidfile() {
	local file=$1 pid
	[[ -f $file ]] || return 0
	pid=$(cat "$file")
	kill "$pid" 2>/dev/null || return 0
	for _ in $(seq 30); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 1
	done
	kill -9 "$pid" 2>/dev/null || true
}

stop() {
	if [[ -e $dir/slurm.conf ]]; then
		SLURM_CONF=$dir/slurm.conf scancel --full --quiet --user="$(id -un)" 2>/dev/null || true
	fi
	kill_pidfile "$dir/slurmd.pid"
	kill_pidfile "$dir/slurmctld.pid"
	if [[ -S $dir/munge.socket ]]; then
		munged --stop --socket="$dir/munge.socket" >/dev/null 2>&1 || kill_pidfile "$dir/munged.pid"
	fi
	rm -rf "$dir"
	log "stopped the cluster in $dir and deleted it"
}

case $cmd in
start) start ;;
stop) stop ;;
*)
	echo "usage: $0 start|stop DIR" >&2
	exit 2
	;;
esac
