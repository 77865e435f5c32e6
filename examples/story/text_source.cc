#include "text_source.h"

#include <thread>

#include "offline_writer.h"
#include "storyloom/error.h"

namespace story {
namespace {

using storyloom::Context;
using storyloom::Error;
using storyloom::ErrorCode;

std::string offline_text(const TextRequest& r) {
  const StoryInput& input = *r.input;
  switch (r.kind) {
    case TextKind::outline:
      return offline_outline(input);
    case TextKind::page:
      return offline_page(input, r.page);
    case TextKind::critique:
      return offline_critique(input, r.page, r.round);
    case TextKind::revision:
      return offline_revision(input, r.page, r.round, r.draft);
    case TextKind::illustration:
      return offline_illustration(input, r.outline->visual_style, r.page);
  }
  throw Error(ErrorCode::internal, "unknown text kind");
}

// Streams `text` word by word into `stream`, as a model's tokens would arrive.
void stream_words(Context& ctx, const std::string& stream, const std::string& text,
                  std::chrono::milliseconds delay) {
  for (size_t start = 0; start < text.size();) {
    if (ctx.cancelled()) {
      // The engine is closing (Ctrl-C) or the run was cancelled. close() says
      // so a moment before it puts the run back in the queue; a step failing
      // in between would fail the whole run, so give close() that moment.
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      throw Error(ErrorCode::cancelled, "stopped while writing " + stream +
                                            ": the run was cancelled or the engine closed");
    }
    size_t end = text.find_first_of(" \n", start);
    end = end == std::string::npos ? text.size() : end + 1;
    ctx.chunk(stream, std::string_view(text).substr(start, end - start));
    start = end;
    if (delay.count() > 0) std::this_thread::sleep_for(delay);
  }
}

}  // namespace

TextSource offline_text_source(std::chrono::milliseconds word_delay) {
  return [word_delay](Context& ctx, const TextRequest& request) {
    auto result = ctx.step(request.step, [&] {
      std::string text = offline_text(request);
      stream_words(ctx, request.stream, text, word_delay);
      return storyloom::Json(text);
    });
    return std::string(result.as_string());
  };
}

}  // namespace story
