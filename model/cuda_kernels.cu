#include "model/cuda_kernels.h"

#include <ATen/Dispatch.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>

namespace r1::cuda {

namespace {

// Rounds to T as ATen's elementwise kernels do (round to nearest even).
template <typename T>
__device__ __forceinline__ float round_to(float v) {
  return static_cast<float>(static_cast<T>(v));
}

// The sum of v over the block (blockDim.x a multiple of 32, at most 1024).
__device__ float block_sum(float v) {
  __shared__ float warp_sums[32];
  __shared__ float total;
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) warp_sums[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = lane < static_cast<int>(blockDim.x >> 5) ? warp_sums[lane] : 0.0f;
    for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
    if (lane == 0) total = v;
  }
  __syncthreads();
  return total;
}

// One block per row: sum = x + delta (rounded; when delta is given), then
// transformers' RMSNorm of it: h = round(sum * rsqrt(mean(sum^2) + eps)),
// out = round(h * weight).
template <typename T>
__global__ void rms_norm_kernel(const T* x, const T* delta, const T* weight, T* sum, T* out, int64_t H, float eps) {
  const int64_t row = blockIdx.x * H;
  float squares = 0.0f;
  for (int64_t i = threadIdx.x; i < H; i += blockDim.x) {
    float v = static_cast<float>(x[row + i]);
    if (delta) {
      v = round_to<T>(v + static_cast<float>(delta[row + i]));
      sum[row + i] = static_cast<T>(v);
    }
    squares += v * v;
  }
  const float rstd = rsqrtf(__fadd_rn(__fmul_rn(block_sum(squares), 1.0f / static_cast<float>(H)), eps));
  for (int64_t i = threadIdx.x; i < H; i += blockDim.x) {
    float v = static_cast<float>(delta ? sum[row + i] : x[row + i]);
    out[row + i] = static_cast<T>(round_to<T>(v * rstd) * static_cast<float>(weight[i]));
  }
}

// out[n, f] = round(round(silu(gate[n, f])) * up[n, f]) with gate_up [N, 2F].
// Rows on the grid's y axis (striding past its 65,535): no 64-bit division
// per element.
template <typename T>
__global__ void silu_mul_kernel(const T* gate_up, T* out, int64_t N, int64_t F) {
  const int64_t f = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (f >= F) return;
  for (int64_t n = blockIdx.y; n < N; n += gridDim.y) {
    const float g = static_cast<float>(gate_up[n * 2 * F + f]);
    const float silu = round_to<T>(g / (1.0f + ::expf(-g)));
    out[n * F + f] = static_cast<T>(silu * static_cast<float>(gate_up[n * 2 * F + F + f]));
  }
}

struct CacheView {
  void* k;
  void* v;
  int64_t batch_stride, head_stride, slot_stride;  // in elements; the last dim is contiguous
};

// One thread per (row, position, head, d < D/2): rotates the pair (d, d + D/2)
// as x cos + swap_halves(x) signed_sin, each product and the sum rounded.
// Query heads go to q_out [B, H, L, D]; key heads, rotated, and value heads
// go to the caches at the position's slot.
template <typename T>
__global__ void rope_into_cache_kernel(const T* qkv, const T* cos, const T* sin, T* q_out, CacheView cache,
                                       const int64_t* slots, int64_t B, int64_t L, int64_t H, int64_t KV, int64_t D) {
  const int64_t half = D / 2, heads = H + 2 * KV;
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= B * L * heads * half) return;
  const int64_t d = i % half, head = (i / half) % heads, bl = i / (half * heads), b = bl / L, l = bl % L;
  const T* x = qkv + (bl * heads + head) * D;
  float lo = static_cast<float>(x[d]), hi = static_cast<float>(x[d + half]);
  if (head < H + KV) {  // queries and keys rotate
    const T* c = cos + bl * D;
    const T* s = sin + bl * D;
    // __fmul_rn/__fadd_rn: never contracted into an FMA, which in fp32 would
    // skip the product's rounding that ATen's separate kernels make.
    const float rlo = __fadd_rn(round_to<T>(__fmul_rn(lo, static_cast<float>(c[d]))),
                                round_to<T>(__fmul_rn(hi, static_cast<float>(s[d]))));
    const float rhi = __fadd_rn(round_to<T>(__fmul_rn(hi, static_cast<float>(c[d + half]))),
                                round_to<T>(__fmul_rn(lo, static_cast<float>(s[d + half]))));
    lo = rlo, hi = rhi;
  }
  T* dst;
  if (head < H) {
    dst = q_out + ((b * H + head) * L + l) * D;
  } else {
    const bool key = head < H + KV;
    const int64_t kv_head = key ? head - H : head - H - KV;
    dst = static_cast<T*>(key ? cache.k : cache.v) + b * cache.batch_stride + kv_head * cache.head_stride +
          slots[bl] * cache.slot_stride;
  }
  dst[d] = static_cast<T>(lo);
  dst[d + half] = static_cast<T>(hi);
}

constexpr int kThreads = 256;

int64_t blocks_for(int64_t n) { return (n + kThreads - 1) / kThreads; }

