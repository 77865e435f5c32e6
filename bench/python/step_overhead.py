#!/usr/bin/env python3
"""Amortized cost of a new (not memoized) no-op Python host step, printed as JSON.

Method, the same as the C++ `host_step` section of storyloom_bench (bench/host_step.cc):
one run calls ``ctx.step(name, fn)`` K times, fn returning {"i": i}; timed inside the
workflow function from before the first step to after the K-th, divided by K. That is the
host-side cost per step: step_begin through the C ABI (GIL released), the Python call,
json.dumps, step_complete and the wait for its commit (GIL released), json.loads: a step
returns only once its result is durable, so one commit of the engine's writer thread per
step (fsynced at the default durability "full") is in the figure. Also reported:
start-to-completed wall time divided by K.
Repeated R times (one run each) on a fresh engine; medians over the repetitions.

    python bench/python/step_overhead.py [--steps 10000] [--reps 5]
        [--cpp build-bench/bench/storyloom_bench]   # also run the C++ section, print ratio
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

import storyloom

TARGET_US = 30.0


def measure(steps: int, reps: int, asynchronous: bool, durability: str = "full") -> dict:
    inside: list[float] = []
    e2e: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        with storyloom.Engine(
            f"sqlite:{tmp}/bench.db", poll_interval=0.005, durability=durability
        ) as engine:
            names = [f"step-{i}" for i in range(steps)]
            box: dict[str, float] = {}

            if asynchronous:

                @engine.workflow("py_step")
                async def wf(ctx, input):
                    t0 = time.perf_counter_ns()
                    for i, name in enumerate(names):
                        await ctx.step(name, lambda i=i: {"i": i})
                    box["ns"] = time.perf_counter_ns() - t0
                    return {"steps": steps}
            else:

                @engine.workflow("py_step")
                def wf(ctx, input):
                    t0 = time.perf_counter_ns()
                    for i, name in enumerate(names):
                        ctx.step(name, lambda i=i: {"i": i})
                    box["ns"] = time.perf_counter_ns() - t0
                    return {"steps": steps}

            engine.launch()
            for rep in range(reps):
                print(
                    f"step_overhead: {'async' if asynchronous else 'sync'} repetition "
                    f"{rep + 1} of {steps} steps...",
                    file=sys.stderr,
                )
                t0 = time.perf_counter_ns()
                run = engine.start("py_step", {"rep": rep})
                done = engine.wait(run.id, timeout=300)
                total = time.perf_counter_ns() - t0
                assert done.status == "completed", done
                inside.append(box["ns"] / 1e3 / steps)
                e2e.append(total / 1e3 / steps)
    return {
        "us_per_step_inside_workflow": [round(x, 3) for x in inside],
        "us_per_step_start_to_completed": [round(x, 3) for x in e2e],
        "us_per_step_median": round(statistics.median(inside), 3),
        "us_per_step_start_to_completed_median": round(statistics.median(e2e), 3),
    }


def calibration_ms() -> float:
    """Median of three timings of sum(range(10**6)): about 10-15 ms on an idle modern core;
    larger means a slow or busy machine (scale the figures accordingly)."""
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        sum(range(10**6))
        times.append((time.perf_counter() - t0) * 1e3)
    return round(statistics.median(times), 1)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=10_000)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--cpp", help="path of storyloom_bench: also measure the C++ host step")
    p.add_argument(
        "--durability",
        choices=("full", "normal"),
        default="full",
        help="the engine's durability: a step waits for its commit, fsynced with full [full]",
    )
    args = p.parse_args()
    if args.steps < 1 or args.reps < 1:
        p.error("--steps and --reps must be at least 1")
    load_before = os.getloadavg()[0]
    calibration = calibration_ms()
    out: dict = {
        "what": "K new no-op host steps in one run, timed inside the workflow function, "
        "divided by K; R runs; medians over runs",
        "params": {"steps": args.steps, "repetitions": args.reps, "durability": args.durability},
        "machine": {
            "python": platform.python_version(),
            "nproc": os.cpu_count(),
            "storyloom": storyloom.__version__,
        },
        "python_sync": measure(args.steps, args.reps, False, args.durability),
        "python_async": measure(args.steps, args.reps, True, args.durability),
        "target_us_per_python_step": TARGET_US,
    }
    out["meets_target"] = out["python_sync"]["us_per_step_median"] <= TARGET_US
    if args.cpp:
        proc = subprocess.run(
            [
                args.cpp,
                "--only",
                "host_step",
                "--steps",
                str(args.steps),
                "--memo-reps",
                str(args.reps),
                "--compact",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        cpp = json.loads(proc.stdout)["host_step"]
        out["cpp"] = {
            k: cpp[k] for k in ("us_per_step_median", "us_per_step_start_to_completed_median")
        }
        out["ratio_python_sync_to_cpp"] = round(
            out["python_sync"]["us_per_step_median"] / cpp["us_per_step_median"], 2
        )
    out["load_1m_before_after"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    out["calibration_ms_sum_range_1e6"] = calibration
    json.dump(out, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
