#include "model/gemm.h"

#include "model/cpu_simd.h"

#include <ATen/Config.h>
#include <ATen/core/grad_mode.h>
#include <torch/csrc/autograd/custom_function.h>

#include <cstdlib>
#include <optional>
#include <string>

// Exported by libtorch_cpu but declared in a header the wheel does not ship
// (ATen/native/mkldnn/Matmul.h): result = beta * result + alpha * mat1 @ mat2.
namespace at::native {
TORCH_API void mkldnn_matmul(const Tensor& mat1, const Tensor& mat2, const Tensor& result, float beta, float alpha);
}  // namespace at::native

// MKL's packed GEMM, exported by libtorch_cpu (its MKL is LP64: 32-bit ints).
extern "C" {
size_t cblas_sgemm_pack_get_size(int identifier, int m, int n, int k);
void cblas_sgemm_pack(int layout, int identifier, int trans, int m, int n, int k, float alpha, const float* src,
                      int ld, float* dest);
void cblas_sgemm_compute(int layout, int transa, int transb, int m, int n, int k, const float* a, int lda,
                         const float* b, int ldb, float beta, float* c, int ldc);
}

namespace r1::gemm {

namespace {

// CBLAS enum values (mkl_cblas.h).
constexpr int kRowMajor = 101, kNoTrans = 111, kTrans = 112, kPacked = 151, kBMatrix = 162;
// The row count the packing is tuned for (the layout is valid for any).
constexpr int kPackRows = 32;

// a [M, K] @ b [K, N], or batched over a leading dim; a and b contiguous
// or transposed (last two dims) views of contiguous tensors.
at::Tensor matmul_2d(const at::Tensor& a, const at::Tensor& b) {
  std::vector<int64_t> shape(a.sizes().begin(), a.sizes().end());
  shape.back() = b.size(-1);
  at::Tensor out = at::empty(shape, a.options());
  at::native::mkldnn_matmul(a, b, out, /*beta=*/0.0f, /*alpha=*/1.0f);
  return out;
}

// bf16/fp16 products as fp32 products of the upcast operands: the fp32 sums
// ATen's reduced-precision CPU GEMM takes (in another order), on MKL's
// sgemm. The result stays fp32 for the caller to add a bias and round once,
// as ATen does.
at::Tensor upcast(const at::Tensor& t) { return t.to(at::kFloat); }
at::Tensor fp32_product(const at::Tensor& a, const at::Tensor& b) { return at::matmul(upcast(a), upcast(b)); }

// a @ b computed by `product` (matmul_2d, fp32_product or, for Linear,
// mkl_product), forward and backward. The inputs are saved as they came
// (bf16 stays half-size) and each gradient is cast to its input's dtype.
using Product = at::Tensor (*)(const at::Tensor&, const at::Tensor&);
// sum += a @ b in the product's arithmetic, into an fp32 sum (WeightGradSink).
using AddProduct = void (*)(at::Tensor& sum, const at::Tensor& a, const at::Tensor& b);

// MKL's product through ATen, as at::linear takes it (used with a sink only).
at::Tensor mkl_product(const at::Tensor& a, const at::Tensor& b) { return at::mm(a, b); }
void add_mkl_product(at::Tensor& sum, const at::Tensor& a, const at::Tensor& b) { sum.addmm_(upcast(a), upcast(b)); }
void add_matmul_2d(at::Tensor& sum, const at::Tensor& a, const at::Tensor& b) {
  at::native::mkldnn_matmul(a, b, sum, /*beta=*/1.0f, /*alpha=*/1.0f);
}

// x [M, in] w [out, in]^T by `product`. With `sum` (a WeightGradSink's),
// the backward adds w's gradient into it (add_product, beta = 1) and gives
// autograd none for w; the fp32 sum then takes the upcast product's
// gradient without a rounding to w's dtype.
template <Product product, AddProduct add_product>
struct Linear : torch::autograd::Function<Linear<product, add_product>> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x, const at::Tensor& w,
                            const std::optional<at::Tensor>& sum) {
    ctx->save_for_backward({x, w});
    if (sum) ctx->saved_data["sum"] = *sum;
    return product(x, w.t());
  }

  // One gradient per forward argument: none for the sum.
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    auto saved = ctx->get_saved_variables();
    const at::Tensor &x = saved[0], &w = saved[1];
    at::Tensor grad = grads[0].contiguous();  // [M, out]
    at::Tensor grad_x = ctx->needs_input_grad(0) ? product(grad, w).to(x.scalar_type()) : at::Tensor();
    at::Tensor grad_w;
    if (ctx->needs_input_grad(1)) {
      auto sum = ctx->saved_data.find("sum");
      if (sum == ctx->saved_data.end()) {
        grad_w = product(grad.t(), x).to(w.scalar_type());
      } else {
        at::Tensor into = sum->second.toTensor();
        add_product(into, grad.t(), x);
      }
    }
    return {grad_x, grad_w, at::Tensor()};
  }
};

