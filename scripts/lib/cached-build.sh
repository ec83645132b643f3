# Sourced by scripts/envtest/build.sh and scripts/tools/build.sh: the shared
# skeleton of "build binaries once per version into a cache outside the work tree".
#   cached_build_init NAME VERSION_KEY BINARY...   sets version_dir, bin_dir, tmp_bin, jobs
#     - with --print-dir (in CACHED_BUILD_ARGS) prints bin_dir, or fails if not built
#     - when every binary is there, prints bin_dir and exits 0
#     - otherwise takes a per-version lock, then leaves the caller to build into $tmp_bin
#   cached_build_finish                            moves $tmp_bin into place, prints bin_dir
#   mod_version GO_MOD MODULE                      the required version of MODULE in GO_MOD
# The bin directory is always the LAST line on stdout; everything else goes to stderr.

if ! command -v go >/dev/null 2>&1; then
  export PATH="/usr/local/go/bin:$PATH"
fi

mod_version() {
  awk -v m="$2" '{ if ($1 == "require") { $1 = ""; $0 = $0 } } $1 == m && $2 ~ /^v/ { print $2; exit }' "$1"
}

cached_build_init() {
  _cb_name="$1"; shift
  local key="$1"; shift
  _cb_binaries=("$@")
  version_dir="${XDG_CACHE_HOME:-$HOME/.cache}/truetask-adsync/$_cb_name/$key"
  bin_dir="$version_dir/bin"
  if [ "${CACHED_BUILD_ARGS:-}" = "--print-dir" ]; then
    _cb_built || { echo "$_cb_name/build: not built yet: $bin_dir (run scripts/$_cb_name/build.sh)" >&2; exit 1; }
    echo "$bin_dir"; exit 0
  fi
  if _cb_built; then echo "$bin_dir"; exit 0; fi
  command -v go >/dev/null 2>&1 || { echo "$_cb_name/build: go not found (install Go >= 1.26)" >&2; exit 1; }
  mkdir -p "$version_dir"
  # One builder at a time per version (parallel test runs / fresh clones on the same machine).
  exec 9>"$version_dir/.lock"
  flock 9
  if _cb_built; then echo "$bin_dir"; exit 0; fi
  jobs="$(nproc 2>/dev/null || echo 2)"
  [ "$jobs" -gt 4 ] && jobs=4
  tmp_bin="$version_dir/bin.tmp.$$"
  rm -rf "$tmp_bin"; mkdir -p "$tmp_bin"
  trap 'rm -rf "$tmp_bin"' EXIT
}

_cb_built() {
  local b
  for b in "${_cb_binaries[@]}"; do [ -x "$bin_dir/$b" ] || return 1; done
}

cached_build_finish() {
  rm -rf "$bin_dir"
  mv "$tmp_bin" "$bin_dir"
  trap - EXIT
  echo "$_cb_name/build: done" >&2
  echo "$bin_dir"
}

# k8s_ldflags VERSION: the -ldflags of a Kubernetes command built from the module
# (stripped, with the version `kubectl version` and the API server report).
k8s_ldflags() {
  local version="$1" minor pkg flags="-s -w"
  minor="${version#v1.}"; minor="${minor%%.*}"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    flags+=" -X $pkg.gitVersion=$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
  done
  printf '%s' "$flags"
}
