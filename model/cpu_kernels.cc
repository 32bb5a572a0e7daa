#include "model/cpu_kernels.h"

#include <ATen/Parallel.h>
#include <ATen/core/grad_mode.h>
#include <torch/csrc/autograd/custom_function.h>

#include <cmath>
#include <vector>

#include "model/cpu_simd.h"

namespace r1::cpu {

namespace {

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

using simd::horizontal_sum;
using simd::load8;
using simd::round8;
using simd::round_to;
using simd::store8;

// ---- RMSNorm rows ----

template <typename T>
R1_AVX2 float sum_squares(const T* x, int64_t n) {
  __m256 acc = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 v = load8(x + i);
    acc = _mm256_fmadd_ps(v, v, acc);
  }
  float s = horizontal_sum(acc);
  for (; i < n; ++i) s += static_cast<float>(x[i]) * static_cast<float>(x[i]);
  return s;
}

// y = w * round(x * r)
template <typename T>
R1_AVX2 void rms_row(const T* x, const float* w, float r, T* y, int64_t n) {
  const __m256 rv = _mm256_set1_ps(r);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    store8(y + i, _mm256_mul_ps(_mm256_loadu_ps(w + i), round8<T>(_mm256_mul_ps(load8(x + i), rv))));
  for (; i < n; ++i) y[i] = static_cast<T>(w[i] * round_to<T>(static_cast<float>(x[i]) * r));
}

// With n = x r and dn = dy w: dx = r (dn - n mean(dn n)), dw += dy round(n).
template <typename T>
R1_AVX2 void rms_backward_row(const T* dy, const T* x, const float* w, float r, int64_t n, T* dx, float* dw) {
  const __m256 rv = _mm256_set1_ps(r);
  __m256 acc = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 dn = _mm256_mul_ps(load8(dy + i), _mm256_loadu_ps(w + i));
    acc = _mm256_fmadd_ps(dn, _mm256_mul_ps(load8(x + i), rv), acc);
  }
  float dot = horizontal_sum(acc);
  for (; i < n; ++i) dot += static_cast<float>(dy[i]) * w[i] * (static_cast<float>(x[i]) * r);
  const float c = dot / static_cast<float>(n);
  const __m256 cv = _mm256_set1_ps(c);
  for (i = 0; i + 8 <= n; i += 8) {
    __m256 dyv = load8(dy + i), nv = _mm256_mul_ps(load8(x + i), rv);
    if (dx) store8(dx + i, _mm256_mul_ps(rv, _mm256_fnmadd_ps(nv, cv, _mm256_mul_ps(dyv, _mm256_loadu_ps(w + i)))));
    if (dw) _mm256_storeu_ps(dw + i, _mm256_fmadd_ps(dyv, round8<T>(nv), _mm256_loadu_ps(dw + i)));
  }
  for (; i < n; ++i) {
    float dyi = static_cast<float>(dy[i]), nn = static_cast<float>(x[i]) * r;
    if (dx) dx[i] = static_cast<T>(r * (dyi * w[i] - nn * c));
    if (dw) dw[i] += dyi * round_to<T>(nn);
  }
}

// ---- silu(g) * u rows ----

// silu(g) = g / (1 + exp(-g)), as at::silu computes it, rounded to T before the product.
template <typename T>
R1_AVX2 void silu_mul_row(const T* g, const T* u, T* y, int64_t n) {
  const __m256 one = _mm256_set1_ps(1.0f), sign = _mm256_set1_ps(-0.0f);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 gv = load8(g + i);
    __m256 s = _mm256_div_ps(gv, _mm256_add_ps(one, Sleef_expf8_u10avx2(_mm256_xor_ps(gv, sign))));
    store8(y + i, _mm256_mul_ps(round8<T>(s), load8(u + i)));
  }
  for (; i < n; ++i) {
    float gi = static_cast<float>(g[i]);
    y[i] = static_cast<T>(round_to<T>(gi / (1.0f + std::exp(-gi))) * static_cast<float>(u[i]));
  }
}