template <Product product>
struct Matmul : torch::autograd::Function<Matmul<product>> {
  // a [..., M, K], b [..., K, N] (the same leading dims) -> [..., M, N]
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& a, const at::Tensor& b) {
    ctx->save_for_backward({a, b});
    return product(a, b);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    auto saved = ctx->get_saved_variables();
    const at::Tensor &a = saved[0], &b = saved[1];
    at::Tensor grad = grads[0].contiguous();  // [..., M, N]
    at::Tensor grad_a =
        ctx->needs_input_grad(0) ? product(grad, b.transpose(-1, -2)).to(a.scalar_type()) : at::Tensor();
    at::Tensor grad_b =
        ctx->needs_input_grad(1) ? product(a.transpose(-1, -2), grad).to(b.scalar_type()) : at::Tensor();
    return {grad_a, grad_b};
  }
};

thread_local WeightGradSink* installed_sink = nullptr;

}  // namespace

bool WeightGradSink::holds(const at::Tensor& weight) {
  if (!weight.defined() || !weight.is_cpu() || !weight.requires_grad()) return false;
  return weight.scalar_type() == at::kFloat || upcast_applies(weight, weight);
}

WeightGradSink::WeightGradSink(const std::vector<at::Tensor>& weights, std::vector<at::Tensor>& sums)
    : sums_(sums), previous_(installed_sink) {
  sums.resize(weights.size());
  for (size_t i = 0; i < weights.size(); ++i)
    if (holds(weights[i])) index_of_.emplace(weights[i].unsafeGetTensorImpl(), i);
  installed_sink = this;
}

WeightGradSink::~WeightGradSink() { installed_sink = previous_; }

// Made at a weight's first product: weights no product multiplies (an
// embedding, norms) get no sum, and cost nothing.
const at::Tensor* WeightGradSink::sum_for(const at::Tensor& weight) {
  auto it = index_of_.find(weight.unsafeGetTensorImpl());
  if (it == index_of_.end()) return nullptr;
  at::Tensor& sum = sums_[it->second];
  if (!sum.defined()) sum = at::zeros(weight.sizes(), weight.options().dtype(at::kFloat));
  return &sum;
}

namespace {

// Which CPU products leave ATen's default path, decided once per process
// (every product asks).
struct Rules {
  bool fp32_on_onednn = false;  // fp32 products on oneDNN's matmul
  bool bf16_upcast = false;     // bf16 products as upcast fp32 products on MKL
  bool fp16_upcast = false;     // likewise fp16
};

// - fp32: MKL runs its AVX-512 code on Intel CPUs only: there it beat oneDNN
//   (a GRPO step 15% faster, docs/benchmarks.md), elsewhere oneDNN was 2x
//   faster.
// - bf16/fp16: without AVX-512, ATen's own products are a dot-product loop.
//   On an Intel CPU without AMX, oneDNN's AVX512-BF16 kernels were 1.9x
//   slower than MKL's fp32 sgemm at the model's shapes (and a bf16 GRPO step
//   1.8x slower than an fp32 one); its fp16 kernels (AVX512-FP16) were as
//   fast as the sgemm.
// R1_CPU_GEMM overrides the rules, to compare the backends on a new CPU: mkl
// runs every product on MKL (bf16/fp16 ones upcast), onednn every product
// on oneDNN.
Rules decide_rules() {
  const char* env = std::getenv("R1_CPU_GEMM");
  const std::string choice = env ? env : "auto";
  TORCH_CHECK(choice == "auto" || choice == "mkl" || choice == "onednn",
              "R1_CPU_GEMM must be auto, mkl or onednn, got '", choice, "'");
  if (choice == "onednn") {
    // ATen's mkldnn_matmul refuses CPUs without AVX-512 (its check names
    // the bf16 path but guards every dtype); there, and where oneDNN would
    // run AVX2 code like MKL anyway, ATen's default path is used.
    TORCH_CHECK(AT_MKLDNN_ENABLED() && simd::cpu_has_avx512(),
                "R1_CPU_GEMM=onednn needs a CPU with AVX-512 (BW, VL, DQ) and LibTorch built with oneDNN");
    return {.fp32_on_onednn = true};
  }
  if (choice == "mkl" || !simd::cpu_has_avx512()) return {.bf16_upcast = true, .fp16_upcast = true};
  const bool intel = __builtin_cpu_is("intel");
  return {.fp32_on_onednn = AT_MKLDNN_ENABLED() && !intel,
          .bf16_upcast = intel && !__builtin_cpu_supports("amx-bf16")};
}

const Rules& rules() {
  static const Rules decided = decide_rules();
  return decided;
}

}  // namespace

bool onednn_applies(const at::Tensor& x) {
  return x.is_cpu() && x.scalar_type() == at::kFloat && rules().fp32_on_onednn;
}

bool upcast_applies(const at::Tensor& a, const at::Tensor& b) {
  const at::ScalarType t = a.scalar_type();
  if (!a.is_cpu() || b.scalar_type() != t) return false;
  return (t == at::kBFloat16 && rules().bf16_upcast) || (t == at::kHalf && rules().fp16_upcast);
}

