#pragma once
// famx::svg: a minimal SVG writer for famx's pictures (the advisor's hotspot map, shard plans):
// groups, rectangles, lines and text, with XML escaping. Output is plain SVG 1.1, one element a line.

#include <cstdio>
#include <string>
#include <string_view>

namespace famx::svg {

// s with the five XML special characters escaped and control characters other than tab, line feed
// and carriage return dropped (they are not allowed in XML 1.0).
inline std::string escape(std::string_view s) {
  std::string r;
  r.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': r += "&amp;"; break;
      case '<': r += "&lt;"; break;
      case '>': r += "&gt;"; break;
      case '"': r += "&quot;"; break;
      case '\'': r += "&apos;"; break;
      default:
        if (static_cast<unsigned char>(c) >= 0x20 || c == '\t' || c == '\n' || c == '\r') r += c;
    }
  }
  return r;
}

// A number as SVG coordinate text ("12.5").
inline std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

// An SVG document being written: open a group, draw into it, close it, then finish().
class document {
 public:
  // A document of width x height user units with a white background and a sans-serif font.
  document(double width, double height) {
    out_ = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"" +
           num(width) + "\" height=\"" + num(height) + "\" viewBox=\"0 0 " + num(width) + " " + num(height) +
           "\" font-family=\"sans-serif\" font-size=\"12\">\n<rect x=\"0\" y=\"0\" width=\"" + num(width) + "\" height=\"" +
           num(height) + "\" fill=\"white\"/>\n";
  }

  // Opens <g class="cls" id="id"> (id omitted when empty); every open_group needs a close_group.
  void open_group(std::string_view cls, std::string_view id = {}) {
    out_ += "<g class=\"" + escape(cls) + "\"" + (id.empty() ? "" : " id=\"" + escape(id) + "\"") + ">\n";
  }
  void close_group() { out_ += "</g>\n"; }

  // A filled rectangle; `title` (when given) shows as a tooltip.
  void rect(double x, double y, double w, double h, std::string_view fill, std::string_view title = {}) {
    out_ += "<rect x=\"" + num(x) + "\" y=\"" + num(y) + "\" width=\"" + num(w < 0 ? 0 : w) + "\" height=\"" + num(h < 0 ? 0 : h) +
            "\" fill=\"" + escape(fill) + "\"";
    out_ += title.empty() ? "/>\n" : "><title>" + escape(title) + "</title></rect>\n";
  }
  // An outlined rectangle (no fill).
  void frame(double x, double y, double w, double h, std::string_view stroke) {
    out_ += "<rect x=\"" + num(x) + "\" y=\"" + num(y) + "\" width=\"" + num(w) + "\" height=\"" + num(h) +
            "\" fill=\"none\" stroke=\"" + escape(stroke) + "\"/>\n";
  }
  void line(double x1, double y1, double x2, double y2, std::string_view stroke) {
    out_ += "<line x1=\"" + num(x1) + "\" y1=\"" + num(y1) + "\" x2=\"" + num(x2) + "\" y2=\"" + num(y2) + "\" stroke=\"" +
            escape(stroke) + "\"/>\n";
  }
  // Text at (x, y) (the baseline); anchor "start", "middle" or "end".
  void text(double x, double y, std::string_view s, std::string_view anchor = "start", int size = 12,
            std::string_view weight = "normal") {
    out_ += "<text x=\"" + num(x) + "\" y=\"" + num(y) + "\" text-anchor=\"" + escape(anchor) + "\"" +
            (size != 12 ? " font-size=\"" + std::to_string(size) + "\"" : std::string()) +
            (weight != "normal" ? " font-weight=\"" + escape(weight) + "\"" : std::string()) + ">" + escape(s) + "</text>\n";
  }

  // The finished document text.
  std::string finish() const { return out_ + "</svg>\n"; }

 private:
  std::string out_;
};

}  // namespace famx::svg
