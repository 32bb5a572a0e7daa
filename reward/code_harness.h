// Source of the in-sandbox test harness (see code_harness.cc for the protocol:
// a plan record, then one record per test on fd 3, each tagged with a secret).
#pragma once

namespace r1 {

const char* code_harness_source();

}  // namespace r1