at::Tensor linear(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) {
  const bool upcast_product = upcast_applies(x, w) && (!b.defined() || b.scalar_type() == x.scalar_type());
  const bool fp32 = x.scalar_type() == at::kFloat && w.scalar_type() == at::kFloat;
  const at::Tensor* held = installed_sink && at::GradMode::is_enabled() && (fp32 || upcast_product)
                               ? installed_sink->sum_for(w)
                               : nullptr;
  const std::optional<at::Tensor> sum = held ? std::optional<at::Tensor>(*held) : std::nullopt;
  const bool onednn = onednn_applies(x);
  if (!upcast_product && !onednn && !sum) return b.defined() ? at::linear(x, w, b) : at::linear(x, w);
  std::vector<int64_t> out_shape(x.sizes().begin(), x.sizes().end());
  out_shape.back() = w.size(0);
  at::Tensor x2 = x.reshape({-1, x.size(-1)});
  if (upcast_product) {
    at::Tensor y = Linear<fp32_product, add_mkl_product>::apply(x2, w, sum);
    if (b.defined()) y = y + upcast(b);
    return y.to(x.scalar_type()).view(out_shape);
  }
  at::Tensor y = onednn ? Linear<matmul_2d, add_matmul_2d>::apply(x2.contiguous(), w, sum)
                        : Linear<mkl_product, add_mkl_product>::apply(x2, w, sum);
  y = y.view(out_shape);
  return b.defined() ? y + b : y;
}

at::Tensor matmul(const at::Tensor& a, const at::Tensor& b) {
  if (upcast_applies(a, b)) return Matmul<fp32_product>::apply(a, b).to(a.scalar_type());
  if (!onednn_applies(a)) return at::matmul(a, b);
  int64_t M = a.size(-2), K = a.size(-1), N = b.size(-1);
  std::vector<int64_t> out_shape(a.sizes().begin(), a.sizes().end());
  out_shape.back() = N;
  // Fold the batch dims into one, into a layout oneDNN reads: contiguous, or
  // a transposed view of a contiguous tensor (k^T stays a view).
  auto fold = [](const at::Tensor& t, int64_t rows, int64_t cols) {
    bool transposed = !t.is_contiguous() && t.transpose(-1, -2).is_contiguous();
    return transposed ? t.transpose(-1, -2).reshape({-1, cols, rows}).transpose(1, 2)
                      : t.reshape({-1, rows, cols}).contiguous();
  };
  return Matmul<matmul_2d>::apply(fold(a, M, K), fold(b, K, N)).view(out_shape);
}

PackedWeight pack(const at::Tensor& w) {
  PackedWeight p;
  const bool fp32 = w.scalar_type() == at::kFloat && !onednn_applies(w);
  if (!AT_MKL_ENABLED() || !w.is_cpu() || w.dim() != 2 || !(fp32 || upcast_applies(w, w))) return p;
  at::Tensor src = upcast(w.detach()).contiguous();
  p.out = w.size(0), p.in = w.size(1);
  p.dtype = w.scalar_type();
  const int n = static_cast<int>(p.out), k = static_cast<int>(p.in);
  size_t bytes = cblas_sgemm_pack_get_size(kBMatrix, kPackRows, n, k);
  p.buffer = at::empty({static_cast<int64_t>((bytes + sizeof(float) - 1) / sizeof(float))}, src.options());
  // B = w^T, w stored [out, in] row-major: B transposed, leading dimension in.
  cblas_sgemm_pack(kRowMajor, kBMatrix, kTrans, kPackRows, n, k, 1.0f, src.data_ptr<float>(), k,
                   p.buffer.data_ptr<float>());
  return p;
}

at::Tensor linear(const at::Tensor& x, const PackedWeight& w, const at::Tensor& b) {
  TORCH_CHECK(w.buffer.defined() && !at::GradMode::is_enabled(), "packed linear: inference with a packed weight only");
  TORCH_CHECK(x.scalar_type() == w.dtype, "packed linear: input ", x.scalar_type(), " for a ", w.dtype, " weight");
  at::Tensor a = upcast(x.reshape({-1, w.in})).contiguous();
  const int m = static_cast<int>(a.size(0));
  std::vector<int64_t> shape(x.sizes().begin(), x.sizes().end());
  shape.back() = w.out;
  at::Tensor y = at::empty({a.size(0), w.out}, a.options());
  if (m > 0)
    cblas_sgemm_compute(kRowMajor, kNoTrans, kPacked, m, static_cast<int>(w.out), static_cast<int>(w.in),
                        a.data_ptr<float>(), static_cast<int>(w.in), w.buffer.data_ptr<float>(),
                        static_cast<int>(w.out), 0.0f, y.data_ptr<float>(), static_cast<int>(w.out));
  y = y.view(shape);
  if (b.defined()) y.add_(upcast(b));
  return y.to(w.dtype);  // one rounding for a bf16/fp16 weight, as the unpacked product
}

}  // namespace r1::gemm