void check_input(const at::Tensor& t, const char* what) {
  TORCH_CHECK(t.is_cuda() && t.is_contiguous(), "r1::cuda kernels: ", what, " must be a contiguous CUDA tensor");
}

std::pair<at::Tensor, at::Tensor> norm(const at::Tensor& x, const at::Tensor* delta, const at::Tensor& weight,
                                       double eps) {
  check_input(x, "x");
  check_input(weight, "weight");
  TORCH_CHECK(weight.scalar_type() == x.scalar_type(), "r1::cuda::rms_norm: weight dtype differs from x's");
  const int64_t H = x.size(-1), N = x.numel() / H;
  if (delta) {
    check_input(*delta, "delta");
    TORCH_CHECK(delta->sizes() == x.sizes() && delta->scalar_type() == x.scalar_type(), "delta must match x");
  }
  at::Tensor out = at::empty_like(x), sum = delta ? at::empty_like(x) : at::Tensor();
  if (N == 0) return {sum, out};
  c10::cuda::CUDAGuard guard(x.device());
  const int threads = static_cast<int>(std::min<int64_t>(1024, (H + 31) / 32 * 32));  // a multiple of 32
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kBFloat16, at::kHalf, x.scalar_type(), "r1_rms_norm", [&] {
    rms_norm_kernel<scalar_t><<<N, threads, 0, at::cuda::getCurrentCUDAStream()>>>(
        x.data_ptr<scalar_t>(), delta ? delta->data_ptr<scalar_t>() : nullptr, weight.data_ptr<scalar_t>(),
        delta ? sum.data_ptr<scalar_t>() : nullptr, out.data_ptr<scalar_t>(), H, static_cast<float>(eps));
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return {sum, out};
}

}  // namespace

at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps) {
  return norm(x, nullptr, weight, eps).second;
}

std::pair<at::Tensor, at::Tensor> add_rms_norm(const at::Tensor& x, const at::Tensor& delta, const at::Tensor& weight,
                                               double eps) {
  return norm(x, &delta, weight, eps);
}

at::Tensor silu_mul(const at::Tensor& gate_up) {
  check_input(gate_up, "gate_up");
  const int64_t F = gate_up.size(-1) / 2, N = gate_up.numel() / (2 * F);
  std::vector<int64_t> shape(gate_up.sizes().begin(), gate_up.sizes().end());
  shape.back() = F;
  at::Tensor out = at::empty(shape, gate_up.options());
  if (N * F == 0) return out;
  c10::cuda::CUDAGuard guard(gate_up.device());
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kBFloat16, at::kHalf, gate_up.scalar_type(), "r1_silu_mul", [&] {
    const dim3 grid(static_cast<unsigned>(blocks_for(F)), static_cast<unsigned>(std::min<int64_t>(N, 65535)));
    silu_mul_kernel<scalar_t><<<grid, kThreads, 0, at::cuda::getCurrentCUDAStream()>>>(gate_up.data_ptr<scalar_t>(),
                                                                                       out.data_ptr<scalar_t>(), N, F);
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return out;
}

at::Tensor rope_into_cache(const at::Tensor& qkv, const at::Tensor& cos, const at::Tensor& signed_sin, int64_t heads,
                           at::Tensor& k_cache, at::Tensor& v_cache, const at::Tensor& slots) {
  check_input(qkv, "qkv");
  const int64_t B = qkv.size(0), L = qkv.size(1), KV = k_cache.size(1), D = k_cache.size(3);
  TORCH_CHECK(qkv.size(2) == (heads + 2 * KV) * D, "rope_into_cache: qkv's last dim is not (H + 2 KV) * D");
  TORCH_CHECK(cos.numel() == B * L * D && signed_sin.numel() == B * L * D,
              "rope_into_cache: tables must be [B, 1, L, D]");
  TORCH_CHECK(k_cache.strides() == v_cache.strides() && k_cache.stride(3) == 1, "rope_into_cache: cache layout");
  at::Tensor c = cos.contiguous(), s = signed_sin.contiguous(), slot = slots.contiguous();
  TORCH_CHECK(c.scalar_type() == qkv.scalar_type() && k_cache.scalar_type() == qkv.scalar_type(),
              "rope_into_cache: dtypes");
  at::Tensor q = at::empty({B, heads, L, D}, qkv.options());
  const int64_t n = B * L * (heads + 2 * KV) * (D / 2);
  if (n == 0) return q;
  c10::cuda::CUDAGuard guard(qkv.device());
  CacheView view{k_cache.data_ptr(), v_cache.data_ptr(), k_cache.stride(0), k_cache.stride(1), k_cache.stride(2)};
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kBFloat16, at::kHalf, qkv.scalar_type(), "r1_rope_into_cache", [&] {
    rope_into_cache_kernel<scalar_t><<<blocks_for(n), kThreads, 0, at::cuda::getCurrentCUDAStream()>>>(
        qkv.data_ptr<scalar_t>(), c.data_ptr<scalar_t>(), s.data_ptr<scalar_t>(), q.data_ptr<scalar_t>(), view,
        slot.data_ptr<int64_t>(), B, L, heads, KV, D);
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return q;
}

}  // namespace r1::cuda
