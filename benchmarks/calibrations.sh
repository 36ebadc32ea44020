#!/usr/bin/env bash
# Calibrate every library model that has a calibration spec to its case
# study's numbers, and write each fit into results/calibration/MODEL/.
#
#   bash benchmarks/calibrations.sh            # uses ./.venv/bin/sdrev if present
#   bash benchmarks/calibrations.sh ets_reverse_innovation   # one model
#
# Each run is `sdrev calibrate MODEL --out results/calibration/MODEL` with the
# spec's own method, seed and length (calibration/MODEL.toml): summary.csv says
# which parameters the data identify, figures/fit.png shows the observations
# over the posterior predictive bands. Existing folders are replaced; nothing
# here is committed. mne_reverse_knowledge is subscripted and runs on the numpy
# engine (about two minutes); the others take seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
SDREV="${SDREV:-$( [ -x .venv/bin/sdrev ] && echo .venv/bin/sdrev || echo sdrev )}"
mkdir -p results/calibration
if [ "$#" -gt 0 ]; then models=("$@"); else
  models=(); for spec in calibration/*.toml; do models+=("$(basename "$spec" .toml)"); done
fi
for model in "${models[@]}"; do
  rm -rf "results/calibration/$model"
  start=$(date +%s)
  "$SDREV" calibrate "$model" --out "results/calibration/$model" --quiet
  echo "$model: $(( $(date +%s) - start )) s -> results/calibration/$model"
  echo
done
