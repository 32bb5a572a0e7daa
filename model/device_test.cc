#include "model/device.h"

#include <gtest/gtest.h>

#include "model/model_presets.h"

namespace r1 {
namespace {

TEST(Device, SpellingsResolve) {
  EXPECT_EQ(*resolve_device("cpu"), at::Device(at::kCPU));
  at::Device any = *resolve_device("auto");
  EXPECT_EQ(any.is_cuda(), at::hasCUDA() && at::getNumGPUs() > 0);
  EXPECT_EQ(*resolve_dtype("auto", at::kBFloat16), at::kBFloat16);
  EXPECT_EQ(*resolve_dtype("auto", at::ScalarType::Undefined), at::ScalarType::Undefined);
  EXPECT_EQ(*resolve_dtype("float32", at::kBFloat16), at::kFloat);
  EXPECT_EQ(*resolve_dtype("float16", at::kFloat), at::kHalf);
  EXPECT_EQ(resolve_dtype("fp16", at::kFloat).status().message(),
            "field 'dtype': must be auto, float32, bfloat16 or float16, got 'fp16'");
  EXPECT_EQ(resolve_device("gpu").status().message(), "field 'device': must be cpu, cuda, cuda:N or auto, got 'gpu'");
}

TEST(Device, AGpuThatIsNotThereIsAnErrorNamingTheKey) {
  const size_t visible = at::hasCUDA() ? at::getNumGPUs() : 0;
  std::string beyond = "cuda:" + std::to_string(visible);
  Result<at::Device> d = resolve_device(beyond);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().message().rfind("field 'device': '" + beyond + "' names a CUDA GPU, but ", 0), 0u)
      << d.status().message();
  if (visible == 0) {
    EXPECT_FALSE(resolve_device("cuda").ok());
  }
  EXPECT_FALSE(resolve_device("cuda:99999999999999999999999").ok());
  // A rank's "cuda" and "auto" are the GPU of its local rank; naming one keeps it.
  std::string rank_gpu = "field 'device': 'cuda' takes the GPU of LOCAL_RANK " + std::to_string(visible) + ", but ";
  EXPECT_EQ(resolve_device("cuda", static_cast<int64_t>(visible)).status().message().rfind(rank_gpu, 0),
            visible == 0 ? std::string::npos : 0u);
  if (visible == 0) {
    EXPECT_EQ(*resolve_device("auto", 3), at::Device(at::kCPU));  // no GPU: the CPU, whatever the rank
    EXPECT_EQ(resolve_device("cuda", 3).status().message().rfind(
                  "field 'device': 'cuda' takes the GPU of LOCAL_RANK 3, but 0 CUDA GPUs are visible", 0),
              0u);
  } else {
    EXPECT_EQ(*resolve_device("auto", static_cast<int64_t>(visible) - 1),
              at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(visible - 1)));
    EXPECT_EQ(*resolve_device("cuda:0", static_cast<int64_t>(visible) - 1), at::Device(at::kCUDA, 0));
  }
}

TEST(Device, LoadPlacesAndConvertsTheWeights) {
  ModelConfig config = value_or_throw(preset_config(ModelFamily::qwen2, "tiny"));
  config.num_hidden_layers = 1;
  Transformer random = Transformer::random(config, 1);
  LoadOptions load = value_or_throw(resolve_load_options({"auto", "bfloat16"}, at::kFloat, /*trainable=*/true));
  Transformer model = value_or_throw(Transformer::from_tensors(config, random.tensors(), load));
  EXPECT_EQ(model.dtype(), at::kBFloat16);
  EXPECT_EQ(model.device(), load.device);
  for (const at::Tensor& t : model.parameters()) {
    EXPECT_EQ(t.device(), load.device);
    EXPECT_TRUE(t.requires_grad());
  }
}

}  // namespace
}  // namespace r1
