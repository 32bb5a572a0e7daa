#include "util/utf8.h"

namespace r1 {

namespace {

// Length of the well-formed sequence at s[i], or 0 if none; `consumed` gets
// the length of the maximal ill-formed prefix (≥ 1) when 0 is returned.
size_t utf8_sequence(std::string_view s, size_t i, size_t& consumed) {
  auto b = static_cast<unsigned char>(s[i]);
  consumed = 1;
  if (b < 0x80) return 1;
  size_t need;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (b >= 0xC2 && b <= 0xDF) {
    need = 2;
  } else if (b >= 0xE0 && b <= 0xEF) {
    need = 3;
    if (b == 0xE0) lo = 0xA0;
    if (b == 0xED) hi = 0x9F;  // no surrogates
  } else if (b >= 0xF0 && b <= 0xF4) {
    need = 4;
    if (b == 0xF0) lo = 0x90;
    if (b == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  for (size_t k = 1; k < need; ++k) {
    if (i + k >= s.size()) return 0;
    auto c = static_cast<unsigned char>(s[i + k]);
    unsigned char l = k == 1 ? lo : 0x80, h = k == 1 ? hi : 0xBF;
    if (c < l || c > h) return 0;
    consumed = k + 1;
  }
  return need;
}

}  // namespace

bool utf8_valid(std::string_view text) {
  size_t i = 0, consumed;
  while (i < text.size()) {
    if (static_cast<unsigned char>(text[i]) < 0x80) {
      ++i;
      continue;
    }
    size_t n = utf8_sequence(text, i, consumed);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

std::string utf8_lossy(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  size_t i = 0, consumed;
  while (i < bytes.size()) {
    size_t n = utf8_sequence(bytes, i, consumed);
    if (n > 0) {
      out.append(bytes.substr(i, n));
      i += n;
    } else {
      out += "\xEF\xBF\xBD";
      i += consumed;
    }
  }
  return out;
}

size_t utf8_char_length(std::string_view text, size_t pos) {
  if (pos >= text.size()) return 0;
  size_t consumed;
  size_t n = utf8_sequence(text, pos, consumed);
  return n == 0 ? 1 : n;
}

}  // namespace r1