// du = dy round(silu(g)); dg = dy u sig (1 + g (1 - sig)), sig = 1 / (1 + exp(-g)).
template <typename T>
R1_AVX2 void silu_mul_backward_row(const T* dy, const T* g, const T* u, T* dg, T* du, int64_t n) {
  const __m256 one = _mm256_set1_ps(1.0f), sign = _mm256_set1_ps(-0.0f);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 gv = load8(g + i), dyv = load8(dy + i);
    __m256 denom = _mm256_add_ps(one, Sleef_expf8_u10avx2(_mm256_xor_ps(gv, sign)));
    __m256 sig = _mm256_div_ps(one, denom);
    if (du) store8(du + i, _mm256_mul_ps(dyv, round8<T>(_mm256_div_ps(gv, denom))));
    if (dg) {
      __m256 slope = _mm256_mul_ps(sig, _mm256_fmadd_ps(gv, _mm256_sub_ps(one, sig), one));
      store8(dg + i, _mm256_mul_ps(_mm256_mul_ps(dyv, load8(u + i)), slope));
    }
  }
  for (; i < n; ++i) {
    float gi = static_cast<float>(g[i]), dyi = static_cast<float>(dy[i]);
    float denom = 1.0f + std::exp(-gi), sig = 1.0f / denom;
    if (du) du[i] = static_cast<T>(dyi * round_to<T>(gi / denom));
    if (dg) dg[i] = static_cast<T>(dyi * static_cast<float>(u[i]) * (sig * (1.0f + gi * (1.0f - sig))));
  }
}

// ---- RoPE rows ----

// out = x c + swap(x) s, swap(x) = [x2, x1] and s the signed sin
// (layer_ops.h rope_tables); each product rounded to T, then their sum: x *
// cos + rotate_half(x) * sin as transformers computes it in T.
template <typename T>
R1_AVX2 void rope_row(const T* x, const T* c, const T* s, T* out, int64_t D) {
  const int64_t h = D / 2;
  for (int64_t a = 0; a < 2; ++a) {
    const T *xa = x + a * h, *xb = x + (1 - a) * h, *ca = c + a * h, *sa = s + a * h;
    T* o = out + a * h;
    int64_t i = 0;
    for (; i + 8 <= h; i += 8)
      store8(o + i, _mm256_add_ps(round8<T>(_mm256_mul_ps(load8(xa + i), load8(ca + i))),
                                  round8<T>(_mm256_mul_ps(load8(xb + i), load8(sa + i)))));
    for (; i < h; ++i)
      o[i] = static_cast<T>(round_to<T>(static_cast<float>(xa[i]) * static_cast<float>(ca[i])) +
                            round_to<T>(static_cast<float>(xb[i]) * static_cast<float>(sa[i])));
  }
}

// dx_a = dy_a c_a + dy_b s_b for the halves a and b = the other.
template <typename T>
R1_AVX2 void rope_backward_row(const T* dy, const T* c, const T* s, T* dx, int64_t D) {
  const int64_t h = D / 2;
  for (int64_t a = 0; a < 2; ++a) {
    const T *dya = dy + a * h, *dyb = dy + (1 - a) * h, *ca = c + a * h, *sb = s + (1 - a) * h;
    T* o = dx + a * h;
    int64_t i = 0;
    for (; i + 8 <= h; i += 8)
      store8(o + i, _mm256_fmadd_ps(load8(dya + i), load8(ca + i), _mm256_mul_ps(load8(dyb + i), load8(sb + i))));
    for (; i < h; ++i)
      o[i] = static_cast<T>(static_cast<float>(dya[i]) * static_cast<float>(ca[i]) +
                            static_cast<float>(dyb[i]) * static_cast<float>(sb[i]));
  }
}

// Where each row (all dims but the last) of a strided tensor starts.
struct RowOffsets {
  std::vector<int64_t> sizes, strides;  // the leading dims
  explicit RowOffsets(const at::Tensor& t)
      : sizes(t.sizes().begin(), t.sizes().end() - 1), strides(t.strides().begin(), t.strides().end() - 1) {}
  int64_t operator()(int64_t row) const {
    int64_t offset = 0;
    for (int64_t d = static_cast<int64_t>(sizes.size()) - 1; d >= 0; --d) {
      offset += (row % sizes[d]) * strides[d];
      row /= sizes[d];
    }
    return offset;
  }
};

