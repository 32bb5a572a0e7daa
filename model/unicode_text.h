// UTF-8 helpers for the tokenizer: NFC, code points, and
// the GPT-2 byte-level alphabet (each byte shown as one printable char).
#pragma once

#include <array>
#include <string>
#include <string_view>

#include "util/utf8.h"  // utf8_lossy, utf8_valid

namespace r1 {

// Unicode NFC of valid UTF-8 text (utf8proc); text below U+0300 is returned
// unchanged without a call, since it is always NFC.
std::string nfc(std::string_view text);

// Decodes the code point at `text[pos]` (valid UTF-8 assumed), advancing pos.
char32_t next_code_point(std::string_view text, size_t& pos);
void append_utf8(std::string& out, char32_t cp);

// Python's str.isspace() for one code point (used by str.strip in templates
// and by HF's lstrip/rstrip of added tokens, which use char::is_whitespace).
bool is_unicode_space(char32_t cp);
// Letter, mark, number or '_' (HF's word test for single_word added tokens).
bool is_word_char(char32_t cp);

// GPT-2's bytes_to_unicode: byte b shows as code point byte_to_char()[b].
const std::array<char32_t, 256>& byte_to_char();
// The inverse: -1 for code points outside the alphabet.
int char_to_byte(char32_t cp);

}  // namespace r1
