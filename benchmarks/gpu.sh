#!/usr/bin/env bash
# funcnet and Keras 3 on JAX on one accelerator, and fit's bit-determinism there (benchmarks/gpu.py).
#   bash benchmarks/gpu.sh --out docs/perf-gpu.md           # on the GPU machine: under 8 minutes
#   bash benchmarks/gpu.sh --small --out /tmp/gpu-small.md   # on a CPU: shrunk, to know that it runs
# The Python is $PYTHON, else the repository's .venv, else python3 (a GPU machine's own JAX with CUDA);
# it needs jax, optax, chex, keras and funcnet's other dependencies. The data come from
# $FUNCNET_DATA_DIR (mnist.npz, imdb.npz) where it holds them, else random data of the same shapes.
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-}"
if [ -z "$python" ]; then
    if [ -x .venv/bin/python ]; then python=.venv/bin/python; else python=python3; fi
fi
exec "$python" benchmarks/gpu.py "$@"
