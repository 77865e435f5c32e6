// Executions handed to JavaScript (src/execution.cc): the Execution class
// over sl_execution and the execute callback that queues one to the JS thread.
#pragma once

#include <napi.h>
#include <storyloom/storyloom.h>

namespace storyloom_node {

// The Execution class; its constructor takes (External<sl_execution>, External<Workflow>).
Napi::Function DefineExecution(Napi::Env env);
// sl_execute_fn of every registered workflow (user_data: its Workflow).
// Engine thread -> JS thread.
void on_execute(void* user_data, sl_execution* execution);

}  // namespace storyloom_node
