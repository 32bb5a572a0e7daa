#include "model/device.h"

#include <charconv>

namespace r1 {

namespace {

std::string gpus(size_t n) { return std::to_string(n) + (n == 1 ? " CUDA GPU is" : " CUDA GPUs are"); }

}  // namespace

Result<at::Device> resolve_device(const std::string& device, int64_t local_rank) {
  R1_RETURN_IF_ERROR(check_device_spelling(device).with_context("field 'device'"));
  const size_t visible = at::hasCUDA() ? at::getNumGPUs() : 0;
  if (device == "cpu" || (device == "auto" && visible == 0)) return at::Device(at::kCPU);
  // "auto" and "cuda" take the local rank's GPU (0 in a one-process run); "cuda:N" names one.
  const bool named = device.rfind("cuda:", 0) == 0;
  uint64_t index = static_cast<uint64_t>(local_rank);
  const bool parsed =
      !named || std::from_chars(device.data() + 5, device.data() + device.size(), index).ec == std::errc();
  if (!parsed || index >= visible) {
    std::string what = named || local_rank == 0 ? "names a CUDA GPU"
                                                : "takes the GPU of LOCAL_RANK " + std::to_string(local_rank);
    return Status::error("field 'device': '" + device + "' " + what + ", but " + gpus(visible) +
                         " visible (use cpu, or auto to take a GPU only when there is one)");
  }
  return at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(index));
}

Result<at::ScalarType> resolve_dtype(const std::string& dtype, at::ScalarType auto_dtype) {
  R1_RETURN_IF_ERROR(check_dtype_spelling(dtype).with_context("field 'dtype'"));
  if (dtype == "float32") return at::kFloat;
  if (dtype == "bfloat16") return at::kBFloat16;
  if (dtype == "float16") return at::kHalf;
  return auto_dtype;
}

Result<LoadOptions> resolve_load_options(const ComputeOptions& options, at::ScalarType auto_dtype, bool trainable,
                                         int64_t local_rank) {
  LoadOptions load;
  R1_ASSIGN_OR_RETURN(load.device, resolve_device(options.device, local_rank));
  R1_ASSIGN_OR_RETURN(load.dtype, resolve_dtype(options.dtype, auto_dtype));
  load.trainable = trainable;
  return load;
}

}  // namespace r1
