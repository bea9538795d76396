#!/usr/bin/env python3
"""Tabulates the runs of a grid (tools/gpu/train.sh output) and selects the best by validation MSE.

Usage: tools/results/select_runs.py RUNS_DIR
Prints one Markdown row per run (arguments, epochs, best epoch, val MSE, test MSE/MAE, windows,
seconds) and the selected run. Test numbers are shown for the record only; they never select.
"""
import json
import pathlib
import sys

runs = []
for d in sorted(pathlib.Path(sys.argv[1]).iterdir()):
    m = d / "metrics.json"
    if not d.is_dir() or not m.exists():
        continue
    j = json.loads(m.read_text())
    if "test" not in j:
        continue
    args = (d / "args.txt").read_text().strip() if (d / "args.txt").exists() else d.name
    runs.append((j["best_val_mse"], args, j))

print("| run | epochs | best epoch | val MSE | test MSE | test MAE | test windows | train s |")
print("|---|---|---|---|---|---|---|---|")
for val, args, j in sorted(runs, key=lambda r: r[0]):
    args = args.replace("configs/tsm2/", "").replace("--set ", "")
    print(f"| {args} | {len(j['epochs'])} | {j['best_epoch']} | {val:.4f} | {j['test']['mse']:.4f} | "
          f"{j['test']['mae']:.4f} | {j['test']['windows']} | {j['train_seconds']:.0f} |")
if runs:
    val, args, j = min(runs, key=lambda r: r[0])
    print(f"\nselected by validation MSE: {args}: test MSE {j['test']['mse']:.4f}, MAE {j['test']['mae']:.4f}")
