// The execute callback: runs a registered workflow's Python handler with an
// Execution, the workflow's context over sl_execution (execution.cc).
#pragma once

#include "native.h"

namespace storyloom_native {

// A registered workflow's handler, the execute callback's user_data. It must
// outlive every call of that callback, and close() may leave one running in a
// step that ignores it (sl_engine_close returns at its drain timeout): so a
// Registration is never freed. close() lets go of the handler instead (under
// the GIL); a few bytes per registered workflow stay behind.
struct Registration {
  // handler(Execution) -> True when it kept the execution to finish later, the output
  // JSON (a str) for execute() to finish it completed with, else anything (it finished
  // the execution itself).
  py::object handler;
};

// sl_execute_fn: on an engine worker thread; takes the GIL to run the handler and
// releases it before finishing a completed run.
void execute(void* user_data, sl_execution* execution);

}  // namespace storyloom_native
