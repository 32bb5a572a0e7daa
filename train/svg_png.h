// SVG to PNG for `r1 plot --out curves.png`, through librsvg and cairo
// (Debian's librsvg2-dev): the same curves as the SVG, for viewers and
// reports that take only bitmaps.
#pragma once

#include <string>

#include "util/status.h"

namespace r1 {

// The PNG bytes of `svg` drawn at its own width and height, on white.
Result<std::string> svg_to_png(const std::string& svg);

}  // namespace r1
