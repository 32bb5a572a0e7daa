// LibTorch's profiler (Kineto) around a bench's extra run: where the time
// went, as the GPU kernels (or, on the CPU, the operators) with the most
// total time. Prints JSON lines, and optionally writes the Chrome trace
// (chrome://tracing, Perfetto) for a closer look.
#pragma once

#include <string>

namespace r1 {

// Starts recording CPU operators and, with `cuda`, GPU activity (CUPTI).
void start_kernel_profile(bool cuda);

// Stops, and prints the `top` names with the most total time: GPU kernels,
// copies and memsets with `cuda`, else CPU operators (nested operators
// count inside their callers too). Each line: {"profile": name, "calls",
// "total_ms", "share"} (share of all GPU time, or of the operators' total);
// then {"profile_gpu_ms": ...} with `cuda`. A non-empty `trace` gets the
// Chrome trace.
void stop_kernel_profile(bool cuda, int top, const std::string& trace);

}  // namespace r1
