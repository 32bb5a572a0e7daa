// The model's matrix products: at::linear / at::matmul, except on the CPU,
// where the fastest of MKL and oneDNN at the model's shapes differs by CPU:
//
// - fp32: MKL runs its AVX-512 code on Intel CPUs only. On AMD's (Zen 4) it
//   runs AVX2 code while oneDNN uses AVX-512: the model's GEMMs measured 2x
//   faster there (e.g. [512 x 256] x [256 x 704]: 903 us MKL, 408 us
//   oneDNN), so fp32 products on AVX-512 CPUs not made by Intel run on
//   oneDNN's matmul (forward and backward). On an Intel Xeon (Emerald
//   Rapids) MKL was the faster: a GRPO step of the `small` model 15% faster.
// - bf16/fp16: ATen sends them to oneDNN. Where that is slow they run as
//   fp32 products of the upcast operands on MKL, rounded once to the
//   operands' dtype (the fp32 sums oneDNN takes, in another order): on CPUs
//   without AVX-512, where ATen falls back to a dot-product loop (7-10x
//   slower than MKL's sgemm), and bf16 on Intel CPUs without AMX, where
//   oneDNN's AVX512-BF16 kernels were 1.9x slower than the sgemm.
//
// The environment variable R1_CPU_GEMM=mkl (every product on MKL) or
// onednn (every product on oneDNN; an error where it cannot run, without
// AVX-512) overrides the rules, to compare the two on another CPU; auto
// (the default) is the rules above (docs/benchmarks.md).
#pragma once

#include <ATen/ATen.h>

#include <unordered_map>
#include <vector>

// Called qualified (gemm::linear), so argument-dependent lookup never
// confuses these with at::linear / at::matmul.
namespace r1::gemm {

// True when x's products take the oneDNN path: a CPU fp32 tensor, ATen
// built with oneDNN and a CPU with AVX-512 (BW, VL, DQ) not made by Intel,
// or any such CPU under R1_CPU_GEMM=onednn.
bool onednn_applies(const at::Tensor& x);

// True when a and b's product is computed in fp32 and rounded back: CPU
// bf16 or fp16 operands of one dtype, where the rules above say so.
bool upcast_applies(const at::Tensor& a, const at::Tensor& b);

// x [..., in] w [out, in]^T + b -> [..., out]; differentiable in x and w
// (and b). Same arithmetic as at::linear up to fp32 summation order.
at::Tensor linear(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b = {});

// Weight gradients summed by the products that compute them. While a sink
// is installed on a thread (it is, from construction to destruction),
// linear's products run there with grad mode on and a weight the sink
// holds add d loss / d weight into the weight's sum within the backward's
// GEMM (beta = 1) and give autograd no gradient for that weight. A
// training micro-batch then allocates no weight gradient per product, nor
// sums a weight's uses (GRPO's prompt and completion passes) or adds them
// into .grad afterwards (on the CPU, ATen's adds fell from 3.9% to 2.3% of
// a one-thread update's time, docs/benchmarks.md). The sum is bound when
// the forward runs, so the backward may run on any thread. The sink holds
// CPU weights that need gradients: fp32 ones, and bf16/fp16 ones whose
// products run upcast to fp32 (upcast_applies), whose gradients then reach
// the fp32 sum without a rounding to their own dtype, as under TRL's
// autocast. Others are not held; their products return gradients to
// autograd as before.
class WeightGradSink {
 public:
  // sums[i] becomes weights[i]'s sum (fp32), made zero at the weight's
  // first product where undefined (weights no product multiplies keep
  // none); sums must outlive the sink's products' backward.
  WeightGradSink(const std::vector<at::Tensor>& weights, std::vector<at::Tensor>& sums);
  ~WeightGradSink();
  WeightGradSink(const WeightGradSink&) = delete;
  WeightGradSink& operator=(const WeightGradSink&) = delete;
  // True for a weight the sink would hold.
  static bool holds(const at::Tensor& weight);
  // The sum it keeps for `weight` (made now if it has none), or nullptr.
  const at::Tensor* sum_for(const at::Tensor& weight);

 private:
  std::vector<at::Tensor>& sums_;
  std::unordered_map<const c10::TensorImpl*, size_t> index_of_;  // a held weight's index in sums_
  WeightGradSink* previous_;
};

// Batched a [..., M, K] @ b [..., K, N] -> [..., M, N] (same batch dims, no
// broadcasting); differentiable in both.
at::Tensor matmul(const at::Tensor& a, const at::Tensor& b);

// A weight [out, in] packed once into MKL's internal layout
// (cblas_sgemm_pack), for products that run many times with few rows: a
// decode step packs its operand anew on every call otherwise, which took
// half of MKL's time at 32 rows (the decode-shaped products ran 16% faster
// packed, bitwise equal). bf16/fp16 weights where upcast_applies are
// packed as fp32 (the product's dtype stays theirs). Empty where MKL does
// not run the product (GPU, the oneDNN path); weights that change need
// a new packing.
struct PackedWeight {
  at::Tensor buffer;  // MKL's packed bytes (fp32); undefined: not packed
  int64_t out = 0, in = 0;
  at::ScalarType dtype = at::kFloat;  // the weight's: inputs and outputs take it
};
PackedWeight pack(const at::Tensor& w);

// x [..., in] w^T + b with a packed weight; inference only (no autograd),
// so callers use it only with grad mode off.
at::Tensor linear(const at::Tensor& x, const PackedWeight& w, const at::Tensor& b = {});

}  // namespace r1::gemm
