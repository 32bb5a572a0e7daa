#include "model/cpu_kernels.h"

#include <ATen/Parallel.h>
#include <ATen/core/grad_mode.h>
#include <immintrin.h>
#include <torch/csrc/autograd/custom_function.h>

#include <cmath>
#include <vector>

#define R1_AVX2 __attribute__((target("avx2,fma")))

// Exported by libtorch_cpu: the exp ATen's own AVX2 kernels (at::silu) call.
extern "C" R1_AVX2 __m256 Sleef_expf8_u10avx2(__m256);

namespace r1::cpu {

namespace {

bool cpu_has_avx2_fma() {
  static const bool has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return has;
}

// f(T{}) for the dtypes kernels_apply takes.
template <typename F>
void dispatch(at::ScalarType dtype, F&& f) {
  switch (dtype) {
    case at::kFloat: return f(float{});
    case at::kBFloat16: return f(c10::BFloat16{});
    case at::kHalf: return f(c10::Half{});
    default: TORCH_CHECK(false, "r1::cpu kernels: no kernel for ", dtype);
  }
}

// Rows of about this many elements per parallel task.
int64_t grain_rows(int64_t cols) { return std::max<int64_t>(1, 32768 / std::max<int64_t>(1, cols)); }

R1_AVX2 float horizontal_sum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_hadd_ps(s, s);
  return _mm_cvtss_f32(_mm_hadd_ps(s, s));
}

// ---- RMSNorm, fp32 rows ----

R1_AVX2 float sum_squares(const float* x, int64_t n) {
  __m256 acc = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(x + i), acc);
  float s = horizontal_sum(acc);
  for (; i < n; ++i) s += x[i] * x[i];
  return s;
}

// y = w * (x * r)
R1_AVX2 void rms_row(const float* x, const float* w, float r, float* y, int64_t n) {
  const __m256 rv = _mm256_set1_ps(r);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_loadu_ps(w + i), _mm256_mul_ps(_mm256_loadu_ps(x + i), rv)));
  for (; i < n; ++i) y[i] = w[i] * (x[i] * r);
}

// With n = x r and dn = dy w: dx = r (dn - n mean(dn n)), dw += dy n.
R1_AVX2 void rms_backward_row(const float* dy, const float* x, const float* w, float r, int64_t n, float* dx,
                              float* dw) {
  const __m256 rv = _mm256_set1_ps(r);
  __m256 acc = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 dn = _mm256_mul_ps(_mm256_loadu_ps(dy + i), _mm256_loadu_ps(w + i));
    acc = _mm256_fmadd_ps(dn, _mm256_mul_ps(_mm256_loadu_ps(x + i), rv), acc);
  }
  float dot = horizontal_sum(acc);
  for (; i < n; ++i) dot += dy[i] * w[i] * (x[i] * r);
  const float c = dot / static_cast<float>(n);
  const __m256 cv = _mm256_set1_ps(c);
  for (i = 0; i + 8 <= n; i += 8) {
    __m256 dyv = _mm256_loadu_ps(dy + i), nv = _mm256_mul_ps(_mm256_loadu_ps(x + i), rv);
    __m256 dn = _mm256_mul_ps(dyv, _mm256_loadu_ps(w + i));
    if (dx) _mm256_storeu_ps(dx + i, _mm256_mul_ps(rv, _mm256_fnmadd_ps(nv, cv, dn)));
    if (dw) _mm256_storeu_ps(dw + i, _mm256_fmadd_ps(dyv, nv, _mm256_loadu_ps(dw + i)));
  }
  for (; i < n; ++i) {
    float nn = x[i] * r, dn = dy[i] * w[i];
    if (dx) dx[i] = r * (dn - nn * c);
    if (dw) dw[i] += dy[i] * nn;
  }
}

// ---- silu(g) * u, fp32 rows ----

// silu(g) = g / (1 + exp(-g)), as at::silu computes it.
R1_AVX2 void silu_mul_row(const float* g, const float* u, float* y, int64_t n) {
  const __m256 one = _mm256_set1_ps(1.0f), sign = _mm256_set1_ps(-0.0f);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 gv = _mm256_loadu_ps(g + i);
    __m256 s = _mm256_div_ps(gv, _mm256_add_ps(one, Sleef_expf8_u10avx2(_mm256_xor_ps(gv, sign))));
    _mm256_storeu_ps(y + i, _mm256_mul_ps(s, _mm256_loadu_ps(u + i)));
  }
  for (; i < n; ++i) y[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
}

