// UTF-8 validation and repair shared by every library: the tokenizer, the
// reward checkers and the JSON writer (whose output must be valid UTF-8
// whatever bytes came in).
#pragma once

#include <string>
#include <string_view>

namespace r1 {

// Returns `bytes` with every ill-formed sequence replaced by U+FFFD, one per
// maximal subpart, as Rust's String::from_utf8_lossy (and so HF) and Python's
// bytes.decode(errors="replace") do.
std::string utf8_lossy(std::string_view bytes);

// True when `text` is well-formed UTF-8.
bool utf8_valid(std::string_view text);

// Length of the well-formed character starting at text[pos] (1-4), or 1 when
// the byte there does not start one: a cut after pos + this length never
// splits a character.
size_t utf8_char_length(std::string_view text, size_t pos);

}  // namespace r1
