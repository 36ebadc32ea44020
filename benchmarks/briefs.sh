#!/usr/bin/env bash
# Regenerate the two example policy briefs into results/briefs/ and time each.
#
#   bash benchmarks/briefs.sh            # uses ./.venv/bin/python if present, else python3
#   PYTHON=/path/to/python bash benchmarks/briefs.sh
#
# Each brief is made from real runs: the model's scenarios (PySD), the same
# scenarios over 400 plausible parameter sets (ensemble engine: bands, 90% ranges,
# how often one ends above another), its feedback loops (Loops that Matter), a
# default Sobol' analysis (N = 256) and, for machine_tool_io, the regime map of
# its [compare] table (50 x 50 grid); the PDF is printed by headless Chromium. Output:
# results/briefs/MODEL/{brief.html,brief.pdf,manifest.json}; existing folders are
# replaced. Equivalent to `sdrev report MODEL --out results/briefs/MODEL`.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}"
mkdir -p results/briefs
for model in crrc_standards machine_tool_io; do
  rm -rf "results/briefs/$model"
  "$PYTHON" - "$model" <<'PY'
import sys, time
import sdrev
from sdrev.report import brief

name = sys.argv[1]
start = time.perf_counter()
b = brief.build_brief(sdrev.load(name))
paths = brief.write_brief(b, f"results/briefs/{name}",
                          command=f"bash benchmarks/briefs.sh ({name})")
parts = ", ".join(f"{k} {v:.1f} s" for k, v in b.timings.items())
print(f"{name}: {time.perf_counter() - start:.1f} s in all ({parts}); "
      f"wrote {', '.join(str(p) for p in paths)}")
PY
done
