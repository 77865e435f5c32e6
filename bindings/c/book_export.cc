// sl_engine_export_book: a story run written as an EPUB, a PDF or Markdown
// through the book library (book/book.h).
#include "args.h"
#include "book.h"
#include "handles.h"
#include "status.h"

using storyloom::capi::Args;
using storyloom::capi::guarded;
using namespace storyloom;

SL_API int sl_engine_export_book(sl_engine* engine, const char* run_id, size_t run_id_len,
                                 const char* format, size_t format_len, const char* path,
                                 size_t path_len) {
  Args args(__func__);
  return guarded([&] {
    auto& e = args.required(engine, "engine");
    std::string id(args.text(run_id, run_id_len, "run_id"));
    auto chosen = book::parse_format(args.text(format, format_len, "format"));
    std::string out(args.text(path, path_len, "path"));
    if (out.empty()) args.invalid("path is empty");
    auto the_book = book::book_from_snapshot(e.engine->snapshot(id), [&](const ArtifactInfo& a) {
      return e.engine->artifact_bytes(id, a.key, a.version).bytes;
    });
    book::write_book(the_book, chosen, out);
  });
}
