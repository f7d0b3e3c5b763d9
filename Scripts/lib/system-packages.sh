# Sourced by Scripts/test and Scripts/demo: installs OpenBLAS / LAPACKE / pkg-config when missing
# (apt-get update first; as root directly, otherwise through sudo).
ensure_system_packages() {
  local need=()
  [ -f /usr/include/lapacke.h ] || need+=(liblapacke-dev)
  pkg-config --exists openblas 2>/dev/null || need+=(libopenblas-dev)
  command -v pkg-config >/dev/null || need+=(pkg-config)
  if [ ${#need[@]} -gt 0 ]; then
    echo "Installing ${need[*]} (apt-get)…" >&2
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" pkg-config >/dev/null
  fi
}