// du = dy silu(g); dg = dy u sig (1 + g (1 - sig)), sig = 1 / (1 + exp(-g)).
R1_AVX2 void silu_mul_backward_row(const float* dy, const float* g, const float* u, float* dg, float* du, int64_t n) {
  const __m256 one = _mm256_set1_ps(1.0f), sign = _mm256_set1_ps(-0.0f);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 gv = _mm256_loadu_ps(g + i), dyv = _mm256_loadu_ps(dy + i);
    __m256 denom = _mm256_add_ps(one, Sleef_expf8_u10avx2(_mm256_xor_ps(gv, sign)));
    __m256 sig = _mm256_div_ps(one, denom);
    if (du) _mm256_storeu_ps(du + i, _mm256_mul_ps(dyv, _mm256_div_ps(gv, denom)));
    if (dg) {
      __m256 slope = _mm256_mul_ps(sig, _mm256_fmadd_ps(gv, _mm256_sub_ps(one, sig), one));
      _mm256_storeu_ps(dg + i, _mm256_mul_ps(_mm256_mul_ps(dyv, _mm256_loadu_ps(u + i)), slope));
    }
  }
  for (; i < n; ++i) {
    float denom = 1.0f + std::exp(-g[i]), sig = 1.0f / denom;
    if (du) du[i] = dy[i] * (g[i] / denom);
    if (dg) dg[i] = dy[i] * u[i] * (sig * (1.0f + g[i] * (1.0f - sig)));
  }
}

// ---- rows of any dtype ----

// A row of T as fp32: the row itself for float, else a converted copy.
template <typename T>
struct FloatRow {
  std::vector<float> buffer;
  const float* load(const T* src, int64_t n) {
    if constexpr (std::is_same_v<T, float>) {
      return src;
    } else {
      buffer.resize(n);
      for (int64_t i = 0; i < n; ++i) buffer[i] = static_cast<float>(src[i]);
      return buffer.data();
    }
  }
};

template <typename T>
float round_to(float v) {
  return static_cast<float>(static_cast<T>(v));
}

// Where an fp32 result goes: straight into a float row, else a buffer that
// `store` rounds into the T row.
template <typename T>
struct OutRow {
  std::vector<float> buffer;
  float* target(T* dst, int64_t n) {
    if constexpr (std::is_same_v<T, float>) {
      return dst;
    } else {
      buffer.resize(n);
      return buffer.data();
    }
  }
  void store(T* dst, int64_t n) {
    if constexpr (!std::is_same_v<T, float>)
      for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<T>(buffer[i]);
  }
};

// x [N, H] contiguous -> {y [N, H], rstd [N] fp32}.
std::pair<at::Tensor, at::Tensor> rms_forward(const at::Tensor& x, const at::Tensor& weight, double eps) {
  const int64_t N = x.size(0), H = x.size(1);
  at::Tensor y = at::empty_like(x), rstd = at::empty({N}, x.options().dtype(at::kFloat));
  at::Tensor w = weight.to(at::kFloat).contiguous();
  const float* wp = w.const_data_ptr<float>();
  float* rp = rstd.data_ptr<float>();
  dispatch(x.scalar_type(), [&](auto tag) {
    using scalar_t = decltype(tag);
    const scalar_t* xp = x.const_data_ptr<scalar_t>();
    scalar_t* yp = y.data_ptr<scalar_t>();
    at::parallel_for(0, N, grain_rows(H), [&](int64_t begin, int64_t end) {
      FloatRow<scalar_t> in;
      OutRow<scalar_t> out;
      for (int64_t row = begin; row < end; ++row) {
        const float* xr = in.load(xp + row * H, H);
        const float r = 1.0f / std::sqrt(sum_squares(xr, H) / static_cast<float>(H) + static_cast<float>(eps));
        rp[row] = r;
        if constexpr (std::is_same_v<scalar_t, float>) {
          rms_row(xr, wp, r, yp + row * H, H);
        } else {  // transformers rounds x r to the dtype before the weight
          scalar_t* yr = yp + row * H;
          for (int64_t i = 0; i < H; ++i) yr[i] = static_cast<scalar_t>(wp[i] * round_to<scalar_t>(xr[i] * r));
        }
      }
    });
  });
  return {y, rstd};
}

// The weight's gradient sums rows in blocks of this many, in block order,
// so it does not depend on the thread count.
constexpr int64_t kRowsPerBlock = 32;

