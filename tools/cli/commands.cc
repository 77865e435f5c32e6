#include "commands.h"

#include <filesystem>
#include <system_error>

#include "artifacts_out.h"
#include "export_command.h"
#include "format.h"

namespace storyloom::cli {

namespace {

void check_exists(const std::string& db) {
  const std::string prefix = "sqlite:";
  std::string path = db.rfind(prefix, 0) == 0 ? db.substr(prefix.size()) : db;
  bool is_file = path != ":memory:" && db.find("://") == std::string::npos &&
                 db != "postgresql:" && db != "postgres:";
  std::error_code ec;
  if (is_file && !std::filesystem::exists(path, ec) && !ec) {
    throw Error(ErrorCode::not_found,
                "no storyloom database at '" + path +
                    "': the file does not exist (this tool never creates one)");
  }
}

}  // namespace

std::unique_ptr<Engine> open_store(const std::string& db) {
  check_exists(db);
  EngineOptions options;
  options.store = db;
  options.workers = 1;  // nothing is ever executed here
  return Engine::open(std::move(options));
}

void run_command(Engine& engine, const CommandLine& cmd, std::ostream& out) {
  switch (cmd.command) {
    case Command::list:
      return list_runs(engine, cmd, out);
    case Command::status:
      return show_status(engine, cmd, out);
    case Command::events:
      return print_events(engine, cmd, out);
    case Command::cancel:
      return cancel_run(engine, cmd, out);
    case Command::signal:
      return signal_run(engine, cmd, out);
    case Command::signal_many:
      return signal_many_runs(engine, cmd, out);
    case Command::retry:
      return retry_run(engine, cmd, out);
    case Command::artifacts:
      return list_artifacts(engine, cmd, out);
    case Command::rewind:
      return rewind_run(engine, cmd, out);
    case Command::priority:
      return set_priority(engine, cmd, out);
    case Command::export_book:
      return export_book_of(engine, cmd, out);
    case Command::resend:
      return resend_webhook(engine, cmd, out);
    case Command::remove:
      return remove_run(engine, cmd, out);
    case Command::webhooks:  // a read command
    case Command::help:
      break;
  }
  throw Error(ErrorCode::internal, "the help command needs no store");
}

namespace {

// The read commands, for an Engine or a StoreReader (same method names).
template <typename Reader>
void list_runs_of(Reader& reader, const CommandLine& cmd, std::ostream& out) {
  RunPage page = reader.list(cmd.filter);
  if (cmd.json) {
    out << pretty_json(to_json(page));
    return;
  }
  out << run_table(page.runs);
  if (!page.next_cursor.empty()) out << "next: " << page.next_cursor << "\n";
}

template <typename Reader>
void show_status_of(Reader& reader, const CommandLine& cmd, std::ostream& out) {
  out << pretty_json(snapshot_json(reader.snapshot(cmd.run_id)));
}

template <typename Reader>
void list_artifacts_of(Reader& reader, const CommandLine& cmd, std::ostream& out) {
  if (!cmd.out_dir.empty()) {
    return write_artifacts(
        reader.snapshot(cmd.run_id).artifacts,
        [&](const ArtifactInfo& a) { return reader.artifact_bytes(cmd.run_id, a.key, a.version).bytes; },
        cmd.out_dir, out);
  }
  for (const auto& artifact : reader.artifacts(cmd.run_id)) out << artifact_json_line(artifact);
}

// Why the store could not decode the row of `run_id`, when `e` says so; else "".
std::string unreadable_reason(const Error& e, const std::string& run_id) {
  std::string prefix = "run '" + run_id + "' cannot be read from the store: ";
  std::string_view message = e.what();
  if (e.code() != ErrorCode::store || message.rfind(prefix, 0) != 0) return "";
  return std::string(message.substr(prefix.size()));
}

}  // namespace

void list_runs(Engine& engine, const CommandLine& cmd, std::ostream& out) {
  list_runs_of(engine, cmd, out);
}

void show_status(Engine& engine, const CommandLine& cmd, std::ostream& out) {
  show_status_of(engine, cmd, out);
}

bool is_read_command(const CommandLine& cmd) {
  switch (cmd.command) {
    case Command::list:
    case Command::status:
    case Command::artifacts:
    case Command::export_book:
    case Command::webhooks:
      return true;
    case Command::events:
      return !cmd.follow;  // following needs the engine's live event hub
    default:
      return false;
  }
}

std::unique_ptr<StoreReader> open_reader(const std::string& db) {
  check_exists(db);
  return StoreReader::open(db);
}

void run_read_command(StoreReader& reader, const CommandLine& cmd, std::ostream& out) {
  switch (cmd.command) {
    case Command::list:
      return list_runs_of(reader, cmd, out);
    case Command::status:
      return show_status_of(reader, cmd, out);
    case Command::artifacts:
      return list_artifacts_of(reader, cmd, out);
    case Command::export_book:
      return export_book_of(reader, cmd, out);
    case Command::webhooks:
      return print_webhook_log(reader, cmd, out);
    case Command::events:
      if (!cmd.follow) return print_stored_events(reader, cmd, out);
      break;
    default:
      break;
  }
  throw Error(ErrorCode::internal, "this command changes the store; it needs an engine");
}

void cancel_run(Engine& engine, const CommandLine& cmd, std::ostream& out) {
  if (cmd.cancel_many) {
    auto ids = engine.cancel_many(cmd.filter);
    out << "cancelled " << ids.size() << " run" << (ids.size() == 1 ? "" : "s") << "\n";
    for (const auto& id : ids) out << id << "\n";
    return;
  }
  engine.cancel(cmd.run_id);
  out << "cancelled run " << cmd.run_id << "\n";
}

void signal_run(Engine& engine, const CommandLine& cmd, std::ostream& out) {
  engine.signal(cmd.run_id, cmd.signal_name, cmd.signal_payload);
  out << "sent signal '" << cmd.signal_name << "' to run " << cmd.run_id << "\n";
}

void retry_run(Engine& engine, const CommandLine& cmd, std::ostream& out) {
  if (cmd.retry_failed) {
    std::vector<std::string> unreadable;
    size_t n = engine.retry_failed(cmd.filter, &unreadable);
    out << "queued " << n << " failed run" << (n == 1 ? "" : "s") << " again (completed steps are kept)\n";
    for (const auto& id : unreadable) {
      out << "skipped run " << id << ": its stored row cannot be read (see `storyloom list`)\n";
    }
    return;
  }
  try {
    engine.retry(cmd.run_id);
  } catch (const Error& e) {
    if (unreadable_reason(e, cmd.run_id).empty()) throw;
    throw Error(ErrorCode::store, std::string(e.what()) +
                                      "; it cannot be retried (its input or state is unknown): "
                                      "`storyloom remove " +
                                      cmd.run_id + "` deletes it");
  }
  out << "queued run " << cmd.run_id << " again (completed steps are kept)\n";
}

void remove_run(Engine& engine, const CommandLine& cmd, std::ostream& out) {
  std::string unreadable;
  try {
    engine.get(cmd.run_id);
  } catch (const Error& e) {
    unreadable = unreadable_reason(e, cmd.run_id);
    if (unreadable.empty()) throw;
  }
  engine.remove(cmd.run_id);
  out << "removed run " << cmd.run_id << " with its steps, events, artifacts and child runs";
  if (!unreadable.empty()) out << " (its stored row could not be read: " << unreadable << ")";
  out << "\n";
}

void rewind_run(Engine& engine, const CommandLine& cmd, std::ostream& out) {
  engine.rewind(cmd.run_id, cmd.step_name);
  out << "rewound run " << cmd.run_id << " to step '" << cmd.step_name
      << "' (that step and every later one run again)\n";
}

void set_priority(Engine& engine, const CommandLine& cmd, std::ostream& out) {
  engine.set_priority(cmd.run_id, cmd.priority);
  out << "run " << cmd.run_id << " now has priority " << cmd.priority << "\n";
}

void list_artifacts(Engine& engine, const CommandLine& cmd, std::ostream& out) {
  list_artifacts_of(engine, cmd, out);
}

}  // namespace storyloom::cli
