#include "options.h"

#include <charconv>
#include <string_view>

namespace story {
namespace {

std::optional<int> parse_int(std::string_view text, int min, int max) {
  int value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < min || value > max) {
    return std::nullopt;
  }
  return value;
}

}  // namespace

std::string usage() {
  return "usage: story --db PATH --topic TEXT [--style TEXT] [--pages N] [--quality N]\n"
         "             [--approve-outline] [--export FILE]... [--fast | --word-delay-ms MS]\n"
         "             [--provider NAME] [--model NAME]\n"
         "\n"
         "Writes an illustrated-book-style story durably into the SQLite file PATH: an\n"
         "outline, then per page a draft, critique-and-revise rounds and an illustration\n"
         "brief, streaming every piece of text as it is written. The text comes from the\n"
         "engine's LLM provider: OpenAI, OpenRouter or Anthropic when OPENAI_API_KEY,\n"
         "OPENROUTER_API_KEY or ANTHROPIC_API_KEY is set (OPENAI_BASE_URL points at any\n"
         "OpenAI-compatible server), else the offline generator: placeholder text, not a\n"
         "language model. Running the same command again (same topic, style, pages and\n"
         "quality) resumes the same run: finished steps are not redone.\n"
         "\n"
         "  --db PATH          the store (created if missing)\n"
         "  --topic TEXT       what the story is about (at most 200 bytes)\n"
         "  --style TEXT       the author's style (at most 200 bytes)\n"
         "  --pages N          number of pages, 1 to 40 (default 4)\n"
         "  --quality N        critique-and-revise rounds per page, 0 to 3 (default 1)\n"
         "  --approve-outline  wait for the outline to be approved before writing pages\n"
         "  --export FILE      write the finished story to FILE.md (Markdown), FILE.epub\n"
         "                     (EPUB 3) or FILE.pdf (a cover, then a page per page);\n"
         "                     repeat it for several\n"
         "  --fast             do not pause between streamed words\n"
         "  --word-delay-ms MS offline text: pause between streamed words (default 15)\n"
         "  --provider NAME    openai, openrouter, anthropic or offline (default: the first\n"
         "                     with a key, else offline; STORYLOOM_LLM_PROVIDER also sets it)\n"
         "  --model NAME       the model (default: the provider's, e.g. $OPENAI_MODEL)\n"
         "\n"
         "Ctrl-C stops cleanly (exit code 130); the run waits in the store for the next start.\n";
}

std::optional<Options> parse_options(int argc, char** argv, std::string& message, int& exit_code) {
  Options options;
  exit_code = 2;
  auto fail = [&](const std::string& what) -> std::optional<Options> {
    message = "story: " + what + "\n\n" + usage();
    return std::nullopt;
  };
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    auto value = [&]() -> std::optional<std::string_view> {
      if (i + 1 >= argc) return std::nullopt;
      return std::string_view(argv[++i]);
    };
    if (arg == "--help" || arg == "-h") {
      message = usage();
      exit_code = 0;
      return std::nullopt;
    } else if (arg == "--approve-outline") {
      options.input.approve_outline = true;
    } else if (arg == "--fast") {
      options.word_delay = std::chrono::milliseconds(0);
    } else if (arg == "--db" || arg == "--topic" || arg == "--style" || arg == "--pages" ||
               arg == "--quality" || arg == "--export" || arg == "--word-delay-ms" ||
               arg == "--provider" || arg == "--model") {
      auto v = value();
      if (!v) return fail(std::string(arg) + " needs a value");
      if (arg == "--db") {
        options.db = *v;
      } else if (arg == "--topic") {
        options.input.topic = *v;
      } else if (arg == "--style") {
        options.input.author_style = *v;
      } else if (arg == "--export") {
        std::string_view path = *v;
        if (!path.ends_with(".md") && !path.ends_with(".epub") && !path.ends_with(".pdf")) {
          return fail("--export " + std::string(path) + ": the file must end in .md, .epub or .pdf");
        }
        options.export_paths.emplace_back(path);
      } else if (arg == "--provider") {
        options.provider = *v;
      } else if (arg == "--model") {
        options.model = *v;
      } else if (arg == "--pages") {
        auto n = parse_int(*v, 1, kMaxPages);
        if (!n) {
          return fail("--pages must be a whole number from 1 to " + std::to_string(kMaxPages) +
                      ", got '" + std::string(*v) + "'");
        }
        options.input.pages = *n;
      } else if (arg == "--quality") {
        auto n = parse_int(*v, 0, kMaxQuality);
        if (!n) {
          return fail("--quality must be a whole number from 0 to " + std::to_string(kMaxQuality) +
                      ", got '" + std::string(*v) + "'");
        }
        options.input.quality = *n;
      } else {
        auto n = parse_int(*v, 0, 10'000);
        if (!n) {
          return fail("--word-delay-ms must be a whole number from 0 to 10000, got '" +
                      std::string(*v) + "'");
        }
        options.word_delay = std::chrono::milliseconds(*n);
      }
    } else {
      return fail("unknown argument '" + std::string(arg) + "'");
    }
  }
  if (options.db.empty()) return fail("--db PATH is required");
  if (options.input.topic.empty()) return fail("--topic TEXT is required");
  try {
    // The workflow's own validation, so the messages match what an API caller sees.
    options.input = parse_story_input(to_json(options.input));
  } catch (const std::exception& e) {
    return fail(e.what());
  }
  return options;
}

}  // namespace story
