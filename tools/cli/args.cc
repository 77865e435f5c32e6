#include "args.h"

#include <algorithm>
#include <charconv>
#include <map>
#include <optional>

#include "storyloom/error.h"

namespace storyloom::cli {
namespace {

struct FlagSpec {
  std::string_view name;
  bool takes_value;
};

struct CommandSpec {
  std::string_view name;
  Command command;
  std::vector<std::string_view> positionals;  // all required, in order
  std::vector<FlagSpec> flags;
};

const std::vector<CommandSpec>& command_specs() {
  static const std::vector<CommandSpec> all = {
      {"help", Command::help, {}, {}},
      {"list",
       Command::list,
       {},
       {{"--status", true},
        {"--workflow", true},
        {"--owner", true},
        {"--limit", true},
        {"--after", true},
        {"--failed", false},
        {"--error-class", true},
        {"--json", false}}},
      {"status", Command::status, {"RUN"}, {}},
      {"events",
       Command::events,
       {"RUN"},
       {{"--after", true}, {"--follow", false}, {"--sse", false}}},
      {"cancel",
       Command::cancel,
       {"RUN"},
       {{"--workflow", true}, {"--status", true}, {"--owner", true}}},
      {"signal", Command::signal, {"RUN", "NAME", "JSON"}, {}},
      {"signal-many", Command::signal_many, {"NAME", "JSON"}, {{"--runs", true}}},
      {"retry",
       Command::retry,
       {"RUN"},
       {{"--failed", false}, {"--workflow", true}, {"--owner", true}, {"--error-class", true}}},
      {"artifacts", Command::artifacts, {"RUN"}, {{"--out", true}}},
      {"rewind", Command::rewind, {"RUN", "STEP"}, {}},
      {"priority", Command::priority, {"RUN", "N"}, {}},
      {"export", Command::export_book, {"RUN"}, {{"--format", true}, {"--out", true}}},
      {"webhooks", Command::webhooks, {"SUBSCRIPTION"}, {}},
      {"resend", Command::resend, {"RUN"}, {}},
      {"remove", Command::remove, {"RUN"}, {}},
  };
  return all;
}

const CommandSpec* find_command(std::string_view name) {
  for (const auto& spec : command_specs()) {
    if (spec.name == name) return &spec;
  }
  return nullptr;
}

const FlagSpec* find_flag(const CommandSpec& spec, std::string_view name) {
  for (const auto& flag : spec.flags) {
    if (flag.name == name) return &flag;
  }
  return nullptr;
}

std::string quoted(std::string_view text) { return "'" + std::string(text) + "'"; }

// A whole number >= 0: digits only, no sign, no spaces, no overflow.
int64_t parse_count(std::string_view flag, std::string_view text) {
  int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || value < 0) {
    throw UsageError(std::string(flag) + " expects a non-negative whole number, got " +
                     quoted(text));
  }
  return value;
}

bool is_help_flag(std::string_view arg) { return arg == "--help" || arg == "-h"; }

// Flags and positionals as given, before they are given meaning.
struct RawArgs {
  const CommandSpec* spec = nullptr;
  std::optional<std::string> db;
  std::vector<std::string_view> positionals;
  std::map<std::string_view, std::string, std::less<>> flags;  // switches map to ""
};

RawArgs split_args(const std::vector<std::string_view>& args) {
  RawArgs raw;
  bool options_done = false;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string_view arg = args[i];
    if (options_done || arg.substr(0, 2) != "--") {
      if (raw.spec) {
        raw.positionals.push_back(arg);
        continue;
      }
      raw.spec = find_command(arg);
      if (!raw.spec) throw UsageError("unknown command " + quoted(arg));
      continue;
    }
    if (arg == "--") {
      options_done = true;
      continue;
    }
    size_t eq = arg.find('=');
    std::string_view name = arg.substr(0, eq);
    std::optional<std::string_view> inline_value;
    if (eq != std::string_view::npos) inline_value = arg.substr(eq + 1);

    const FlagSpec db_flag{"--db", true};
    const FlagSpec* flag = nullptr;
    if (name == db_flag.name) {
      flag = &db_flag;
    } else if (raw.spec) {
      flag = find_flag(*raw.spec, name);
    }
    if (!flag && !raw.spec) {
      throw UsageError("unknown option " + quoted(name) + " (options of a command go after it)");
    }
    if (!flag) {
      throw UsageError("unknown option " + quoted(name) + " for " + quoted(raw.spec->name));
    }
    std::string value;
    if (flag->takes_value) {
      if (inline_value) {
        value = std::string(*inline_value);
      } else if (i + 1 < args.size() && args[i + 1].substr(0, 2) != "--") {
        value = std::string(args[++i]);
      }
      if (value.empty()) throw UsageError("option " + std::string(name) + " needs a value");
    } else if (inline_value) {
      throw UsageError("option " + std::string(name) + " takes no value");
    }
    if (name == "--db") {
      if (raw.db) throw UsageError("option --db given twice");
      raw.db = std::move(value);
    } else if (!raw.flags.emplace(name, std::move(value)).second) {
      throw UsageError("option " + std::string(name) + " given twice");
    }
  }
  return raw;
}

