#!/usr/bin/env bash
# Set up every test environment on a fresh machine and run the whole suite: ruff + pytest.
#
#   bash tools/run_tests.sh            # everything (what CI runs)
#   bash tools/run_tests.sh -k tiles   # extra args go to every pytest run
#
# The suite needs four Python environments that cannot share one venv:
#   core    numpy/opencv/scikit-image, no torch    -> most tests, ruff
#   yolo    CPU-runnable torch 2.14.1 + torchvision + ultralytics -> tests marked `yolo`
#   gradio3 A1111's stack (gradio 3.41.2, pydantic 1) -> tests marked `gradio3`
#   gradio4 Forge's stack (gradio 4.40.0, pydantic 2) -> tests marked `gradio4`
# Each venv lives under $ENHANCE_VENVS (default .venv/) and is rebuilt only when its
# requirements file changes. Headless Chromium (review page test) and redis-server (the work
# queue's tests start real ones) are installed with apt if missing.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
venvs=${ENHANCE_VENVS:-$root/.venv}
python=${PYTHON:-python3}
export GRADIO_ANALYTICS_ENABLED=False HF_HUB_OFFLINE=1 PIP_DISABLE_PIP_VERSION_CHECK=1
export PYTHONDONTWRITEBYTECODE=1
reports=$(mktemp -d)

venv() {  # venv NAME REQUIREMENTS -> prints the venv's python
  local dir=$venvs/$1 want
  want=$(cat "$2" requirements/*.txt | sha256sum | cut -c1-16)
  if [ ! -x "$dir/bin/python" ] || [ "$(cat "$dir/.requirements-sha" 2>/dev/null)" != "$want" ]; then
    echo "== setting up $1 venv ($2)" >&2
    rm -rf "$dir"
    "$python" -m venv "$dir"
    "$dir/bin/pip" install -q -r "$2" >&2
    echo "$want" >"$dir/.requirements-sha"
  fi
  echo "$dir/bin/python"
}

ensure_command() {  # ensure_command COMMAND DEBIAN-PACKAGE WHY
  command -v "$1" >/dev/null && return
  echo "== installing $2 ($3)" >&2
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo=sudo
  ($sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2") >&2
}

run_pytest() {  # run_pytest NAME PYTHON MARKEXPR [args]
  local name=$1 py=$2 mark=$3
  shift 3
  echo "== pytest [$name] -m '$mark'"
  "$py" -m pytest -m "$mark" --junitxml="$reports/$name.xml" -p no:cacheprovider "$@" || status=1
}

status=0
core=$(venv core requirements/test.txt)
echo "== ruff"
"$(dirname "$core")/ruff" check . || status=1
"$(dirname "$core")/ruff" format --check . || status=1

ensure_command chromium chromium "review page and browser tests"
ensure_command redis-server redis-server "work queue tests"
run_pytest core "$core" "not yolo and not gradio3 and not gradio4" "$@"

yolo=$(venv yolo requirements/yolo.txt)
"$yolo" tests/fixtures/fetch_models.py >&2
run_pytest yolo "$yolo" yolo "$@"

run_pytest gradio3 "$(venv gradio3 requirements/gradio3.txt)" gradio3 tests/webui "$@"
run_pytest gradio4 "$(venv gradio4 requirements/gradio4.txt)" gradio4 tests/webui "$@"

"$core" tools/summarize_junit.py "$reports"/*.xml || status=1
exit $status