// -> {dx [N, H] or undefined, dw [H] or undefined}
std::pair<at::Tensor, at::Tensor> rms_backward(const at::Tensor& dy, const at::Tensor& x, const at::Tensor& weight,
                                               const at::Tensor& rstd, bool need_dx, bool need_dw) {
  const int64_t N = x.size(0), H = x.size(1), blocks = (N + kRowsPerBlock - 1) / kRowsPerBlock;
  at::Tensor dx = need_dx ? at::empty_like(x) : at::Tensor();
  at::Tensor partial = need_dw ? at::zeros({blocks, H}, x.options().dtype(at::kFloat)) : at::Tensor();
  at::Tensor w = weight.to(at::kFloat).contiguous();
  const float* wp = w.const_data_ptr<float>();
  const float* rp = rstd.const_data_ptr<float>();
  dispatch(x.scalar_type(), [&](auto tag) {
    using scalar_t = decltype(tag);
    const scalar_t *xp = x.const_data_ptr<scalar_t>(), *dyp = dy.const_data_ptr<scalar_t>();
    scalar_t* dxp = need_dx ? dx.data_ptr<scalar_t>() : nullptr;
    float* pp = need_dw ? partial.data_ptr<float>() : nullptr;
    at::parallel_for(0, blocks, std::max<int64_t>(1, grain_rows(H) / kRowsPerBlock), [&](int64_t b0, int64_t b1) {
      FloatRow<scalar_t> xin, dyin;
      OutRow<scalar_t> dxout;
      for (int64_t b = b0; b < b1; ++b)
        for (int64_t row = b * kRowsPerBlock; row < std::min(N, (b + 1) * kRowsPerBlock); ++row) {
          const float *xr = xin.load(xp + row * H, H), *dyr = dyin.load(dyp + row * H, H);
          float* dxr = dxp ? dxout.target(dxp + row * H, H) : nullptr;
          if constexpr (std::is_same_v<scalar_t, float>) {
            rms_backward_row(dyr, xr, wp, rp[row], H, dxr, pp ? pp + b * H : nullptr);
          } else {  // the weight multiplied the rounded x r
            rms_backward_row(dyr, xr, wp, rp[row], H, dxr, nullptr);
            if (pp)
              for (int64_t i = 0; i < H; ++i) pp[b * H + i] += dyr[i] * round_to<scalar_t>(xr[i] * rp[row]);
          }
          if (dxp) dxout.store(dxp + row * H, H);
        }
    });
  });
  at::Tensor dw;
  if (need_dw) {
    at::Tensor sum = at::zeros({H}, partial.options());
    float* sp = sum.data_ptr<float>();
    const float* pp = partial.const_data_ptr<float>();
    for (int64_t b = 0; b < blocks; ++b)
      for (int64_t i = 0; i < H; ++i) sp[i] += pp[b * H + i];
    dw = sum.to(weight.scalar_type());
  }
  return {dx, dw};
}

// [..., F] -> [rows, F] with unit stride in F (a view where it can be).
at::Tensor as_rows(const at::Tensor& t) {
  at::Tensor rows = t.reshape({-1, t.size(-1)});
  return rows.stride(1) == 1 ? rows : rows.contiguous();
}

at::Tensor silu_mul_forward(const at::Tensor& g, const at::Tensor& u) {
  const int64_t N = g.size(0), F = g.size(1), sg = g.stride(0), su = u.stride(0);
  at::Tensor y = at::empty({N, F}, g.options());
  dispatch(g.scalar_type(), [&](auto tag) {
    using scalar_t = decltype(tag);
    const scalar_t *gp = g.const_data_ptr<scalar_t>(), *up = u.const_data_ptr<scalar_t>();
    scalar_t* yp = y.data_ptr<scalar_t>();
    at::parallel_for(0, N, grain_rows(F), [&](int64_t begin, int64_t end) {
      for (int64_t row = begin; row < end; ++row) {
        const scalar_t *gr = gp + row * sg, *ur = up + row * su;
        if constexpr (std::is_same_v<scalar_t, float>) {
          silu_mul_row(gr, ur, yp + row * F, F);
        } else {  // silu(g) is rounded to the dtype before the product
          for (int64_t i = 0; i < F; ++i) {
            float gi = static_cast<float>(gr[i]);
            yp[row * F + i] = static_cast<scalar_t>(round_to<scalar_t>(gi / (1.0f + std::exp(-gi))) *
                                                    static_cast<float>(ur[i]));
          }
        }
      }
    });
  });
  return y;
}

