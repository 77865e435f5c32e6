// Command-line options of the story example.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "story_input.h"

namespace story {

struct Options {
  std::string db;                            // the SQLite file the run lives in
  StoryInput input;                          // what to write
  // --export FILE, repeatable: .md (Markdown), .epub (EPUB 3) or .pdf.
  std::vector<std::string> export_paths;
  std::chrono::milliseconds word_delay{15};  // offline provider: between streamed words; 0 with --fast
  std::string provider;  // "" → the engine's default (offline unless an API key is set)
  std::string model;     // "" → the provider's
};

// The usage text printed by --help and after a usage error.
std::string usage();

// Parses argv. On success returns the options; on --help or an error returns
// nullopt and writes what to print to `message` (`exit_code` 0 for --help, 2 otherwise).
std::optional<Options> parse_options(int argc, char** argv, std::string& message, int& exit_code);

}  // namespace story
