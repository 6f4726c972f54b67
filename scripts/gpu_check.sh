#!/usr/bin/env bash
# Run the GPU tests and benchmarks on a CUDA machine; results go to $OUT (default: gpu-out/).
# Usage: scripts/gpu_check.sh [tests] [scope] [run] [data] [doctor]   (no argument: all)
set -u
OUT=${OUT:-gpu-out}
mkdir -p "$OUT"
export PYTHONPATH=${PYTHONPATH:+$PYTHONPATH:}$PWD/src PYTHONUNBUFFERED=1
# NVLink multicast stays off in every process (shared machines).
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
parts=${*:-tests scope run data doctor}
py=${PYTHON:-python3}
{ $py -c "import sys,torch; print(sys.version.split()[0], torch.__version__, torch.version.cuda, torch.cuda.get_device_name())"; nvidia-smi -L; } > "$OUT/env.txt" 2>&1
cat "$OUT/env.txt"
for part in $parts; do
  start=$(date +%s)
  case $part in
    tests)  timeout 300 $py -m pytest -q -W default -p no:cacheprovider tests/gpu > "$OUT/tests_gpu.txt" 2>&1 ;;
    scope)  { timeout 120 $py benchmarks/scope_overhead.py --device cuda --model anchor --out "$OUT/scope_overhead_anchor.json"
              timeout 120 $py benchmarks/scope_overhead.py --device cuda --model example --out "$OUT/scope_overhead_example.json"; } > "$OUT/scope_overhead.txt" 2>&1 ;;
    run)    timeout 300 $py benchmarks/run_overhead.py --models example anchor --repeats 8 --steps 300 --out "$OUT/run_overhead.json" > "$OUT/run_overhead.txt" 2>&1 ;;
    data)   { timeout 150 $py benchmarks/data_transfer.py --sweep --out "$OUT/data_transfer.json"
              timeout 200 $py benchmarks/data_prefetch.py --out "$OUT/data_prefetch.json"; } > "$OUT/data.txt" 2>&1 ;;
    doctor) { COLUMNS=160 timeout 200 $py -m torchwarden doctor --json "$OUT/doctor_gpu.json"; echo "doctor rc=$?"
              timeout 300 $py benchmarks/doctor_speed.py --out "$OUT/doctor_speed.json"
              $py -m torchwarden env diff tests/env/fixtures/cpu.json "$OUT/doctor_gpu.json"; echo "diff rc=$?"; } > "$OUT/doctor.txt" 2>&1 ;;
  esac
  echo "== $part: rc=$? in $(( $(date +%s) - start ))s"
done
for f in "$OUT"/*.txt; do echo "---- $f"; tail -n 25 "$f"; done