// dy [N, F] contiguous -> {dg, du} [N, F] (undefined where not needed).
std::pair<at::Tensor, at::Tensor> silu_mul_backward(const at::Tensor& dy, const at::Tensor& g, const at::Tensor& u,
                                                    bool need_dg, bool need_du) {
  const int64_t N = g.size(0), F = g.size(1), sg = g.stride(0), su = u.stride(0);
  at::Tensor dg = need_dg ? at::empty({N, F}, g.options()) : at::Tensor();
  at::Tensor du = need_du ? at::empty({N, F}, u.options()) : at::Tensor();
  dispatch(g.scalar_type(), [&](auto tag) {
    using scalar_t = decltype(tag);
    const scalar_t *gp = g.const_data_ptr<scalar_t>(), *up = u.const_data_ptr<scalar_t>();
    const scalar_t* dyp = dy.const_data_ptr<scalar_t>();
    scalar_t* dgp = need_dg ? dg.data_ptr<scalar_t>() : nullptr;
    scalar_t* dup = need_du ? du.data_ptr<scalar_t>() : nullptr;
    at::parallel_for(0, N, grain_rows(F), [&](int64_t begin, int64_t end) {
      for (int64_t row = begin; row < end; ++row) {
        const scalar_t *gr = gp + row * sg, *ur = up + row * su, *dyr = dyp + row * F;
        if constexpr (std::is_same_v<scalar_t, float>) {
          silu_mul_backward_row(dyr, gr, ur, dgp ? dgp + row * F : nullptr, dup ? dup + row * F : nullptr, F);
        } else {
          for (int64_t i = 0; i < F; ++i) {
            float gi = static_cast<float>(gr[i]), dyi = static_cast<float>(dyr[i]);
            float denom = 1.0f + std::exp(-gi), sig = 1.0f / denom;
            if (dup) dup[row * F + i] = static_cast<scalar_t>(dyi * round_to<scalar_t>(gi / denom));
            if (dgp)
              dgp[row * F + i] =
                  static_cast<scalar_t>(dyi * static_cast<float>(ur[i]) * (sig * (1.0f + gi * (1.0f - sig))));
          }
        }
      }
    });
  });
  return {dg, du};
}

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

struct RmsNormFunction : torch::autograd::Function<RmsNormFunction> {
  // x [N, H] contiguous, weight [H]
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& weight, double eps) {
    auto [y, rstd] = rms_forward(x, weight, eps);
    ctx->save_for_backward({x, weight, rstd});
    return y;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto saved = ctx->get_saved_variables();
    auto [dx, dw] = rms_backward(grads[0].contiguous(), saved[0], saved[1], saved[2], ctx->needs_input_grad(0),
                                 ctx->needs_input_grad(1));
    return {dx, dw, at::Tensor()};
  }
};

struct SiluMulFunction : torch::autograd::Function<SiluMulFunction> {
  // gate, up [N, F] with unit stride in F
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& gate, const at::Tensor& up) {
    ctx->save_for_backward({gate, up});
    return silu_mul_forward(gate, up);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto saved = ctx->get_saved_variables();
    auto [dg, du] = silu_mul_backward(grads[0].contiguous(), saved[0], saved[1], ctx->needs_input_grad(0),
                                      ctx->needs_input_grad(1));
    return {dg, du};
  }
};

bool recording(std::initializer_list<at::Tensor> inputs) {
  if (!at::GradMode::is_enabled()) return false;
  for (const at::Tensor& t : inputs)
    if (t.requires_grad()) return true;
  return false;
}

}  // namespace

bool kernels_apply(const at::Tensor& x) {
  const at::ScalarType t = x.scalar_type();
  return x.is_cpu() && (t == at::kFloat || t == at::kBFloat16 || t == at::kHalf) && cpu_has_avx2_fma();
}

at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps) {
  TORCH_CHECK(kernels_apply(x) && weight.scalar_type() == x.scalar_type() && weight.dim() == 1 &&
                  weight.size(0) == x.size(-1),
              "cpu::rms_norm: x ", x.sizes(), " ", x.scalar_type(), " and weight ", weight.sizes(), " ",
              weight.scalar_type(), " it does not take");
  at::Tensor rows = x.reshape({-1, x.size(-1)}).contiguous();
  at::Tensor y = recording({x, weight}) ? RmsNormFunction::apply(rows, weight, eps)
                                        : rms_forward(rows, weight, eps).first;
  return y.view(x.sizes());
}

at::Tensor silu_mul(const at::Tensor& gate, const at::Tensor& up) {
  TORCH_CHECK(kernels_apply(gate) && up.scalar_type() == gate.scalar_type() && up.sizes() == gate.sizes(),
              "cpu::silu_mul: gate ", gate.sizes(), " ", gate.scalar_type(), " and up ", up.sizes(), " ",
              up.scalar_type(), " it does not take");
  at::Tensor g = as_rows(gate), u = as_rows(up);
  at::Tensor y = recording({gate, up}) ? SiluMulFunction::apply(g, u) : silu_mul_forward(g, u);
  return y.view(gate.sizes());
}

}  // namespace r1::cpu
