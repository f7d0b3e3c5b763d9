# Sourced by Scripts/test and Scripts/demo: installs OpenBLAS / LAPACKE / pkg-config, bubblewrap
# (the sandbox of eval --run-code) and Open MPI (mpirun; the library of data-parallel training), when missing (apt-get update first; as root directly, otherwise
# through sudo).
ensure_system_packages() {
  local need=()
  [ -f /usr/include/lapacke.h ] || need+=(liblapacke-dev)
  pkg-config --exists openblas 2>/dev/null || need+=(libopenblas-dev)
  command -v pkg-config >/dev/null || need+=(pkg-config)
  command -v bwrap >/dev/null || need+=(bubblewrap)
  pkg-config --exists ompi-c 2>/dev/null || need+=(libopenmpi-dev)
  command -v mpirun >/dev/null || need+=(openmpi-bin)
  if [ ${#need[@]} -gt 0 ]; then
    echo "Installing ${need[*]} (apt-get)…" >&2
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" pkg-config >/dev/null
  fi
}

# apt_install PACKAGE... : installs the named Debian packages when dpkg does not list them.
apt_install() {
  local need=() p
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || need+=("$p"); done
  [ ${#need[@]} -eq 0 ] && return 0
  echo "Installing ${need[*]} (apt-get)…" >&2
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
}
