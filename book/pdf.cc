// The PDF: Cairo draws, Pango lays out the text (and embeds the fonts it
// uses). A5 portrait; a cover with the title and author line, then one page
// per story page with its picture fitted above its text.
#include <cairo-pdf.h>
#include <cairo.h>
#include <pango/pangocairo.h>

#include <algorithm>
#include <memory>

#include "book.h"
#include "picture_files.h"
#include "storyloom/error.h"

namespace storyloom::book {
namespace {

constexpr double kWidth = 419.5;   // A5 in points
constexpr double kHeight = 595.3;
constexpr double kMargin = 36;

struct PngReader {
  const std::string* bytes;
  size_t offset = 0;
};

cairo_status_t read_png(void* closure, unsigned char* data, unsigned int length) {
  auto* r = static_cast<PngReader*>(closure);
  if (r->offset + length > r->bytes->size()) return CAIRO_STATUS_READ_ERROR;
  std::copy_n(r->bytes->data() + r->offset, length, data);
  r->offset += length;
  return CAIRO_STATUS_SUCCESS;
}

cairo_status_t append(void* closure, const unsigned char* data, unsigned int length) {
  static_cast<std::string*>(closure)->append(reinterpret_cast<const char*>(data), length);
  return CAIRO_STATUS_SUCCESS;
}

// Lays out `text` in `font` within `width`; draws it at (x, y) and returns its height.
// A text taller than `max_height` (0: no limit) ends in an ellipsis rather
// than running off the page.
double draw_text(cairo_t* cr, const std::string& text, const char* font, double x, double y,
                 double width, PangoAlignment align = PANGO_ALIGN_LEFT, double max_height = 0) {
  PangoLayout* layout = pango_cairo_create_layout(cr);
  PangoFontDescription* desc = pango_font_description_from_string(font);
  pango_layout_set_font_description(layout, desc);
  pango_font_description_free(desc);
  pango_layout_set_width(layout, static_cast<int>(width * PANGO_SCALE));
  pango_layout_set_wrap(layout, PANGO_WRAP_WORD_CHAR);
  pango_layout_set_alignment(layout, align);
  if (max_height > 0) {
    pango_layout_set_height(layout, static_cast<int>(max_height * PANGO_SCALE));
    pango_layout_set_ellipsize(layout, PANGO_ELLIPSIZE_END);
  }
  pango_layout_set_text(layout, text.c_str(), static_cast<int>(text.size()));
  int w = 0, h = 0;
  pango_layout_get_size(layout, &w, &h);
  cairo_move_to(cr, x, y);
  pango_cairo_show_layout(cr, layout);
  g_object_unref(layout);
  return static_cast<double>(h) / PANGO_SCALE;
}

// Draws the PNG fitted into the box; false when it is not a readable PNG.
bool draw_picture(cairo_t* cr, const Picture& picture, double x, double y, double w, double h) {
  if (picture_extension(picture.content_type) != ".png") return false;
  PngReader reader{&picture.bytes};
  cairo_surface_t* image = cairo_image_surface_create_from_png_stream(read_png, &reader);
  bool ok = cairo_surface_status(image) == CAIRO_STATUS_SUCCESS;
  if (ok) {
    double iw = cairo_image_surface_get_width(image), ih = cairo_image_surface_get_height(image);
    double scale = std::min(w / iw, h / ih);
    cairo_save(cr);
    cairo_translate(cr, x + (w - iw * scale) / 2, y);
    cairo_scale(cr, scale, scale);
    cairo_set_source_surface(cr, image, 0, 0);
    cairo_paint(cr);
    cairo_restore(cr);
  }
  cairo_surface_destroy(image);
  return ok;
}

}  // namespace

std::string to_pdf(const Book& book) {
  std::string out;
  cairo_surface_t* surface = cairo_pdf_surface_create_for_stream(append, &out, kWidth, kHeight);
  cairo_pdf_surface_set_metadata(surface, CAIRO_PDF_METADATA_TITLE, book.title.c_str());
  if (!book.author_line.empty()) {
    cairo_pdf_surface_set_metadata(surface, CAIRO_PDF_METADATA_AUTHOR, book.author_line.c_str());
  }
  cairo_t* cr = cairo_create(surface);
  double text_width = kWidth - 2 * kMargin;

  // The cover.
  cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
  double title_h = draw_text(cr, book.title, "Serif Bold 26", kMargin, kHeight / 3, text_width,
                             PANGO_ALIGN_CENTER);
  if (!book.author_line.empty()) {
    draw_text(cr, book.author_line, "Serif Italic 12", kMargin, kHeight / 3 + title_h + 24,
              text_width, PANGO_ALIGN_CENTER);
  }
  cairo_show_page(cr);

  for (const auto& page : book.pages) {
    double y = kMargin;
    double picture_h = kHeight * 0.45;
    if (page.picture && draw_picture(cr, *page.picture, kMargin, y, text_width, picture_h)) {
      y += picture_h + 18;
    } else {
      cairo_set_source_rgb(cr, 0.45, 0.45, 0.45);
      y += draw_text(cr, "(no picture)", "Serif Italic 11", kMargin, y, text_width,
                     PANGO_ALIGN_CENTER) + 18;
    }
    cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
    draw_text(cr, page.text, "Serif 11", kMargin, y, text_width, PANGO_ALIGN_LEFT,
              kHeight - kMargin - 16 - y);
    cairo_set_source_rgb(cr, 0.45, 0.45, 0.45);
    draw_text(cr, std::to_string(page.number), "Serif 9", kMargin, kHeight - kMargin + 8,
              text_width, PANGO_ALIGN_CENTER);
    cairo_show_page(cr);
  }
  cairo_destroy(cr);
  cairo_surface_finish(surface);
  cairo_status_t status = cairo_surface_status(surface);
  cairo_surface_destroy(surface);
  if (status != CAIRO_STATUS_SUCCESS) {
    throw Error(ErrorCode::internal, std::string("PDF: cairo failed: ") + cairo_status_to_string(status));
  }
  return out;
}

}  // namespace storyloom::book
