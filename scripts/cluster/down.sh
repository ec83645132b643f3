#!/usr/bin/env bash
# `npm run cluster:down`: undoes scripts/cluster/up.sh — pods and containers, the
# processes it started (by recorded PID, then whatever is still inside its network
# namespace or in the kubelet's pod cgroups), mounts under the run dir, the network
# namespace (with its bridge, routes, iptables chains and per-namespace sysctls),
# the kubelet's cgroups and the machine-wide sysctls the kubelet changed.
# Safe to run more than once, after a partial up.sh and after a crash.
#   --if-unused   leave the cluster up while another run holds it (test runs, the demo)
set -uo pipefail
# shellcheck source=env.sh
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
t0=$(date +%s)
log() { echo "cluster/down: $*" >&2; }

if [ "${1:-}" = --if-unused ]; then
  exec 7>"$USERS_LOCK"
  flock -n -x 7 || { log "still in use by another run ($USERS_LOCK): left up"; exit 0; }
fi
if [ "${ADSYNC_CLUSTER_LOCKED:-0}" != 1 ]; then
  mkdir -p "$(dirname "$R")"
  exec 8>"$LOCK"
  flock -w 600 8 || { log "timed out waiting for another cluster:up/down ($LOCK)"; exit 1; }
fi

pid_of() { awk -v n="$1" '$1 == n { print $2 }' "$R/pids" 2>/dev/null | tail -1; }
stop() { # name...: SIGTERM their process groups together, wait up to 10 s for all, then SIGKILL the rest
  local n p pids=()
  for n in "$@"; do
    p="$(pid_of "$n")"; [ -n "$p" ] || continue
    kill -0 "$p" 2>/dev/null || continue
    kill -TERM -- "-$p" 2>/dev/null || kill -TERM "$p" 2>/dev/null
    pids+=("$p")
  done
  for _ in $(seq 50); do
    local alive=0
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && return 0
    sleep 0.2
  done
  for p in "${pids[@]}"; do kill -KILL -- "-$p" 2>/dev/null || kill -KILL "$p" 2>/dev/null; done
}
ns_exists() { ip netns list 2>/dev/null | awk '{ print $1 }' | grep -qx "$NS"; }
# cgroup directories of the kubelet's pods (cgroupfs driver; v1: one tree per controller, v2: one tree)
kubepods_dirs() { for d in /sys/fs/cgroup/kubepods /sys/fs/cgroup/*/kubepods; do [ -d "$d" ] && echo "$d"; done; }

stop kube-router kube-proxy kubelet kube-scheduler kube-controller-manager
# Every container and pod sandbox: kill the tasks, delete them and their containers.
if [ -S "$R/containerd/containerd.sock" ]; then
  for t in $(CTR tasks ls -q 2>/dev/null); do CTR tasks kill -s SIGKILL "$t" >/dev/null 2>&1; done
  for _ in $(seq 25); do [ -z "$(CTR tasks ls -q 2>/dev/null | head -1)" ] && break; for t in $(CTR tasks ls -q 2>/dev/null); do CTR tasks delete -f "$t" >/dev/null 2>&1; done; sleep 0.2; done
  for c in $(CTR containers ls -q 2>/dev/null); do CTR containers delete "$c" >/dev/null 2>&1; done
fi
stop containerd api-relay-host api-relay-ns kube-apiserver
stop etcd
# What is still running: processes in the namespace (shims, relays a test left), then in the pods' cgroups.
if ns_exists; then
  for p in $(ip netns pids "$NS" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
fi
for d in $(kubepods_dirs); do
  find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null | sort -u | while read -r p; do kill -KILL "$p" 2>/dev/null; done
done
sleep 0.3

# Mounts under the run dir (pod volumes, overlay root filesystems, pod network namespaces), deepest first.
if [ -d "$R" ]; then
  awk -v r="$R/" 'index($2, r) == 1 { print $2 }' /proc/self/mounts | sort -r | while read -r m; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null; done
fi
# The namespace: its bridge devices, routes, iptables chains, ipsets (kube-router's
# KUBE-ROUTER-*, KUBE-NWPLCY-*, KUBE-POD-FW-* and KUBE-SRC-/KUBE-DST-* sets: all per
# network namespace) and sysctls go with it.
if ns_exists; then
  ip netns del "$NS" 2>/dev/null || { umount -l "/run/netns/$NS" 2>/dev/null; rm -f "/run/netns/$NS"; }
fi
# Machine-wide sysctls the kubelet set.
if [ -f "$R/sysctl.orig" ]; then
  while IFS='=' read -r k v; do [ -n "$k" ] && sysctl -qw "$k=$v" 2>/dev/null; done < "$R/sysctl.orig"
fi
# The kubelet's cgroups, leaves first (each must be empty: the processes were killed above).
for d in $(kubepods_dirs); do
  for _ in 1 2 3 4 5; do
    find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
    [ -d "$d" ] || break
    sleep 0.3
  done
  [ -d "$d" ] && log "could not remove $d (still busy)"
done
# Directories containerd / the CNI plugins write outside the run dir, when up.sh made them.
[ -f "$R/made-var-lib-cni" ] && rm -rf /var/lib/cni
[ -f "$R/made-run-containerd" ] && rm -rf /run/containerd
rm -f "$R/pids" "$R/env"
log "done in $(( $(date +%s) - t0 ))s (logs kept in $R/logs until the next cluster:up)"
exit 0
