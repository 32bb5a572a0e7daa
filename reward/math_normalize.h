// String-level clean-up of a LaTeX answer before parsing: spacing and sizing
// commands, dollar signs, degree marks, units in \text{} or trailing words,
// thousands separators, trailing punctuation. Maths is left to the parser.
#pragma once

#include <string>
#include <string_view>

namespace r1 {

std::string normalize_answer(std::string_view answer);

// Lower-cases and drops everything but letters and digits: the form in
// which plain-text answers ("\text{Evelyn}", "east") are compared.
std::string canonical_text(std::string_view text);

}  // namespace r1
