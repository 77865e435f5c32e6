#include "ui_command.h"

#include <iostream>

#include <boost/asio/ip/address.hpp>

#include "args.h"
#include "commands.h"
#include "inspector.h"
#include "query_params.h"
#include "server.h"
#include "storyloom/error.h"

namespace storyloom::cli::ui {

bool names_ui_command(const std::vector<std::string_view>& args) {
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--db") {
      ++i;  // its value
      continue;
    }
    if (args[i].substr(0, 2) == "--" || args[i] == "-h") continue;
    return args[i] == "ui";
  }
  return false;
}

UiOptions parse_ui_args(const std::vector<std::string_view>& args) {
  UiOptions out;
  bool seen_command = false, seen_db = false, seen_port = false, seen_host = false;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string_view arg = args[i];
    std::string_view name = arg.substr(0, arg.find('='));
    bool inline_value = name.size() < arg.size();
    auto value = [&]() -> std::string {
      std::string v;
      if (inline_value) {
        v = std::string(arg.substr(name.size() + 1));
      } else if (i + 1 < args.size() && args[i + 1].substr(0, 2) != "--") {
        v = std::string(args[++i]);
      }
      if (v.empty()) throw UsageError("option " + std::string(name) + " needs a value");
      return v;
    };
    auto once = [&](bool& seen) {
      if (seen) throw UsageError("option " + std::string(name) + " given twice");
      seen = true;
    };
    if (arg == "ui" && !seen_command) {
      seen_command = true;
    } else if (arg == "--help" || arg == "-h") {
      out.help = true;
    } else if (name == "--db") {
      once(seen_db);
      out.db = value();
    } else if (name == "--host") {
      once(seen_host);
      out.host = value();
      boost::system::error_code ec;
      if (out.host != "localhost") boost::asio::ip::make_address(out.host, ec);
      if (ec) throw UsageError("--host expects an IP address (or localhost), got '" + out.host + "'");
    } else if (name == "--port") {
      once(seen_port);
      std::string v = value();
      try {
        out.port = static_cast<uint16_t>(parse_integer(v, "--port", 0, 65535));
      } catch (const ApiError& e) {
        throw UsageError(e.what());
      }
    } else if (name == "--read-only") {
      if (inline_value) throw UsageError("option --read-only takes no value");
      out.read_only = true;
    } else if (arg.substr(0, 2) == "--") {
      throw UsageError("unknown option '" + std::string(name) + "' for 'ui'");
    } else {
      throw UsageError("unexpected argument '" + std::string(arg) + "' for 'ui'");
    }
  }
  if (!out.help && out.db.empty()) throw UsageError("missing --db PATH");
  return out;
}

const char* ui_usage() {
  return R"(usage: storyloom ui --db PATH [--port N] [--host ADDRESS] [--read-only]

Serves the run inspector, a web app over the store's runs, until Ctrl-C.
  --port N        port to listen on (default 7777; 0 picks a free one)
  --host ADDRESS  address to bind (default 127.0.0.1: this machine only)
  --read-only     refuse every action (cancel, retry, rewind, signal, priority);
                  the store is then only read, never written
The URL to open is printed once the server listens.
)";
}

int run_ui(const std::vector<std::string_view>& args) {
  UiOptions options;
  try {
    options = parse_ui_args(args);
  } catch (const UsageError& e) {
    std::cerr << "storyloom: " << e.what() << "\n\n" << ui_usage();
    return 2;
  }
  if (options.help) {
    std::cout << ui_usage();
    return 0;
  }
  try {
    // Reads go through a read-only connection; actions through an engine
    // that never executes a run (the store's own processes do).
    std::unique_ptr<Engine> engine;
    if (!options.read_only) engine = open_store(options.db);
    Inspector inspector(open_reader(options.db), std::move(engine));
    serve(inspector, ServerOptions{options.host, options.port}, [&](const std::string& url) {
      std::cout << "storyloom ui: serving " << options.db << (options.read_only ? " (read-only)" : "")
                << " at " << url << "\n(Ctrl-C to stop)" << std::endl;
    });
    inspector.close();
    std::cout << "storyloom ui: stopped" << std::endl;
  } catch (const Error& e) {
    std::cerr << "storyloom: " << to_string(e.code()) << ": " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "storyloom: cannot serve: " << e.what() << "\n";
    return 1;
  }
  return 0;
}

}  // namespace storyloom::cli::ui
