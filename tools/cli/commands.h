// The commands of the `storyloom` tool, one function each. They print to
// `out` and let storyloom::Error through for main() to report.
#pragma once

#include <memory>
#include <ostream>
#include <string>

#include "args.h"
#include "storyloom/engine.h"
#include "storyloom/store_reader.h"

namespace storyloom::cli {

// Opens the store named by --db. No workflow is registered, so this engine only
// reads and writes state and never executes a run. Throws Error(not_found) when
// the file does not exist: the tool never creates a store.
std::unique_ptr<Engine> open_store(const std::string& db);

// Dispatches to the command's function below. Throws Error.
void run_command(Engine& engine, const CommandLine& cmd, std::ostream& out);

// list, status, artifacts and events without --follow only read: they run on
// a StoreReader, which opens the store read-only and never writes, so they
// work on a read-only file or directory and on a full disk.
bool is_read_command(const CommandLine& cmd);
std::unique_ptr<StoreReader> open_reader(const std::string& db);
void run_read_command(StoreReader& reader, const CommandLine& cmd, std::ostream& out);

void list_runs(Engine& engine, const CommandLine& cmd, std::ostream& out);
void show_status(Engine& engine, const CommandLine& cmd, std::ostream& out);
void cancel_run(Engine& engine, const CommandLine& cmd, std::ostream& out);
void signal_run(Engine& engine, const CommandLine& cmd, std::ostream& out);
// Run ids from cmd.runs_file or stdin. In signal_many_command.cc.
void signal_many_runs(Engine& engine, const CommandLine& cmd, std::ostream& out);
void retry_run(Engine& engine, const CommandLine& cmd, std::ostream& out);
// Deletes the run (Engine::remove); says so when its stored row could not be decoded.
void remove_run(Engine& engine, const CommandLine& cmd, std::ostream& out);
void list_artifacts(Engine& engine, const CommandLine& cmd, std::ostream& out);
void rewind_run(Engine& engine, const CommandLine& cmd, std::ostream& out);
void set_priority(Engine& engine, const CommandLine& cmd, std::ostream& out);
// In webhooks_command.cc: the delivery log (read-only) and re-sending a delivery.
void print_webhook_log(StoreReader& reader, const CommandLine& cmd, std::ostream& out);
void resend_webhook(Engine& engine, const CommandLine& cmd, std::ostream& out);

// Stored events after cmd.after_event_id. With cmd.follow, live events follow
// until the run ends or SIGINT/SIGTERM arrives (handlers are installed for the
// duration of the call). In events_command.cc.
void print_events(Engine& engine, const CommandLine& cmd, std::ostream& out);
// Stored events only, without an engine (events without --follow).
void print_stored_events(StoreReader& reader, const CommandLine& cmd, std::ostream& out);

}  // namespace storyloom::cli