// --error-class, --workflow and --owner, shared by `list` and `retry --failed`.
template <typename Flag>
void read_dead_letter_filters(const Flag& flag, CommandLine& cmd) {
  if (auto v = flag("--error-class")) {
    if (*v == "retryable") {
      cmd.filter.error_class = ErrorClass::retryable;
    } else if (*v == "fatal") {
      cmd.filter.error_class = ErrorClass::fatal;
    } else if (*v == "rate_limited") {
      cmd.filter.error_class = ErrorClass::rate_limited;
    } else if (*v == "timeout") {
      cmd.filter.error_class = ErrorClass::timeout;
    } else {
      throw UsageError("--error-class: '" + *v + "' is not retryable, fatal, rate_limited or timeout");
    }
  }
  if (auto v = flag("--workflow")) cmd.filter.workflow = *v;
  if (auto v = flag("--owner")) cmd.filter.owner = *v;
}

}  // namespace

CommandLine parse_args(const std::vector<std::string_view>& args) {
  CommandLine cmd;
  auto end_of_options = std::find(args.begin(), args.end(), std::string_view("--"));
  if (std::any_of(args.begin(), end_of_options, is_help_flag)) return cmd;  // help

  RawArgs raw = split_args(args);
  if (!raw.spec) throw UsageError("missing command");
  const CommandSpec& spec = *raw.spec;
  cmd.command = spec.command;
  if (cmd.command == Command::help) return cmd;  // `help anything` is still help
  if (!raw.db) throw UsageError("missing --db PATH");
  cmd.db = *raw.db;

  std::string name(spec.name);
  bool retry_by_filter = cmd.command == Command::retry && raw.flags.count("--failed") > 0;
  bool cancel_by_filter = cmd.command == Command::cancel && !raw.flags.empty();
  if (retry_by_filter) {
    if (!raw.positionals.empty()) {
      throw UsageError("retry takes either RUN or --failed with filters, not both");
    }
  } else if (cancel_by_filter) {
    if (!raw.positionals.empty()) {
      throw UsageError("cancel takes either RUN or filters (--workflow, --status, --owner), not both");
    }
    if (!raw.flags.count("--workflow")) {
      throw UsageError("cancel by filter needs --workflow W (so one typo cannot cancel everything)");
    }
  } else if (cmd.command == Command::retry &&
             (raw.flags.count("--workflow") || raw.flags.count("--owner") ||
              raw.flags.count("--error-class"))) {
    throw UsageError("retry filters (--workflow, --owner, --error-class) need --failed");
  } else if (raw.positionals.size() < spec.positionals.size()) {
    throw UsageError("missing " + std::string(spec.positionals[raw.positionals.size()]) + " for '" +
                     name + "'");
  }
  if (raw.positionals.size() > spec.positionals.size()) {
    throw UsageError("unexpected argument " + quoted(raw.positionals[spec.positionals.size()]) +
                     " for '" + name + "'");
  }
  if (!raw.positionals.empty() && cmd.command != Command::signal_many) {
    cmd.run_id = std::string(raw.positionals[0]);
  }

  auto flag = [&](std::string_view f) -> const std::string* {
    auto it = raw.flags.find(f);
    return it == raw.flags.end() ? nullptr : &it->second;
  };
  if (cmd.command == Command::artifacts) {
    if (auto v = flag("--out")) cmd.out_dir = *v;
  }
  if (cmd.command == Command::export_book) {
    auto format = flag("--format");
    if (!format) throw UsageError("export needs --format epub, pdf or md");
    if (*format != "epub" && *format != "pdf" && *format != "md" && *format != "markdown") {
      throw UsageError("--format: " + quoted(*format) + " is not epub, pdf or md");
    }
    auto out_file = flag("--out");
    if (!out_file) throw UsageError("export needs --out FILE");
    cmd.export_format = *format;
    cmd.out_file = *out_file;
  }
  switch (cmd.command) {
    case Command::list:
      if (auto v = flag("--status")) {
        try {
          cmd.filter.status = parse_run_status(*v);
        } catch (const Error& e) {
          throw UsageError(std::string("--status: ") + e.what());
        }
      }
      if (flag("--failed")) {
        // The dead-letter view.
        if (cmd.filter.status && *cmd.filter.status != RunStatus::failed) {
          throw UsageError("--failed contradicts --status " + std::string(to_string(*cmd.filter.status)));
        }
        cmd.filter.status = RunStatus::failed;
      }
      read_dead_letter_filters(flag, cmd);
      if (auto v = flag("--limit"))
        cmd.filter.limit = static_cast<size_t>(parse_count("--limit", *v));
      if (auto v = flag("--after")) cmd.filter.after_run_id = *v;
      cmd.json = flag("--json") != nullptr;
      break;
    case Command::retry:
      if (retry_by_filter) {
        cmd.retry_failed = true;
        cmd.filter.status = RunStatus::failed;
        read_dead_letter_filters(flag, cmd);
      }
      break;
    case Command::cancel:
      if (cancel_by_filter) {
        cmd.cancel_many = true;
        if (auto v = flag("--status")) {
          try {
            cmd.filter.status = parse_run_status(*v);
          } catch (const Error& e) {
            throw UsageError(std::string("--status: ") + e.what());
          }
        }
        if (auto v = flag("--workflow")) cmd.filter.workflow = *v;
        if (auto v = flag("--owner")) cmd.filter.owner = *v;
      }
      break;
    case Command::rewind:
      cmd.step_name = std::string(raw.positionals[1]);
      break;
    case Command::priority: {
      std::string_view text = raw.positionals[1];
      auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), cmd.priority);
      if (ec != std::errc() || end != text.data() + text.size()) {
        throw UsageError("priority N must be a whole number, got " + quoted(text));
      }
      break;
    }
    case Command::events:
      if (auto v = flag("--after")) cmd.after_event_id = parse_count("--after", *v);
      cmd.follow = flag("--follow") != nullptr;
      cmd.sse = flag("--sse") != nullptr;
      break;
    case Command::signal:
      cmd.signal_name = std::string(raw.positionals[1]);
      try {
        cmd.signal_payload = parse_json(raw.positionals[2], "signal payload");
      } catch (const Error& e) {
        throw UsageError(e.what());
      }
      break;
    case Command::signal_many:
      cmd.signal_name = std::string(raw.positionals[0]);
      try {
        cmd.signal_payload = parse_json(raw.positionals[1], "signal payload");
      } catch (const Error& e) {
        throw UsageError(e.what());
      }
      if (auto v = flag("--runs")) cmd.runs_file = *v;
      break;
    default:
      break;
  }
  return cmd;
}

