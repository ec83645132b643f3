#!/usr/bin/env bash
# Installs what the throw-away Samba AD domain controller of the tests and the
# demo needs (test/support/samba.ts), on Debian/Ubuntu. Idempotent: a quick
# no-op when everything is present. Run as root (or it re-runs itself with sudo).
#
#   samba               the AD DC binary (`samba`) and samba-tool
#   samba-dsdb-modules  the directory database modules (a DC cannot start without)
#   samba-vfs-modules   acl_xattr, which `samba-tool domain provision` uses for sysvol
#   samba-ad-provision  the AD schema files provisioning reads
#   ldb-tools           ldbmodify (seeding), ldbsearch
#   ldap-utils          ldapsearch (debugging)
#   iproute2            `ip addr add 127.0.0.N/32 dev lo`
#   openssl             certificates for the test kube-apiserver (test/support/kube-apiserver.ts)
# --no-install-recommends keeps winbind/libnss-winbind out; with winbind in
# /etc/nsswitch.conf provisioning takes ~50 s instead of a few, so it is removed
# from there. No service is started (a policy-rc.d blocks it during the install;
# systemd is not needed).
set -euo pipefail

PKGS=(samba samba-dsdb-modules samba-vfs-modules samba-ad-provision ldb-tools ldap-utils iproute2 openssl)

if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then exec sudo -- bash "$0" "$@"; fi
  echo "install.sh: run as root" >&2; exit 1
fi

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then missing+=("$p"); fi
done

if [ "${#missing[@]}" -gt 0 ]; then
  echo "install.sh: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  # Keep package scripts from starting smbd/nmbd/samba-ad-dc.
  created_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    created_policy=1
  fi
  trap '[ "$created_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d' EXIT
  if ! apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi

# winbind in nsswitch makes every uid/gid lookup during provisioning time out.
if [ -f /etc/nsswitch.conf ] && grep -Eq '^[a-z_]+:.*[[:space:]]winbind([[:space:]]|$)' /etc/nsswitch.conf; then
  echo "install.sh: removing winbind from /etc/nsswitch.conf" >&2
  sed -i -E '/^[a-z_]+:/ s/[[:space:]]+winbind([[:space:]]|$)/\1/g' /etc/nsswitch.conf
fi

for c in samba samba-tool ldbmodify; do
  command -v "$c" >/dev/null 2>&1 || [ -x "/usr/sbin/$c" ] || [ -x "/usr/bin/$c" ] || { echo "install.sh: $c still missing" >&2; exit 1; }
done
echo "install.sh: Samba AD DC prerequisites present ($(samba --version 2>/dev/null || /usr/sbin/samba --version))" >&2
