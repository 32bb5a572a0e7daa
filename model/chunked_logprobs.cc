#include "model/chunked_logprobs.h"

#include <torch/csrc/autograd/custom_function.h>

#include <algorithm>

#include "model/gemm.h"

namespace r1 {

namespace {

// fp32 logits computed at once, in elements: rows are taken in chunks of
// about this many logits (64 MB), so a large vocabulary's temporaries stay
// bounded while a small one runs as a single batch of ops. A GPU takes 512 MB:
// each chunk's backward reads and writes the whole fp32 weight gradient (545 MB
// at Qwen2.5's 152k x 896), which at 64 MB chunks (110 rows) cost more than
// the chunk's products.
int64_t logits_per_chunk(const at::Tensor& hidden) { return int64_t{1} << (hidden.is_cuda() ? 27 : 24); }

// On a GPU, 16-bit products with an fp32 result run on the tensor cores; an
// fp32 product there is ~10x slower (it was 30% of a GRPO update's GPU time).
// The CPU has no such product and multiplies in fp32.
bool tensor_core_product(const at::Tensor& hidden) {
  return hidden.is_cuda() && (hidden.scalar_type() == at::kBFloat16 || hidden.scalar_type() == at::kHalf);
}

}  // namespace

namespace logit_chunks {

int64_t rows_per_chunk(const at::Tensor& hidden, int64_t vocab, int64_t rows_per_chunk) {
  if (rows_per_chunk > 0) return rows_per_chunk;
  return std::max<int64_t>(1, logits_per_chunk(hidden) / std::max<int64_t>(1, vocab));
}

at::Tensor logits(const at::Tensor& hidden, const at::Tensor& weight, int64_t begin, int64_t n, double temperature) {
  at::Tensor logits = gemm::linear(hidden.narrow(0, begin, n), weight).to(at::kFloat);
  return temperature != 1.0 ? logits.div_(temperature) : logits;
}

void add_gradients(const at::Tensor& d_logits, const at::Tensor& hidden, const at::Tensor& weight, int64_t begin,
                   at::Tensor& grad_weight, at::Tensor& grad_hidden) {
  const int64_t n = d_logits.size(0);
  at::Tensor rows = hidden.narrow(0, begin, n), d_low = d_logits.to(hidden.scalar_type());
  if (tensor_core_product(hidden))
    grad_weight.add_(at::mm(d_low.t(), rows, at::kFloat));
  else  // accumulated in place: a [vocab, hidden] product per chunk would double the CPU's peak
    grad_weight.addmm_(d_logits.t(), rows.to(at::kFloat));
  grad_hidden.narrow(0, begin, n).copy_(at::mm(d_low, weight));
}

}  // namespace logit_chunks

namespace {

struct ChunkedLogprobs : public torch::autograd::Function<ChunkedLogprobs> {
  // Saves the inputs and each row's log-normaliser, never the logits.
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& hidden, const at::Tensor& weight,
                            const at::Tensor& targets, double temperature, int64_t chunk, at::Tensor* entropy) {
    const int64_t R = hidden.size(0);
    at::Tensor logprobs = at::empty({R}, hidden.options().dtype(at::kFloat));
    at::Tensor lse = at::empty({R}, logprobs.options());
    if (entropy) *entropy = at::empty({R}, logprobs.options());
    for (int64_t b = 0; b < R; b += chunk) {
      int64_t n = std::min(chunk, R - b);
      at::Tensor logits = logit_chunks::logits(hidden, weight, b, n, temperature);
      at::Tensor normalizer = logits.logsumexp(-1);
      lse.narrow(0, b, n).copy_(normalizer);
      logprobs.narrow(0, b, n).copy_(logits.gather(-1, targets.narrow(0, b, n).unsqueeze(-1)).squeeze(-1) - normalizer);
      // H = log Z - E_p[logit]
      if (entropy) entropy->narrow(0, b, n).copy_(normalizer - (at::softmax(logits, -1) * logits).sum(-1));
    }
    ctx->save_for_backward({hidden, weight, targets, lse});
    ctx->saved_data["temperature"] = temperature;
    ctx->saved_data["chunk"] = chunk;
    return logprobs;
  }

  // d logp[r] / d logits[r, v] = (onehot(target) - p)[v] / T, chunk by chunk.
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    auto saved = ctx->get_saved_variables();
    const at::Tensor &hidden = saved[0], &weight = saved[1], &targets = saved[2], &lse = saved[3];
    const double temperature = ctx->saved_data["temperature"].toDouble();
    const int64_t chunk = ctx->saved_data["chunk"].toInt();
    const at::Tensor grad = grads[0].to(at::kFloat);
    const int64_t R = hidden.size(0);
    at::Tensor grad_hidden = at::empty_like(hidden), grad_weight = at::zeros_like(weight, at::kFloat);
    for (int64_t b = 0; b < R; b += chunk) {
      int64_t n = std::min(chunk, R - b);
      at::Tensor g = grad.narrow(0, b, n).unsqueeze(-1);  // [n, 1]
      at::Tensor probs = logit_chunks::logits(hidden, weight, b, n, temperature);
      probs.sub_(lse.narrow(0, b, n).unsqueeze(-1)).exp_();
      at::Tensor d_logits = probs.mul_(-g).scatter_add_(-1, targets.narrow(0, b, n).unsqueeze(-1), g);
      if (temperature != 1.0) d_logits.div_(temperature);
      logit_chunks::add_gradients(d_logits, hidden, weight, b, grad_weight, grad_hidden);
    }
    return {grad_hidden, grad_weight.to(weight.scalar_type()), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

at::Tensor chunked_target_logprobs(const at::Tensor& hidden, const at::Tensor& weight, const at::Tensor& targets,
                                   double temperature, at::Tensor* entropy, int64_t rows_per_chunk) {
  int64_t chunk = logit_chunks::rows_per_chunk(hidden, weight.size(0), rows_per_chunk);
  at::Tensor h = hidden.contiguous(), t = targets.contiguous();
  return ChunkedLogprobs::apply(h, weight, t, temperature, chunk, entropy);  // entropy: filled without grad
}

}  // namespace r1