const char* usage() {
  return R"(usage: storyloom --db PATH COMMAND [ARGS]

Reads and changes the runs of a storyloom store. PATH is an existing storyloom
SQLite file, written as PATH or sqlite:PATH, or a PostgreSQL database,
written as postgresql://USER[:PASSWORD]@HOST[:PORT]/DB (or postgresql: for
the PG* environment variables). An engine running on the same
store in another process notices cancels, signals and retries within a fraction
of a second. This tool never executes runs itself. list, status, artifacts
and events without --follow open the store read-only and never write: they
work on a read-only file and on a full disk. Control characters in what it
prints are written as \u00XX.

commands:
  list [--status S] [--workflow W] [--owner O] [--limit N] [--after RUN] [--json]
       [--failed] [--error-class retryable|fatal|rate_limited|timeout]
        one line per run (id, status, workflow, owner, created), oldest first;
        --failed (the dead-letter view) lists failed runs, by error class too;
        a last line "next: RUN" when the page is full: pass RUN to --after
  status RUN
        the run, its progress and its steps as JSON
  ui [--port N] [--host ADDRESS] [--read-only]
        serves the run inspector in the browser until Ctrl-C (`storyloom ui --help`)
  events RUN [--after N] [--follow] [--sse]
        the run's stored events after event id N as JSON lines; --follow keeps
        printing live events until the run ends (or SIGINT/SIGTERM); --sse
        prints Server-Sent Events wire format instead
  cancel RUN
        cancels an unfinished run and its unfinished child runs
  cancel --workflow W [--status S] [--owner O]
        cancels every unfinished run of W matching the filters (and their
        children); prints how many and their ids
  signal RUN NAME JSON
        delivers a signal with a JSON payload to the run's mailbox
  signal-many NAME JSON [--runs FILE]
        delivers the signal to every run whose id is a line of FILE (or of
        standard input when FILE is - or not given), 1000 runs per commit;
        prints how many were delivered and one line per run refused
  retry RUN
        queues a failed run again; its completed steps do not run again
  retry --failed [--workflow W] [--owner O] [--error-class C]
        queues every failed run matching the filters again
  remove RUN
        deletes a finished run with its steps, events, artifacts and child
        runs; also a run whose stored row cannot be decoded, whatever its status
  artifacts RUN [--out DIR]
        every version of every artifact of the run as JSON lines; --out writes
        the latest version of each into DIR (created if needed) instead: JSON
        ones as KEY.json, binary ones (pictures) as their bytes, KEY.png for
        image/png (characters other than letters, digits, '.', '-' and '_'
        in KEY become '_'), and prints one line per file
  rewind RUN STEP
        redo a completed or failed run from STEP: that step and every later one
        run again, earlier ones are kept; artifacts keep their old versions
  priority RUN N
        sets the priority of a queued run (higher starts first)
  export RUN --format epub|pdf|md --out FILE
        writes the run's story as a book: EPUB 3, PDF (a cover, then one page
        per story page with its picture) or Markdown (pictures written into
        FILE's name + "_pictures/" beside it); pages without a picture say
        "no picture"
  webhooks SUBSCRIPTION
        the delivery log of a webhook subscription as JSON lines (latest 100,
        oldest first): webhook id, delivery run, event, state, every attempt
  resend RUN
        sends a webhook delivery again (a dead one, say): queues its run, which
        an engine with the subscription configured delivers
  help, --help, -h
        this text

Options take their value as the next argument or after '='; "--" ends options.

exit status: 0 done, 1 storyloom error ("storyloom: CODE: MESSAGE" on stderr),
2 bad arguments.
)";
}

}  // namespace storyloom::cli