// The forward on x, or the backward on dy: src [..., D] (unit stride in D),
// cos/sin expanded to its shape -> contiguous, src's shape.
at::Tensor rope_rows(const at::Tensor& src, const at::Tensor& cos, const at::Tensor& sin, bool backward) {
  const int64_t D = src.size(-1), rows = D == 0 ? 0 : src.numel() / D;
  at::Tensor out = at::empty(src.sizes(), src.options());
  const RowOffsets src_rows(src), table_rows(cos);
  TORCH_CHECK(cos.strides() == sin.strides(), "cpu::rope: cos and sin laid out differently");
  dispatch(src.scalar_type(), [&](auto tag) {
    using scalar_t = decltype(tag);
    const scalar_t *in = src.const_data_ptr<scalar_t>(), *cp = cos.const_data_ptr<scalar_t>();
    const scalar_t* sp = sin.const_data_ptr<scalar_t>();
    scalar_t* op = out.data_ptr<scalar_t>();
    auto row = backward ? rope_backward_row<scalar_t> : rope_row<scalar_t>;
    at::parallel_for(0, rows, grain_rows(D), [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        const int64_t t = table_rows(r);
        row(in + src_rows(r), cp + t, sp + t, op + r * D, D);
      }
    });
  });
  return out;
}

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
      for (int64_t row = begin; row < end; ++row) {
        const scalar_t* xr = xp + row * H;
        rp[row] = 1.0f / std::sqrt(sum_squares(xr, H) / static_cast<float>(H) + static_cast<float>(eps));
        rms_row(xr, wp, rp[row], yp + row * H, H);
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
      for (int64_t b = b0; b < b1; ++b)
        for (int64_t row = b * kRowsPerBlock; row < std::min(N, (b + 1) * kRowsPerBlock); ++row)
          rms_backward_row(dyp + row * H, xp + row * H, wp, rp[row], H, dxp ? dxp + row * H : nullptr,
                           pp ? pp + b * H : nullptr);
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
        silu_mul_row(gr, ur, yp + row * F, F);
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
        silu_mul_backward_row(dyr, gr, ur, dgp ? dgp + row * F : nullptr, dup ? dup + row * F : nullptr, F);
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

struct RopeFunction : torch::autograd::Function<RopeFunction> {
  // x [..., D], cos/sin expanded to x's shape (no gradient)
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
    ctx->save_for_backward({cos, sin});
    return rope_rows(x, cos, sin, /*backward=*/false);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto saved = ctx->get_saved_variables();
    return {rope_rows(grads[0].contiguous(), saved[0], saved[1], /*backward=*/true), at::Tensor(), at::Tensor()};
  }
};

bool recording(std::initializer_list<at::Tensor> inputs) {
  if (!at::GradMode::is_enabled()) return false;
  for (const at::Tensor& t : inputs)
    if (t.requires_grad()) return true;
  return false;
}

}  // namespace

bool kernels_apply(std::initializer_list<at::Tensor> inputs) {
  const at::ScalarType t = inputs.begin()->scalar_type();
  if (!(t == at::kFloat || t == at::kBFloat16 || t == at::kHalf) || !simd::cpu_has_avx2()) return false;
  for (const at::Tensor& x : inputs)
    if (!x.is_cpu() || x.scalar_type() != t) return false;
  return true;
}

at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps) {
  TORCH_CHECK(kernels_apply({x, weight}) && weight.dim() == 1 && weight.size(0) == x.size(-1),
              "cpu::rms_norm: x ", x.sizes(), " ", x.scalar_type(), " and weight ", weight.sizes(), " ",
              weight.scalar_type(), " it does not take");
  at::Tensor rows = x.reshape({-1, x.size(-1)}).contiguous();
  at::Tensor y = recording({x, weight}) ? RmsNormFunction::apply(rows, weight, eps)
                                        : rms_forward(rows, weight, eps).first;
  return y.view(x.sizes());
}

at::Tensor silu_mul(const at::Tensor& gate, const at::Tensor& up) {
  TORCH_CHECK(kernels_apply({gate, up}) && up.sizes() == gate.sizes(),
              "cpu::silu_mul: gate ", gate.sizes(), " ", gate.scalar_type(), " and up ", up.sizes(), " ",
              up.scalar_type(), " it does not take");
  at::Tensor g = as_rows(gate), u = as_rows(up);
  at::Tensor y = recording({gate, up}) ? SiluMulFunction::apply(g, u) : silu_mul_forward(g, u);
  return y.view(gate.sizes());
}

at::Tensor rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& signed_sin) {
  TORCH_CHECK(kernels_apply({x, cos, signed_sin}) && x.size(-1) % 2 == 0 && !cos.requires_grad() &&
                  !signed_sin.requires_grad(),
              "cpu::rope: x ", x.sizes(), " ", x.scalar_type(), " and tables ", cos.sizes(), " ", cos.scalar_type(),
              " it does not take");
  auto unit = [](const at::Tensor& t) { return t.stride(-1) == 1 ? t : t.contiguous(); };
  at::Tensor xs = unit(x), c = unit(cos).expand(x.sizes()), s = unit(signed_sin).expand(x.sizes());
  return recording({x}) ? RopeFunction::apply(xs, c, s) : rope_rows(xs, c, s, /*backward=*/false);
}

}  // namespace r1::cpu
