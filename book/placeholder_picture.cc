#include "placeholder_picture.h"

#include <cairo.h>
#include <pango/pangocairo.h>

#include <cmath>
#include <cstdint>

#include "storyloom/error.h"

namespace storyloom::book {
namespace {

// FNV-1a: stable across runs and machines (std::hash is neither).
uint64_t fnv1a(std::string_view text) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : text) h = (h ^ c) * 1099511628211ull;
  return h;
}

// Successive values in [0, 1) from the brief's hash.
class Dice {
 public:
  explicit Dice(uint64_t seed) : x_(seed | 1) {}
  double next() {
    x_ ^= x_ << 13, x_ ^= x_ >> 7, x_ ^= x_ << 17;
    return static_cast<double>(x_ >> 11) / static_cast<double>(1ull << 53);
  }

 private:
  uint64_t x_;
};

cairo_status_t append(void* closure, const unsigned char* data, unsigned int length) {
  static_cast<std::string*>(closure)->append(reinterpret_cast<const char*>(data), length);
  return CAIRO_STATUS_SUCCESS;
}

void show_text(cairo_t* cr, std::string_view text, const char* font, double x, double y,
               double width, double height) {
  PangoLayout* layout = pango_cairo_create_layout(cr);
  PangoFontDescription* desc = pango_font_description_from_string(font);
  pango_layout_set_font_description(layout, desc);
  pango_font_description_free(desc);
  pango_layout_set_width(layout, static_cast<int>(width * PANGO_SCALE));
  pango_layout_set_height(layout, static_cast<int>(height * PANGO_SCALE));
  pango_layout_set_wrap(layout, PANGO_WRAP_WORD_CHAR);
  pango_layout_set_ellipsize(layout, PANGO_ELLIPSIZE_END);
  pango_layout_set_alignment(layout, PANGO_ALIGN_CENTER);
  pango_layout_set_text(layout, text.data(), static_cast<int>(text.size()));
  cairo_move_to(cr, x, y);
  pango_cairo_show_layout(cr, layout);
  g_object_unref(layout);
}

}  // namespace

std::string placeholder_png(std::string_view brief, int width, int height) {
  for (auto [name, value] : {std::pair{"width", width}, std::pair{"height", height}}) {
    if (value < 64 || value > 2048) {
      throw Error(ErrorCode::invalid_argument, std::string("placeholder picture ") + name + " is " +
                                                   std::to_string(value) + "; use 64 to 2048");
    }
  }
  Dice dice(fnv1a(brief));
  cairo_surface_t* surface = cairo_image_surface_create(CAIRO_FORMAT_RGB24, width, height);
  cairo_t* cr = cairo_create(surface);
  double w = width, h = height;
  // A sky and a ground in colours of the brief.
  double hue = dice.next();
  auto channel = [&](double shift) { return 0.55 + 0.35 * std::sin(2 * M_PI * (hue + shift)); };
  cairo_set_source_rgb(cr, channel(0), channel(1.0 / 3), channel(2.0 / 3));
  cairo_paint(cr);
  cairo_set_source_rgb(cr, channel(0.5) * 0.6, channel(0.8) * 0.6, channel(0.2) * 0.6);
  cairo_rectangle(cr, 0, h * 0.68, w, h * 0.32);
  cairo_fill(cr);
  // A few shapes: a sun or moon, hills.
  cairo_set_source_rgb(cr, 1, 0.92, 0.6);
  cairo_arc(cr, w * (0.15 + 0.7 * dice.next()), h * (0.12 + 0.2 * dice.next()), h * 0.08, 0, 2 * M_PI);
  cairo_fill(cr);
  for (int i = 0; i < 3; ++i) {
    cairo_set_source_rgba(cr, 0.1 + 0.3 * dice.next(), 0.3 + 0.4 * dice.next(), 0.2, 0.7);
    cairo_arc(cr, w * dice.next(), h * 0.72, h * (0.12 + 0.15 * dice.next()), M_PI, 2 * M_PI);
    cairo_fill(cr);
  }
  // The brief, and what this picture is.
  cairo_set_source_rgba(cr, 1, 1, 1, 0.82);
  cairo_rectangle(cr, w * 0.06, h * 0.36, w * 0.88, h * 0.28);
  cairo_fill(cr);
  cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
  show_text(cr, brief, "Sans 11", w * 0.08, h * 0.38, w * 0.84, h * 0.24);
  cairo_set_source_rgb(cr, 0.15, 0.15, 0.15);
  cairo_rectangle(cr, 0, h - 26, w, 26);
  cairo_fill(cr);
  cairo_set_source_rgb(cr, 1, 1, 1);
  show_text(cr, kPlaceholderLabel, "Sans Bold 10", 4, h - 22, w - 8, 20);
  cairo_destroy(cr);
  std::string png;
  cairo_status_t status = cairo_surface_write_to_png_stream(surface, append, &png);
  cairo_surface_destroy(surface);
  if (status != CAIRO_STATUS_SUCCESS) {
    throw Error(ErrorCode::internal,
                std::string("placeholder picture: ") + cairo_status_to_string(status));
  }
  return png;
}

}  // namespace storyloom::book
