#!/usr/bin/env python3
"""Split the GPU kernel time of a Kineto Chrome trace into the selective scan, GEMMs and the rest.

The trace is the one bench_tsm2_train --trace writes (20 eager bf16 TSM2 training steps). Kernel
events are the complete events ("ph": "X") of category "kernel"; memcpy/memset events are counted
apart. Groups, by the kernel's name:
  scan   names containing one of the selective-scan kernels of src/ops/cuda (scan_fwd_kernel,
         scan_fwd_combine_kernel, scan_bwd_kernel, scan_bwd_local_kernel, scan_bwd_combine_kernel)
  gemm   names containing gemm, sgemm, cutlass, cublas or nvjet (case-insensitive)
  rest   every other kernel
Prints ms per step and the share of the kernel time for each group, the ten costliest kernels of
the rest, and the scan launches grouped by kernel and launch shape (grid x block from the trace's
"args"), which tells the sequence regimes of a model apart.

Usage: tools/bench/profile_split.py TRACE.json [--steps 20] [--json] [--top N]
"""
import argparse
import json
import sys
from collections import defaultdict

SCAN_KERNELS = ("scan_fwd_kernel", "scan_fwd_combine_kernel", "scan_bwd_kernel",
                "scan_bwd_local_kernel", "scan_bwd_combine_kernel")
GEMM_MARKERS = ("gemm", "sgemm", "cutlass", "cublas", "nvjet")


def classify(name):
    if any(k in name for k in SCAN_KERNELS):
        return "scan"
    low = name.lower()
    if any(m in low for m in GEMM_MARKERS):
        return "gemm"
    return "rest"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("trace")
    ap.add_argument("--steps", type=int, default=20, help="training steps in the trace")
    ap.add_argument("--json", action="store_true", help="also print one JSON line")
    ap.add_argument("--top", type=int, default=10, help="rows of the per-kernel tables")
    args = ap.parse_args()
    with open(args.trace) as f:
        trace = json.load(f)
    events = trace["traceEvents"] if isinstance(trace, dict) else trace
    total = defaultdict(float)   # microseconds per group
    count = defaultdict(int)
    per_kernel = defaultdict(float)
    per_launch = defaultdict(lambda: [0.0, 0])   # scan (kernel, grid, block) -> [us, launches]
    copies_us = 0.0
    for e in events:
        if e.get("ph") != "X":
            continue
        cat = e.get("cat", "")
        dur = float(e.get("dur", 0.0))
        if cat == "kernel":
            name = e.get("name", "")
            g = classify(name)
            total[g] += dur
            count[g] += 1
            if g == "rest":
                per_kernel[name] += dur
            elif g == "scan":
                a = e.get("args", {})
                short = next(k for k in SCAN_KERNELS if k in name)
                key = (short, str(a.get("grid", "?")), str(a.get("block", "?")))
                per_launch[key][0] += dur
                per_launch[key][1] += 1
        elif cat in ("gpu_memcpy", "gpu_memset"):
            copies_us += dur
    kernel_us = sum(total.values())
    if kernel_us == 0:
        print("no GPU kernel events in %s (was CUPTI available to Kineto?)" % args.trace)
        return 1
    steps = max(1, args.steps)
    print("GPU kernel time per step over %d steps: %.3f ms in %d kernels/step "
          "(+ %.3f ms memcpy/memset)" % (steps, kernel_us / 1e3 / steps,
                                         sum(count.values()) // steps, copies_us / 1e3 / steps))
    print("| group | ms/step | share of kernel time (%) | kernels/step |")
    print("|---|---|---|---|")
    for g in ("scan", "gemm", "rest"):
        print("| %s | %.3f | %.1f | %d |" % (g, total[g] / 1e3 / steps, 100.0 * total[g] / kernel_us,
                                            count[g] // steps))
    print("\ncostliest kernels of the rest (ms/step):")
    for name, us in sorted(per_kernel.items(), key=lambda kv: -kv[1])[:args.top]:
        print("  %.3f  %s" % (us / 1e3 / steps, name[:140]))
    print("\nscan launches by kernel and shape (ms/step, launches/step, us/launch):")
    for (k, grid, block), (us, n) in sorted(per_launch.items(), key=lambda kv: -kv[1][0])[:args.top]:
        print("  %.3f  %5.1f  %8.1f  %s grid %s block %s" % (us / 1e3 / steps, n / steps, us / max(n, 1),
                                                          k, grid, block))
    if args.json:
        print(json.dumps({"bench": "tsm2_profile_split", "steps": steps,
                          "kernel_ms_per_step": kernel_us / 1e3 / steps,
                          **{g + "_ms_per_step": total[g] / 1e3 / steps for g in ("scan", "gemm", "rest")},
                          **{g + "_pct": 100.0 * total[g] / kernel_us for g in ("scan", "gemm", "rest")},
                          "kernels_per_step": sum(count.values()) // steps}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
