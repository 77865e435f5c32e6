// `storyloom export RUN --format epub|pdf|md --out FILE`: a story run as a
// book (book/book.h), for an Engine or a StoreReader.
#pragma once

#include <ostream>

#include "args.h"
#include "book.h"

namespace storyloom::cli {

template <typename Reader>
void export_book_of(Reader& reader, const CommandLine& cmd, std::ostream& out) {
  auto format = book::parse_format(cmd.export_format);
  auto snapshot = reader.snapshot(cmd.run_id);
  auto the_book = book::book_from_snapshot(snapshot, [&](const ArtifactInfo& a) {
    return reader.artifact_bytes(cmd.run_id, a.key, a.version).bytes;
  });
  book::write_book(the_book, format, cmd.out_file);
  size_t pictures = 0;
  for (const auto& page : the_book.pages) pictures += page.picture.has_value();
  out << cmd.out_file << ": " << the_book.pages.size() << " pages, " << pictures << " pictures\n";
}

}  // namespace storyloom::cli
