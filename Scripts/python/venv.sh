# Sourced by Scripts/make-fixtures and Scripts/compare-torch: creates or reuses the Python virtual
# environment and pip-installs the pinned packages only when they are missing or at another version.
# Sets PY to the venv's python. Override the location with SPECDISTILL_VENV.
# Only PyPI is reachable here: the torch wheel from PyPI is the CUDA build (several GB), which also
# runs on the CPU.
SPECDISTILL_VENV="${SPECDISTILL_VENV:-$HOME/.cache/specdistill/venv}"
SPECDISTILL_PINS=(
  "torch==2.15.0"
  "transformers==5.24.0"
  "safetensors==0.8.0"
  "tokenizers==0.23.3"
  "gguf==0.19.0"
  "numpy==2.4.6"
  "accelerate==1.15.0"  # transformers needs it to load GGUF files (compare-torch, SmolLM2)
)

if [ ! -x "$SPECDISTILL_VENV/bin/python" ]; then
  echo "Creating the virtual environment $SPECDISTILL_VENV…"
  mkdir -p "$(dirname "$SPECDISTILL_VENV")"
  python3 -m venv "$SPECDISTILL_VENV" || {
    echo "error: python3 -m venv failed; install Debian's python3-venv (apt-get install python3-venv) and re-run." >&2
    exit 1
  }
fi
PY="$SPECDISTILL_VENV/bin/python"

# Which pins are missing or at another version ("2.15.0+cu132" counts as 2.15.0).
mapfile -t SPECDISTILL_MISSING < <("$PY" - "${SPECDISTILL_PINS[@]}" <<'PYEOF'
import sys
from importlib.metadata import version, PackageNotFoundError
for pin in sys.argv[1:]:
    name, want = pin.split("==")
    try:
        have = version(name).split("+")[0]
    except PackageNotFoundError:
        have = None
    if have != want:
        print(pin)
PYEOF
)
if [ ${#SPECDISTILL_MISSING[@]} -gt 0 ]; then
  echo "pip-installing into $SPECDISTILL_VENV: ${SPECDISTILL_MISSING[*]}"
  "$PY" -m pip install -q "${SPECDISTILL_MISSING[@]}"
fi
