#!/usr/bin/env bash
# Set up everything the course needs on a fresh machine, idempotently:
#   1. the Debian corpora (sword-text-web, sword-text-sparv) via apt-get when root, else a clear message;
#   2. a virtual environment in .venv (Python 3.11 preferred: torch wheels for it may be cached locally);
#   3. exactly the pip packages of requirements.lock, requirements-nodeps.txt (--no-deps) and course_utils (-e).
# What to install:
#   INSTALL=developer  the whole lock: notebooks, tests, lint (make setup, make test; the default on a new venv)
#   INSTALL=learner    what the notebooks need, without the test, lint and lock tools (make learner)
#   INSTALL=           keep the kind the venv has (make lab: a learner venv stays one; a new venv gets
#                      DEFAULT_INSTALL, which make lab sets to learner)
#   TORCH=cpu          torch and torchvision from PyTorch's CPU-only index, without PyPI's CUDA stack (Linux:
#                      about 4 GB less); TORCH=default is PyPI's torch (with CUDA on Linux)
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
DEBS="sword-text-web sword-text-sparv"

corpus_fallback="the first notebook that needs the Bible text (09-12) downloads the same two Debian packages once (6.7 MB, SHA-256 checked) into the cache"
if ! command -v dpkg-query >/dev/null; then
  echo "== not a Debian/Ubuntu system: $corpus_fallback"
else
  missing_debs=""
  for pkg in $DEBS; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing_debs="$missing_debs $pkg"
  done
  if [ -n "$missing_debs" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      echo "== installing Debian corpora:$missing_debs"
      export DEBIAN_FRONTEND=noninteractive
      if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends $missing_debs; }; then
        echo "!! apt-get could not install$missing_debs (offline, or no such package here); nothing is lost:" >&2
        echo "!! $corpus_fallback." >&2
      fi
    else
      echo "!! The Debian corpora$missing_debs are missing and this is not root." >&2
      echo "!! Install them with:  sudo apt-get update && sudo apt-get install -y$missing_debs" >&2
      echo "!! or do nothing: $corpus_fallback." >&2
    fi
  fi
fi

if [ ! -x "$VENV/bin/python" ]; then
  PY=${PYTHON:-}
  if [ -z "$PY" ]; then
    for cand in python3.11 python3.12 python3; do
      if command -v "$cand" >/dev/null; then PY=$cand; break; fi
    done
  fi
  if [ -z "$PY" ] || ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "!! The course needs Python 3.11 or newer (transformers 5.21+ does); found: ${PY:-no python3}." >&2
    echo "!! Install Python 3.11 (python.org, your package manager, pyenv or uv) and run: PYTHON=python3.11 make setup" >&2
    exit 1
  fi
  echo "== creating $VENV with $($PY --version)"
  "$PY" -m venv "$VENV"
fi

# The lock is what we tested: install exactly it (pip, not uv: pip sees this machine's local torch wheels).
"$VENV/bin/python" -m course_utils.lock validate  # a corrupt line is named here, not deep inside pip
stamp="$VENV/.course-installed"
want=$("$VENV/bin/python" -c 'import hashlib, sys; print(hashlib.sha256(b"".join(open(f, "rb").read() for f in sys.argv[1:])).hexdigest()[:16])' requirements.lock requirements-nodeps.txt pyproject.toml)
# The stamp: "<hash of the lock files> <install kind> <torch kind>" (an old stamp holds only the hash).
read -r have_hash have_kind have_torch < "$stamp" 2>/dev/null || true
INSTALL=${INSTALL:-${have_kind:-${DEFAULT_INSTALL:-developer}}}
TORCH=${TORCH:-${have_torch:-default}}
case "$INSTALL" in developer|learner) ;; *)
  echo "!! INSTALL=$INSTALL is not a kind of install: use INSTALL=developer (tests, lint) or INSTALL=learner" >&2; exit 2;;
esac
case "$TORCH" in default|cpu) ;; *)
  echo "!! TORCH=$TORCH is not a torch build: use TORCH=cpu (the CPU-only wheel) or TORCH=default (PyPI's)" >&2; exit 2;;
esac
if [ "${have_hash:-}" = "$want" ] && [ "${have_torch:-default}" = "$TORCH" ] \
   && { [ "${have_kind:-developer}" = "$INSTALL" ] || [ "${have_kind:-developer}" = developer ]; }; then
  echo "== $VENV is up to date (${have_kind:-developer} install, $TORCH torch)"
  exit 0
fi
pip_or_explain() {
  if ! "$VENV/bin/python" -m pip install -q "$@"; then
    echo "!! pip could not install $*: is the package index reachable (network, proxy)? The lock itself was valid." >&2
    echo "!! Nothing was marked installed; run make setup again once pip can reach the index." >&2
    exit 1
  fi
}
echo "== installing the locked pip packages into $VENV ($INSTALL install, $TORCH torch; a few minutes the first time)"
pip_or_explain --upgrade pip
plan_args=""
[ "$INSTALL" = learner ] && plan_args="$plan_args --learner"
[ "$TORCH" = cpu ] && plan_args="$plan_args --cpu-torch"
"$VENV/bin/python" -m course_utils.lock plan $plan_args > "$VENV/requirements-install.txt"
if [ "$TORCH" = cpu ]; then
  # The same versions as the lock, built for the CPU only (a local version such as 2.14.1+cpu satisfies ==2.14.1).
  torch_pins=$(grep -E '^(torch|torchvision)==' "$VENV/requirements-install.txt" | cut -d ' ' -f 1 | tr '\n' ' ')
  pip_or_explain --index-url "$("$VENV/bin/python" -c 'from course_utils.lock import CPU_TORCH_INDEX; print(CPU_TORCH_INDEX)')" $torch_pins
fi
pip_or_explain -r "$VENV/requirements-install.txt"
pip_or_explain --no-deps -r requirements-nodeps.txt
pip_or_explain --no-deps -e .
echo "$want $INSTALL $TORCH" > "$stamp"
echo "== done: $("$VENV/bin/python" -c 'import torch, transformers, datasets; print("torch", torch.__version__, "| transformers", transformers.__version__, "| datasets", datasets.__version__)')"
