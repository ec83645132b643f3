#!/usr/bin/env bash
# `npm run cluster:up`: a single-node Kubernetes cluster with real pods, entirely
# inside the network namespace $NS (scripts/cluster/env.sh):
#   etcd + kube-apiserver + kube-controller-manager + kube-scheduler + kubelet
#   + containerd (Debian) with runc + the bridge CNI plugin + kube-proxy (iptables)
#   + kube-router's network policy controller (NetworkPolicy enforcement, iptables + ipset),
# binaries built once and cached (scripts/envtest/build.sh, scripts/cluster/build.sh),
# then the operator's image imported under the chart's tag (scripts/cluster/image.sh).
# No address is added to the host's interfaces; the host reaches the API server
# only at https://127.0.0.1:$API_PORT (a relay through a Unix socket).
# When a healthy cluster is already up it is reused. Prints, as its last lines:
#   export KUBECONFIG=...
#   export PATH=...          (kubectl and helm)
# Undo everything with scripts/cluster/down.sh (npm run cluster:down).
#   ADSYNC_CLUSTER_IMAGE=0   skip the image import
#   ADSYNC_CLUSTER_NETPOL=0  no NetworkPolicy engine (kube-router's network policy controller,
#                            scripts/cluster/build-netpol.sh); otherwise it is started, also
#                            on a reused cluster that runs without it
set -euo pipefail
# shellcheck source=env.sh
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
t0=$(date +%s%N)
el() { printf '%5.1fs' "$(( ($(date +%s%N) - t0) / 1000000 ))e-3"; }
log() { echo "cluster/up [$(el)] $*" >&2; }
die() { echo "cluster/up: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (network namespace, containerd, kubelet)"
command -v containerd >/dev/null || die "containerd not found (apt-get install containerd containernetworking-plugins conntrack socat ipset)"
[ -x /usr/lib/cni/bridge ] || die "CNI plugins not found (apt-get install containernetworking-plugins)"
for c in socat conntrack iptables runc ctr openssl curl; do command -v "$c" >/dev/null || die "$c not found (apt-get install containerd containernetworking-plugins conntrack socat iptables openssl curl)"; done

mkdir -p "$(dirname "$R")"
exec 8>"$LOCK"
flock -w 900 8 || die "timed out waiting for another cluster:up/down ($LOCK)"

envtest_bin="$(bash "$repo_root/scripts/envtest/build.sh" | tail -1)"
cluster_bin="$(bash "$repo_root/scripts/cluster/build.sh" | tail -1)"
tools_bin="$(bash "$repo_root/scripts/tools/build.sh" --print-dir 2>/dev/null | tail -1 || true)"
PATH_LINE="export PATH=$envtest_bin${tools_bin:+:$tools_bin}:\$PATH"

P="$R/pki"
K() { "$envtest_bin/kubectl" --kubeconfig "$R/admin.kubeconfig" "$@"; }
start() { # name cmd... : in the background, own session, output to $R/logs/name.log, PID recorded
  local name="$1"; shift
  setsid "$@" >"$R/logs/$name.log" 2>&1 < /dev/null 8>&- &
  echo "$name $!" >> "$R/pids"
}
nstart() { # name cmd... : start, inside the network namespace
  local name="$1"; shift
  start "$name" nsenter --net="/run/netns/$NS" "$@"
}
waitfor() { # what timeout_s cmd...
  local what="$1" to="$2"; shift 2
  local end=$(( $(date +%s) + to ))
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$end" ] || die "timed out waiting for $what (logs in $R/logs)"
    sleep 0.2
  done
  log "$what"
}

ossl() { openssl "$@" 2>/dev/null; }
cert() { # name subj [sans]
  local n="$1" subj="$2" sans="${3:-}"
  ossl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$P/$n.key" -out "$P/$n.csr" -subj "$subj"
  { echo "basicConstraints=CA:FALSE"; echo "keyUsage=digitalSignature,keyEncipherment"
    if [ -n "$sans" ]; then echo "extendedKeyUsage=serverAuth,clientAuth"; echo "subjectAltName=$sans"; else echo "extendedKeyUsage=clientAuth"; fi; } > "$P/$n.ext"
  ossl x509 -req -in "$P/$n.csr" -CA "$P/ca.crt" -CAkey "$P/ca.key" -CAcreateserial -out "$P/$n.crt" -days 30 -extfile "$P/$n.ext"
}
kcfg() { # name server -> $R/<file>.kubeconfig
  cat > "$R/$3.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters: [{name: adsync-cluster, cluster: {server: "$2", certificate-authority: "$P/ca.crt"}}]
users: [{name: $1, user: {client-certificate: "$P/$1.crt", client-key: "$P/$1.key"}}]
contexts: [{name: adsync-cluster, context: {cluster: adsync-cluster, user: $1}}]
current-context: adsync-cluster
EOF
}
# NetworkPolicy enforcement: kube-router's network policy controller alone (no routing,
# no service proxy), inside the namespace: iptables chains KUBE-ROUTER-*, KUBE-NWPLCY-*,
# KUBE-POD-FW-* and ipsets, all per network namespace, so they go with it in down.sh.
netpol_running() { local p; p="$(awk '$1 == "kube-router" { print $2 }' "$R/pids" | tail -1)"; [ -n "$p" ] && kill -0 "$p" 2>/dev/null; }
netpol_chains() { in_ns iptables -S KUBE-ROUTER-FORWARD && in_ns iptables -S FORWARD | grep -q KUBE-ROUTER-FORWARD; }
start_netpol() {
  command -v ipset >/dev/null || die "ipset not found (apt-get install ipset): the NetworkPolicy engine needs it (or ADSYNC_CLUSTER_NETPOL=0)"
  local netpol_bin
  netpol_bin="$(bash "$repo_root/scripts/cluster/build-netpol.sh" | tail -1)"
  [ -f "$P/kube-router.crt" ] || cert kube-router "/CN=system:kube-router"
  kcfg kube-router "https://$IP:6443" kube-router
  K apply -f "$repo_root/scripts/cluster/conf/kube-router-rbac.yaml" >/dev/null
  nstart kube-router "$netpol_bin/kube-router" --kubeconfig="$R/kube-router.kubeconfig" \
    --run-firewall=true --run-router=false --run-service-proxy=false --hostname-override="$NODE" \
    --service-cluster-ip-range="$SVC_CIDR" --enable-ipv6=false --health-port=20244 --metrics-port=0 --v=1
  waitfor "NetworkPolicy engine (kube-router --run-firewall) ready" 120 netpol_chains
}

admin_ok() {
  curl -sf --max-time 5 --cacert "$R/pki/ca.crt" --cert "$R/pki/admin.crt" --key "$R/pki/admin.key" "https://127.0.0.1:$API_PORT/readyz" >/dev/null 2>&1
}
if [ -f "$R/pids" ]; then
  if admin_ok && "$envtest_bin/kubectl" --kubeconfig "$R/admin.kubeconfig" get node "$NODE" >/dev/null 2>&1; then
    log "already up (reusing it)"
    if [ "${ADSYNC_CLUSTER_NETPOL:-1}" != 0 ] && ! netpol_running; then start_netpol; fi
    [ "${ADSYNC_CLUSTER_IMAGE:-1}" = 0 ] || bash "$repo_root/scripts/cluster/image.sh" >&2
    echo "export KUBECONFIG=$R/admin.kubeconfig"; echo "$PATH_LINE"
    exit 0
  fi
  log "a previous cluster is left over (not healthy): taking it down first"
  ADSYNC_CLUSTER_LOCKED=1 bash "$repo_root/scripts/cluster/down.sh" >&2
fi
ip netns list | grep -qw "^$NS" && { log "network namespace $NS left over: taking it down first"; ADSYNC_CLUSTER_LOCKED=1 bash "$repo_root/scripts/cluster/down.sh" >&2; }

rm -rf "$R"; mkdir -p "$R"/{pki,logs,etcd,containerd,kubelet,pod-logs,cni-ipam,relays}
: > "$R/pids"
[ -e /var/lib/cni ] || touch "$R/made-var-lib-cni"
[ -e /run/containerd ] || touch "$R/made-run-containerd"
for s in $GLOBAL_SYSCTLS; do echo "$s=$(sysctl -n "$s")"; done > "$R/sysctl.orig"
trap 'echo "cluster/up: failed; logs in $R/logs; run scripts/cluster/down.sh to clean up" >&2' ERR

# ---------------------------------------------------------------- network namespace
log "network namespace $NS: lo, $NODE_DEV=$IP, route $SVC_CIDR -> $NODE_DEV"
ip netns add "$NS"
echo "$NS" > "$R/netns"
in_ns ip link set lo up
in_ns ip link add "$NODE_DEV" type bridge
in_ns ip addr add "$IP/32" dev "$NODE_DEV"
in_ns ip link set "$NODE_DEV" up
in_ns ip route add "$SVC_CIDR" dev "$NODE_DEV"
# Per-namespace settings (they go away with the namespace).
in_ns sysctl -qw net.ipv4.ip_forward=1
in_ns sysctl -qw net.bridge.bridge-nf-call-iptables=1 2>/dev/null || log "note: net.bridge.bridge-nf-call-iptables not per-namespace here (left as is)"
# No route leaves the namespace (there is no interface to leave by); this guard
# also drops pod traffic that would be forwarded anywhere but the pods' bridge.
# In the mangle table: kube-proxy and kube-router put their own jumps (and an
# ACCEPT for what a NetworkPolicy allows) first in filter's FORWARD.
in_ns iptables -t mangle -N ADSYNC-GUARD
in_ns iptables -t mangle -A ADSYNC-GUARD -s "$CLUSTER_CIDR" -o "$BR" -j RETURN
in_ns iptables -t mangle -A ADSYNC-GUARD -s "$CLUSTER_CIDR" -j DROP
in_ns iptables -t mangle -I FORWARD 1 -j ADSYNC-GUARD

# ---------------------------------------------------------------- PKI
log "pki (ECDSA P-256: RSA keys took 6 s here)"
ossl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$P/ca.key" -out "$P/ca.crt" -days 30 -subj "/CN=adsync-cluster-ca"
cert apiserver "/CN=kube-apiserver" "IP:$IP,IP:10.96.0.1,IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
cert admin "/O=system:masters/CN=kubernetes-admin"
cert apiserver-kubelet "/O=system:masters/CN=kube-apiserver-kubelet-client"
cert kubelet "/O=system:nodes/CN=system:node:$NODE"
cert kubelet-serving "/CN=$NODE" "IP:$IP,DNS:$NODE"
cert controller-manager "/CN=system:kube-controller-manager"
cert scheduler "/CN=system:kube-scheduler"
cert kube-proxy "/CN=system:kube-proxy"
ossl ecparam -name prime256v1 -genkey -noout -out "$P/sa.key"
ossl ec -in "$P/sa.key" -pubout -out "$P/sa.pub"
for n in kubelet controller-manager scheduler kube-proxy; do kcfg "$n" "https://$IP:6443" "$n"; done
kcfg admin "https://$IP:6443" admin-in-netns
kcfg admin "https://127.0.0.1:$API_PORT" admin

# ---------------------------------------------------------------- etcd + apiserver
nstart etcd "$envtest_bin/etcd" --name=adsync --data-dir="$R/etcd" \
  --listen-client-urls="http://$IP:2379" --advertise-client-urls="http://$IP:2379" \
  --listen-peer-urls="http://$IP:2380" --initial-advertise-peer-urls="http://$IP:2380" \
  --initial-cluster="adsync=http://$IP:2380" --unsafe-no-fsync=true --log-level=warn
waitfor "etcd healthy" 60 in_ns curl -sf "http://$IP:2379/health"

nstart kube-apiserver "$envtest_bin/kube-apiserver" --etcd-servers="http://$IP:2379" \
  --bind-address="$IP" --advertise-address="$IP" --secure-port=6443 --cert-dir="$R/apiserver-certs" \
  --tls-cert-file="$P/apiserver.crt" --tls-private-key-file="$P/apiserver.key" --client-ca-file="$P/ca.crt" \
  --kubelet-client-certificate="$P/apiserver-kubelet.crt" --kubelet-client-key="$P/apiserver-kubelet.key" \
  --kubelet-certificate-authority="$P/ca.crt" --kubelet-preferred-address-types=InternalIP \
  --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local \
  --service-account-key-file="$P/sa.pub" --service-account-signing-key-file="$P/sa.key" \
  --service-cluster-ip-range="$SVC_CIDR" --allow-privileged=true --profiling=false --v=1
# The host's way in: 127.0.0.1:$API_PORT -> $R/relays/api.sock -> (in the namespace) $IP:6443.
nstart api-relay-ns socat "UNIX-LISTEN:$R/relays/api.sock,fork,unlink-early" "TCP:$IP:6443"
start api-relay-host socat "TCP-LISTEN:$API_PORT,bind=127.0.0.1,fork,reuseaddr" "UNIX-CONNECT:$R/relays/api.sock"

# ---------------------------------------------------------------- containerd (meanwhile)
sed -e "s#@R@#$R#g" "$repo_root/scripts/cluster/conf/containerd.toml" > "$R/containerd/config.toml"
sed -e "s#@R@#$R#g" -e "s#@POD_CIDR@#$POD_CIDR#g" -e "s#@BR@#$BR#g" "$repo_root/scripts/cluster/conf/10-adsync.conflist" > "$R/containerd/10-adsync.conflist"
nstart containerd containerd --config "$R/containerd/config.toml"

# The pod sandbox image, made from the pause binary as a docker-archive (no registry).
pause_dir="$R/pause-image"; mkdir -p "$pause_dir/rootfs"
cp "$cluster_bin/pause" "$pause_dir/rootfs/pause"
tar --numeric-owner --owner=0 --group=0 --mtime=@0 -C "$pause_dir/rootfs" -cf "$pause_dir/layer.tar" pause
arch="$(go env GOARCH 2>/dev/null || echo amd64)"
printf '{"architecture":"%s","os":"linux","config":{"Entrypoint":["/pause"],"User":"65535:65535"},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
  "$arch" "$(sha256sum "$pause_dir/layer.tar" | cut -d' ' -f1)" > "$pause_dir/config.json"
cfg="$(sha256sum "$pause_dir/config.json" | cut -d' ' -f1).json"; mv "$pause_dir/config.json" "$pause_dir/$cfg"
printf '[{"Config":"%s","RepoTags":["registry.k8s.io/pause:3.10"],"Layers":["layer.tar"]}]' "$cfg" > "$pause_dir/manifest.json"
tar -C "$pause_dir" -cf "$pause_dir/pause.tar" manifest.json "$cfg" layer.tar
waitfor "containerd" 60 CTR version
CTR images import "$pause_dir/pause.tar" >/dev/null
waitfor "kube-apiserver ready (host relay https://127.0.0.1:$API_PORT)" 120 admin_ok

# ---------------------------------------------------------------- control plane + node
nstart kube-controller-manager "$cluster_bin/kube-controller-manager" --kubeconfig="$R/controller-manager.kubeconfig" \
  --authentication-kubeconfig="$R/controller-manager.kubeconfig" --authorization-kubeconfig="$R/controller-manager.kubeconfig" \
  --bind-address="$IP" --leader-elect=false --use-service-account-credentials=true \
  --service-account-private-key-file="$P/sa.key" --root-ca-file="$P/ca.crt" \
  --cluster-signing-cert-file="$P/ca.crt" --cluster-signing-key-file="$P/ca.key" \
  --allocate-node-cidrs=true --cluster-cidr="$CLUSTER_CIDR" --node-cidr-mask-size=24 \
  --service-cluster-ip-range="$SVC_CIDR" --v=1
nstart kube-scheduler "$cluster_bin/kube-scheduler" --kubeconfig="$R/scheduler.kubeconfig" \
  --authentication-kubeconfig="$R/scheduler.kubeconfig" --authorization-kubeconfig="$R/scheduler.kubeconfig" \
  --bind-address="$IP" --leader-elect=false --v=1

# Pods get a resolv.conf without any name server (no cluster DNS here): a lookup
# stays on the pod's own loopback instead of going to the machine's resolver.
printf 'options ndots:1 timeout:1 attempts:1\n' > "$R/resolv.conf"
sed -e "s#@R@#$R#g" -e "s#@IP@#$IP#g" -e "s#@P@#$P#g" -e "s#resolvConf: .*#resolvConf: $R/resolv.conf#" \
  "$repo_root/scripts/cluster/conf/kubelet.yaml" > "$R/kubelet/config.yaml"
nstart kubelet "$cluster_bin/kubelet" --config="$R/kubelet/config.yaml" --kubeconfig="$R/kubelet.kubeconfig" \
  --root-dir="$R/kubelet" --hostname-override="$NODE" --node-ip="$IP" --v=1
sed -e "s#@R@#$R#g" -e "s#@IP@#$IP#g" -e "s#@CLUSTER_CIDR@#$CLUSTER_CIDR#g" -e "s#@NODE@#$NODE#g" \
  "$repo_root/scripts/cluster/conf/kube-proxy.yaml" > "$R/kube-proxy.yaml"
nstart kube-proxy "$cluster_bin/kube-proxy" --config="$R/kube-proxy.yaml" --v=1

if [ "${ADSYNC_CLUSTER_IMAGE:-1}" != 0 ]; then
  bash "$repo_root/scripts/cluster/image.sh" >&2 || die "image import failed"
fi
node_ready() { [ "$(K get node "$NODE" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]; }
waitfor "node $NODE Ready" 180 node_ready
# (kube-router reads its node's object at start: after the node has registered.)
[ "${ADSYNC_CLUSTER_NETPOL:-1}" = 0 ] || start_netpol
# Pods need their namespace's default ServiceAccount.
waitfor "default ServiceAccount" 60 K -n default get serviceaccount default
trap - ERR
{ echo "export KUBECONFIG=$R/admin.kubeconfig"; echo "$PATH_LINE"; } > "$R/env"
log "cluster up (network namespace $NS, API server https://127.0.0.1:$API_PORT); logs in $R/logs"
cat "$R/env"
