// Source of the in-sandbox test harness. Protocol (see code_harness.cc): it
// reads a marshal-encoded spec, and writes a plan, then one record per test on
// fd 3, each line starting with a secret it read from fd 4.
#pragma once

namespace r1 {

const char* code_harness_source();

}  // namespace r1
