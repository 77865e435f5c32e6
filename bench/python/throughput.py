#!/usr/bin/env python3
"""One-step runs per second from Python, beside the C++ figure of the same run, as JSON.

Method, the same as the C++ ``throughput`` section (bench/throughput.cc) and the Node
bench's (node/bench/host_step.mjs): N runs of a one-step workflow started by C concurrent
callers until the store says every run is completed; runs / (first start .. all done).
Here the callers are asyncio tasks awaiting ``Engine.astart`` (queued with the engine's
other writes, no thread per call) and the workflow is a sync Python function whose one
step returns {"ok": True}; the clock stops when the store has no queued or running run
(polled every 2 ms, as the C++ section polls), and every run is then checked completed
outside the timed window. Medians over R repetitions, each on a fresh engine and SQLite
file, at ``--durability`` (full, the default: every group commit fsynced).

    python bench/python/throughput.py [--runs 20000] [--clients 8,64] [--reps 3]
        [--cpp build-bench/bench/storyloom_bench]   # also run the C++ section, print ratios
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import storyloom


def none_unfinished(engine: storyloom.Engine) -> None:
    """Waits, as the C++ section does, until the store has no queued or running run."""
    deadline = time.monotonic() + 600
    while engine.list(status="queued", limit=1).runs or engine.list(status="running", limit=1).runs:
        if time.monotonic() > deadline:
            raise RuntimeError("runs still unfinished after 600 s")
        time.sleep(0.002)


def count_completed(engine: storyloom.Engine) -> int:
    count, after = 0, None
    while True:
        page = engine.list(status="completed", limit=1000, after=after)
        count += len(page.runs)
        if not page.next_cursor:
            return count
        after = page.next_cursor


def measure_once(runs: int, clients: int, durability: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        with storyloom.Engine(f"sqlite:{tmp}/bench.db", durability=durability) as engine:

            @engine.workflow("noop")
            def noop(ctx, input):
                return ctx.step("s", lambda: {"ok": True})

            engine.launch()
            ids: list[str] = []
            cpu0 = time.process_time()
            t0 = time.perf_counter()

            async def main() -> None:
                left = runs

                async def client() -> None:
                    nonlocal left
                    while left > 0:
                        left -= 1
                        ids.append((await engine.astart("noop", {})).id)

                await asyncio.gather(*(client() for _ in range(clients)))

            asyncio.run(main())
            started = time.perf_counter()
            none_unfinished(engine)
            seconds = time.perf_counter() - t0
            cpu = time.process_time() - cpu0
            # Outside the timed window: every run completed (not failed) in the store.
            completed = count_completed(engine)
            if completed != runs:
                raise RuntimeError(f"{completed} of {runs} runs completed")
            return {
                "runs_per_s": round(runs / seconds, 3),
                "seconds": round(seconds, 3),
                "starts_per_s": round(runs / (started - t0), 3),
                "process_cpu_us_per_run": round(cpu * 1e6 / runs, 3),
            }


def cpp_throughput(binary: str, runs: int, clients: int) -> float:
    out = subprocess.run(
        [binary, "--only", "throughput", "--runs", str(runs), "--clients", str(clients),
         "--compact"],
        check=True, capture_output=True, text=True,
    ).stdout
    return float(json.loads(out)["throughput"]["best_runs_per_s"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20000)
    parser.add_argument("--clients", default="8,64")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--durability", choices=["full", "normal"], default="full")
    parser.add_argument("--cpp", help="storyloom_bench binary: also measure the C++ section")
    args = parser.parse_args()
    if args.runs < 1 or args.reps < 1:
        parser.error("--runs and --reps must be positive")
    try:
        clients = [int(c) for c in args.clients.split(",")]
    except ValueError:
        parser.error(f"--clients must be positive integers separated by commas, got {args.clients}")
    if any(c < 1 for c in clients):
        parser.error(f"--clients must be positive, got {args.clients}")
    load_before = os.getloadavg()[0]
    by_clients = []
    for c in clients:
        reps = []
        for rep in range(args.reps):
            print(f"throughput: repetition {rep + 1}, {args.runs} runs from {c} clients...",
                  file=sys.stderr)
            reps.append(measure_once(args.runs, c, args.durability))
        by_clients.append({
            "clients": c,
            "repetitions": reps,
            "runs_per_s_median": statistics.median(r["runs_per_s"] for r in reps),
        })
    best = max(by_clients, key=lambda b: b["runs_per_s_median"])
    out: dict = {
        "what": f"{args.runs} runs of a one-step sync Python workflow started by C asyncio "
                "tasks awaiting Engine.astart; runs / (first start .. all completed)",
        "durability": args.durability,
        "by_clients": by_clients,
        "best_runs_per_s": best["runs_per_s_median"],
        "best_clients": best["clients"],
    }
    if args.cpp:
        cpp = cpp_throughput(args.cpp, args.runs, clients[0])
        out["cpp_throughput"] = {"clients": clients[0], "runs_per_s": cpp}
        out["ratio_python_best_to_cpp"] = round(best["runs_per_s_median"] / cpp, 3)
        out["target_ratio"] = 0.8
    out["load_1m"] = {"before": round(load_before, 2), "after": round(os.getloadavg()[0], 2)}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
