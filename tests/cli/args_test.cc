// Argument parsing of the `storyloom` tool, without a store.
#include "args.h"

#include <gtest/gtest.h>

using storyloom::RunStatus;
using storyloom::cli::Command;
using storyloom::cli::parse_args;
using storyloom::cli::UsageError;

namespace {

std::string usage_error(const std::vector<std::string_view>& args) {
  try {
    parse_args(args);
  } catch (const UsageError& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST(Args, HelpNeedsNoStore) {
  EXPECT_EQ(parse_args({"help"}).command, Command::help);
  EXPECT_EQ(parse_args({"--help"}).command, Command::help);
  EXPECT_EQ(parse_args({"-h"}).command, Command::help);
  EXPECT_EQ(parse_args({"help", "list"}).command, Command::help);
  // --help wins over anything else before "--", even an unknown command.
  EXPECT_EQ(parse_args({"bogus", "--help"}).command, Command::help);
  EXPECT_EQ(parse_args({"--db", "x.db", "list", "--nope", "-h"}).command, Command::help);
}

TEST(Args, ListTakesEveryFilter) {
  auto cmd = parse_args({"--db", "sqlite:x.db", "list", "--status", "failed", "--workflow=story",
                         "--owner", "alice", "--limit", "7", "--after", "abc", "--json"});
  EXPECT_EQ(cmd.command, Command::list);
  EXPECT_EQ(cmd.db, "sqlite:x.db");
  ASSERT_TRUE(cmd.filter.status.has_value());
  EXPECT_EQ(*cmd.filter.status, RunStatus::failed);
  EXPECT_EQ(cmd.filter.workflow, "story");
  EXPECT_EQ(cmd.filter.owner, "alice");
  EXPECT_EQ(cmd.filter.limit, 7u);
  EXPECT_EQ(cmd.filter.after_run_id, "abc");
  EXPECT_TRUE(cmd.json);
}

TEST(Args, ListDefaultsMatchTheEngine) {
  auto cmd = parse_args({"--db", "x.db", "list"});
  EXPECT_FALSE(cmd.filter.status.has_value());
  EXPECT_EQ(cmd.filter.limit, storyloom::RunFilter{}.limit);
  EXPECT_FALSE(cmd.json);
}

TEST(Args, DbMayComeAfterTheCommand) {
  auto cmd = parse_args({"status", "r1", "--db=x.db"});
  EXPECT_EQ(cmd.command, Command::status);
  EXPECT_EQ(cmd.run_id, "r1");
  EXPECT_EQ(cmd.db, "x.db");
}

TEST(Args, EventsFlags) {
  auto cmd = parse_args({"--db", "x.db", "events", "r1", "--after", "42", "--follow", "--sse"});
  EXPECT_EQ(cmd.command, Command::events);
  EXPECT_EQ(cmd.run_id, "r1");
  EXPECT_EQ(cmd.after_event_id, 42);
  EXPECT_TRUE(cmd.follow);
  EXPECT_TRUE(cmd.sse);
  auto plain = parse_args({"--db", "x.db", "events", "r1"});
  EXPECT_EQ(plain.after_event_id, 0);
  EXPECT_FALSE(plain.follow);
  EXPECT_FALSE(plain.sse);
}

TEST(Args, SignalParsesItsPayload) {
  auto cmd = parse_args({"--db", "x.db", "signal", "r1", "approve", R"({"ok":true,"n":[1,2]})"});
  EXPECT_EQ(cmd.command, Command::signal);
  EXPECT_EQ(cmd.run_id, "r1");
  EXPECT_EQ(cmd.signal_name, "approve");
  EXPECT_EQ(storyloom::to_json_text(cmd.signal_payload), R"({"ok":true,"n":[1,2]})");
  // A payload that starts with '-' is a positional argument, not an option.
  EXPECT_EQ(parse_args({"--db", "x.db", "signal", "r1", "n", "-5"}).signal_payload.as_int64(), -5);
  // After "--" even "--x" is positional.
  EXPECT_EQ(usage_error({"--db", "x.db", "signal", "r1", "n", "--", "--x"}),
            "signal payload is not valid JSON: syntax error");
}

TEST(Args, RunCommands) {
  for (auto [name, command] : {std::pair{"status", Command::status},
                               {"cancel", Command::cancel},
                               {"retry", Command::retry},
                               {"artifacts", Command::artifacts}}) {
    auto cmd = parse_args({"--db", "x.db", name, "r9"});
    EXPECT_EQ(cmd.command, command) << name;
    EXPECT_EQ(cmd.run_id, "r9") << name;
  }
}

TEST(Args, BadArgumentsNameTheProblem) {
  EXPECT_EQ(usage_error({}), "missing command");
  EXPECT_EQ(usage_error({"--db", "x.db"}), "missing command");
  EXPECT_EQ(usage_error({"--db", "x.db", "frobnicate"}), "unknown command 'frobnicate'");
  EXPECT_EQ(usage_error({"list"}), "missing --db PATH");
  EXPECT_EQ(usage_error({"--db"}), "option --db needs a value");
  EXPECT_EQ(usage_error({"--db=", "list"}), "option --db needs a value");
  EXPECT_EQ(usage_error({"--db", "--json", "list"}), "option --db needs a value");
  EXPECT_EQ(usage_error({"--db", "a", "--db", "b", "list"}), "option --db given twice");
  EXPECT_EQ(usage_error({"--db", "x.db", "status"}), "missing RUN for 'status'");
  EXPECT_EQ(usage_error({"--db", "x.db", "signal", "r1"}), "missing NAME for 'signal'");
  EXPECT_EQ(usage_error({"--db", "x.db", "signal", "r1", "n"}), "missing JSON for 'signal'");
  EXPECT_EQ(usage_error({"--db", "x.db", "status", "r1", "r2"}),
            "unexpected argument 'r2' for 'status'");
  EXPECT_EQ(usage_error({"--db", "x.db", "list", "extra"}),
            "unexpected argument 'extra' for 'list'");
  EXPECT_EQ(usage_error({"--db", "x.db", "list", "--limit", "ten"}),
            "--limit expects a non-negative whole number, got 'ten'");
  EXPECT_EQ(usage_error({"--db", "x.db", "list", "--limit", "-1"}),
            "--limit expects a non-negative whole number, got '-1'");
  EXPECT_EQ(usage_error({"--db", "x.db", "list", "--limit", "99999999999999999999"}),
            "--limit expects a non-negative whole number, got '99999999999999999999'");
  EXPECT_EQ(usage_error({"--db", "x.db", "events", "r1", "--after", "3x"}),
            "--after expects a non-negative whole number, got '3x'");
  EXPECT_EQ(usage_error({"--db", "x.db", "list", "--limit"}), "option --limit needs a value");
  EXPECT_EQ(usage_error({"--db", "x.db", "list", "--bogus"}),
            "unknown option '--bogus' for 'list'");
  EXPECT_EQ(usage_error({"--db", "x.db", "status", "r1", "--follow"}),
            "unknown option '--follow' for 'status'");
  EXPECT_EQ(usage_error({"--db", "x.db", "--json", "list"}),
            "unknown option '--json' (options of a command go after it)");
  EXPECT_EQ(usage_error({"--db", "x.db", "list", "--json=yes"}), "option --json takes no value");
  EXPECT_EQ(usage_error({"--db", "x.db", "list", "--owner", "a", "--owner", "b"}),
            "option --owner given twice");
  EXPECT_EQ(usage_error({"--db", "x.db", "list", "--status", "done"}),
            "--status: 'done' is not a run status (queued, running, sleeping, waiting, completed, "
            "failed, cancelled)");
  EXPECT_EQ(usage_error({"--db", "x.db", "signal", "r1", "n", "{bad"}),
            "signal payload is not valid JSON: syntax error");
}

TEST(Args, ListFailedIsTheDeadLetterView) {
  auto cmd = parse_args({"--db", "x.db", "list", "--failed", "--error-class", "rate_limited"});
  ASSERT_TRUE(cmd.filter.status.has_value());
  EXPECT_EQ(*cmd.filter.status, RunStatus::failed);
  ASSERT_TRUE(cmd.filter.error_class.has_value());
  EXPECT_EQ(*cmd.filter.error_class, storyloom::ErrorClass::rate_limited);
  EXPECT_EQ(usage_error({"--db", "x.db", "list", "--failed", "--status", "queued"}),
            "--failed contradicts --status queued");
  EXPECT_EQ(usage_error({"--db", "x.db", "list", "--error-class", "grumpy"}),
            "--error-class: 'grumpy' is not retryable, fatal, rate_limited or timeout");
}

TEST(Args, RetryTakesARunOrFailedWithFilters) {
  auto cmd = parse_args({"--db", "x.db", "retry", "--failed", "--workflow", "story", "--error-class",
                         "retryable"});
  EXPECT_EQ(cmd.command, Command::retry);
  EXPECT_TRUE(cmd.retry_failed);
  EXPECT_EQ(cmd.filter.workflow, "story");
  ASSERT_TRUE(cmd.filter.error_class.has_value());
  EXPECT_EQ(*cmd.filter.error_class, storyloom::ErrorClass::retryable);
  EXPECT_FALSE(parse_args({"--db", "x.db", "retry", "abc"}).retry_failed);
  EXPECT_EQ(usage_error({"--db", "x.db", "retry", "abc", "--failed"}),
            "retry takes either RUN or --failed with filters, not both");
  EXPECT_EQ(usage_error({"--db", "x.db", "retry", "abc", "--workflow", "story"}),
            "retry filters (--workflow, --owner, --error-class) need --failed");
  EXPECT_EQ(usage_error({"--db", "x.db", "retry"}), "missing RUN for 'retry'");
}

TEST(Args, CancelTakesARunOrAWorkflowFilter) {
  auto cmd = parse_args({"--db", "x.db", "cancel", "--workflow", "story", "--status", "queued"});
  EXPECT_EQ(cmd.command, Command::cancel);
  EXPECT_TRUE(cmd.cancel_many);
  EXPECT_EQ(cmd.filter.workflow, "story");
  ASSERT_TRUE(cmd.filter.status.has_value());
  EXPECT_EQ(*cmd.filter.status, RunStatus::queued);
  EXPECT_FALSE(parse_args({"--db", "x.db", "cancel", "r1"}).cancel_many);
  EXPECT_EQ(usage_error({"--db", "x.db", "cancel", "r1", "--workflow", "story"}),
            "cancel takes either RUN or filters (--workflow, --status, --owner), not both");
  EXPECT_EQ(usage_error({"--db", "x.db", "cancel", "--status", "queued"}),
            "cancel by filter needs --workflow W (so one typo cannot cancel everything)");
  EXPECT_EQ(usage_error({"--db", "x.db", "cancel", "--workflow", "s", "--status", "done"}),
            "--status: 'done' is not a run status (queued, running, sleeping, waiting, completed, "
            "failed, cancelled)");
}

TEST(Args, RewindAndPriority) {
  auto rewind = parse_args({"--db", "x.db", "rewind", "r1", "page-3"});
  EXPECT_EQ(rewind.command, Command::rewind);
  EXPECT_EQ(rewind.run_id, "r1");
  EXPECT_EQ(rewind.step_name, "page-3");
  EXPECT_EQ(usage_error({"--db", "x.db", "rewind", "r1"}), "missing STEP for 'rewind'");
  auto priority = parse_args({"--db", "x.db", "priority", "r1", "-5"});
  EXPECT_EQ(priority.command, Command::priority);
  EXPECT_EQ(priority.priority, -5);
  EXPECT_EQ(usage_error({"--db", "x.db", "priority", "r1", "high"}),
            "priority N must be a whole number, got 'high'");
  EXPECT_EQ(usage_error({"--db", "x.db", "priority", "r1"}), "missing N for 'priority'");
  auto timeout = parse_args({"--db", "x.db", "list", "--error-class", "timeout"});
  EXPECT_EQ(*timeout.filter.error_class, storyloom::ErrorClass::timeout);
}
