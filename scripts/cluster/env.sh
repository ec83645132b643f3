# Shared settings of scripts/cluster/{up,down,image}.sh (sourced, not run).
# The whole cluster lives in one network namespace ($NS): etcd, kube-apiserver,
# the controller-manager, the scheduler, containerd, the kubelet, kube-proxy, the
# CNI bridge and every pod. The addresses below exist only inside it; the host
# reaches the API server through a relay on 127.0.0.1:$API_PORT (a Unix socket in
# $R crosses the namespace boundary: the filesystem is shared).
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
NS="${ADSYNC_CLUSTER_NETNS:-adsync-cluster}"
R="${ADSYNC_CLUSTER_DIR:-/var/tmp/truetask-adsync-cluster}"
API_PORT="${ADSYNC_CLUSTER_API_PORT:-16443}"
NODE=adsync-node
IP=10.250.0.1                 # the node (a port-less bridge: this kernel has no dummy netdev)
NODE_DEV=adsync0
BR=adsync-cni0                # the pods' bridge (made by the bridge CNI plugin)
POD_CIDR=10.244.0.0/24
CLUSTER_CIDR=10.244.0.0/16
SVC_CIDR=10.96.0.0/12
# Serialises up/down (one cluster per machine: containerd 1.6 and the kubelet use global paths).
LOCK="$R.lock"
# Held shared (flock -s) by every user of a running cluster (test runs, the demo);
# `down.sh --if-unused` leaves the cluster up while anyone holds it.
USERS_LOCK="$R.users.lock"
# Machine-wide sysctls the kubelet sets (setupKernelTunables): saved by up, restored by down.
GLOBAL_SYSCTLS="vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops kernel.keys.root_maxkeys kernel.keys.root_maxbytes"

# nsenter, not `ip netns exec`: that one also makes a new mount namespace with its own
# /sys (no cgroup mounts) and keeps mounts (pod volumes) from the other processes.
in_ns() { nsenter --net="/run/netns/$NS" "$@"; }
CTR() { ctr --address "$R/containerd/containerd.sock" -n k8s.io "$@"; }
