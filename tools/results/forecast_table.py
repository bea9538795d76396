#!/usr/bin/env python3
"""The forecasting table of docs/results.md from `mmx sweep` output folders.

Usage: tools/results/forecast_table.py RUNS_ROOT
  RUNS_ROOT holds one folder per cell named <dataset>_<H> (as tools/gpu/table.sh writes them),
  each with the sweep's sweep.csv. For every cell the script picks the configuration with the
  lowest mean validation MSE over its finished seeds (the rule of `mmx sweep`; test metrics are
  not read to choose), then prints test MSE and MAE as mean +- sample sd over those seeds, the
  test windows, and the published numbers beside them:
    TSM2 and SAMformer: MambaMixer (arXiv 2403.19888) Table 5, lookback 512;
    PatchTST/64: Nie et al. 2023 (arXiv 2211.14730) Table 3, lookback 512 (not reported for
    Exchange).
Standard library only.
"""
import csv
import math
import os
import sys

DATASETS = [("etth1", "ETTh1"), ("etth2", "ETTh2"), ("ettm1", "ETTm1"), ("ettm2", "ETTm2"),
            ("weather", "Weather"), ("exchange", "Exchange")]
HORIZONS = [96, 192, 336, 720]

# MambaMixer Table 5 (MSE, lookback 512): TSM2 and SAMformer columns.
PAPER_TSM2 = {
    "ETTh1": [0.375, 0.398, 0.419, 0.422], "ETTh2": [0.253, 0.334, 0.347, 0.401],
    "ETTm1": [0.322, 0.349, 0.366, 0.407], "ETTm2": [0.173, 0.230, 0.279, 0.388],
    "Weather": [0.161, 0.208, 0.252, 0.337], "Exchange": [0.163, 0.229, 0.383, 0.999],
}
SAMFORMER = {
    "ETTh1": [0.381, 0.409, 0.423, 0.427], "ETTh2": [0.295, 0.340, 0.350, 0.391],
    "ETTm1": [0.329, 0.353, 0.382, 0.429], "ETTm2": [0.181, 0.233, 0.285, 0.375],
    "Weather": [0.197, 0.235, 0.276, 0.334], "Exchange": [0.161, 0.246, 0.368, 1.003],
}
# PatchTST/64 (lookback 512, patch 16, stride 8), Nie et al. 2023 Table 3, MSE. No Exchange
# results in that paper.
PATCHTST = {
    "ETTh1": [0.370, 0.413, 0.422, 0.447], "ETTh2": [0.274, 0.341, 0.329, 0.379],
    "ETTm1": [0.293, 0.333, 0.369, 0.416], "ETTm2": [0.166, 0.223, 0.274, 0.362],
    "Weather": [0.149, 0.194, 0.245, 0.314],
}


def mean_sd(xs):
    m = sum(xs) / len(xs)
    sd = math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1)) if len(xs) > 1 else float("nan")
    return m, sd


def cell(root, key, h):
    """(test MSEs, test MAEs, windows, configuration, wall seconds) of the selected configuration."""
    path = os.path.join(root, f"{key}_{h}", "sweep.csv")
    if not os.path.exists(path):
        return None
    with open(path, newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["status"] == "finished"]
    configs = {}
    for r in rows:
        name = r["run"].rsplit("seed-", 1)[0].rstrip("_") or "(base config)"
        configs.setdefault(name, []).append(r)
    if not configs:
        return None
    best = min(configs, key=lambda c: mean_sd([float(r["val_mse"]) for r in configs[c]])[0])
    sel = configs[best]
    return ([float(r["test_mse"]) for r in sel], [float(r["test_mae"]) for r in sel],
            {int(r["test_windows"]) for r in sel}, best, sum(float(r["seconds"]) for r in rows))


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    root = sys.argv[1]
    print("| data set | H | ours: test MSE (mean ± sd) | test MAE | seeds | test windows "
          "| paper TSM2 | SAMformer | PatchTST/64 | at or below the paper |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    wins = misses = 0
    for key, name in DATASETS:
        for i, h in enumerate(HORIZONS):
            paper = PAPER_TSM2[name][i]
            ptst = PATCHTST.get(name)
            ptst_s = f"{ptst[i]:.3f}" if ptst else "–"
            c = cell(root, key, h)
            if c is None:
                print(f"| {name} | {h} | not run | | | | {paper:.3f} | {SAMFORMER[name][i]:.3f} | {ptst_s} | – |")
                continue
            mse, mae, windows, _, _ = c
            m, sd = mean_sd(mse)
            a, asd = mean_sd(mae)
            # Compared at the paper's three decimals.
            ok = round(m, 3) <= paper
            wins += ok
            misses += not ok
            verdict = "yes" if ok else f"no (+{m - paper:.3f})"
            print(f"| {name} | {h} | {m:.4f} ± {sd:.4f} | {a:.4f} ± {asd:.4f} | {len(mse)} "
                  f"| {','.join(map(str, sorted(windows)))} | {paper:.3f} | {SAMFORMER[name][i]:.3f} "
                  f"| {ptst_s} | {verdict} |")
    print(f"\nAt or below the paper's TSM2 MSE in {wins} of {wins + misses} cells run.")


if __name__ == "__main__":
    main()
