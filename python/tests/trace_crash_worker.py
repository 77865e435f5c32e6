"""Run by test_telemetry.py in a child process that the test kills with SIGKILL.

argv: STORE TRACE_PARENT READY_FILE. Starts a run of "traced" with that traceparent; its
first step completes, its second blocks after creating READY_FILE."""

import sys
import time

import storyloom

store, trace_parent, ready = sys.argv[1:4]

engine = storyloom.Engine(store, poll_interval=0.01, telemetry=False)


@engine.workflow("traced")
def traced(ctx, input):
    ctx.step("first", lambda: 1)

    def second():
        time.sleep(0.3)  # let the first step commit
        open(ready, "w").close()
        while True:
            time.sleep(1)

    return ctx.step("second", second)


engine.launch()
run = engine.start("traced", {}, trace_parent=trace_parent)
print(run.id, flush=True)
while True:
    time.sleep(1)
