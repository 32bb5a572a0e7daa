#include "model/generate.h"

#include <ATen/cuda/CUDAContext.h>
#include <ATen/cuda/CUDAGraph.h>
#include <c10/core/InferenceMode.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAGuard.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <numeric>
#include <optional>
#include <set>

#include "util/cpu_streams.h"
#include "model/scoring.h"
#include "util/counter_rng.h"

namespace r1 {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

Status validate(const Transformer& model, const std::vector<RolloutPrompt>& prompts, const GenerationOptions& o) {
  R1_RETURN_IF_ERROR(o.sampling.validate());
  if (o.max_new_tokens < 1) return Status::error("max_new_tokens must be >= 1");
  if (o.num_samples < 1) return Status::error("num_samples must be >= 1");
  if (!o.stop_strings.empty() && !o.decode) return Status::error("stop strings need a tokenizer to decode text");
  if (o.decode_streams < 0) return Status::error("decode_streams must be >= 0");
  const ModelConfig& c = model.config();
  std::set<int64_t> indices;
  for (size_t p = 0; p < prompts.size(); ++p) {
    const auto& ids = prompts[p].prompt_ids;
    std::string where = "prompt " + std::to_string(prompts[p].prompt_index);
    // The index keys the prompt's random streams: a repeat would repeat its samples.
    if (!indices.insert(prompts[p].prompt_index).second) return Status::error(where + " appears twice in one request");
    if (ids.empty()) return Status::error(where + " is empty");
    if (static_cast<int64_t>(ids.size()) >= c.max_position_embeddings)
      return Status::error(where + " has " + std::to_string(ids.size()) +
                           " tokens, which leaves no room in the model's context of " +
                           std::to_string(c.max_position_embeddings) + " (max_position_embeddings)");
    R1_RETURN_IF_ERROR(c.check_token_ids(ids, where));
  }
  return Status();
}

// Prompts are prefilled in right-padded batches of similar length (sorted by
// length, so padding stays small) of at most this many padded tokens.
constexpr int64_t kPrefillBatchTokens = 4096;

// Splits prompt indices, sorted by length, into prefill batches.
std::vector<std::vector<int64_t>> prefill_batches(const std::vector<RolloutPrompt>& prompts) {
  std::vector<int64_t> order(prompts.size());
  std::iota(order.begin(), order.end(), 0);
  auto length = [&](int64_t p) { return static_cast<int64_t>(prompts[p].prompt_ids.size()); };
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return length(a) < length(b); });
  std::vector<std::vector<int64_t>> batches;
  for (int64_t p : order) {
    int64_t len = length(p);  // the longest so far: sorted
    if (batches.empty() || static_cast<int64_t>(batches.back().size() + 1) * len > kPrefillBatchTokens)
      batches.emplace_back();
    batches.back().push_back(p);
  }
  return batches;
}

struct Row {
  int64_t prompt_len = 0;
  uint64_t stream = 0;  // stream_key({seed, prompt_index, sample_index})
  Sample out;
  bool done = false;
};

class Decoder {
 public:
  Decoder(const Transformer& model, const std::vector<RolloutPrompt>& prompts, const GenerationOptions& o)
      : model_(model), o_(o) {
    stop_ids_.insert(o.stop_token_ids.begin(), o.stop_token_ids.end());
    stop_ids_.insert(model.config().eos_token_ids.begin(), model.config().eos_token_ids.end());
    for (const auto& s : o.stop_strings) max_stop_bytes_ = std::max<int64_t>(max_stop_bytes_, s.size());
    int64_t longest = 0;
    for (const RolloutPrompt& p : prompts) {
      longest = std::max<int64_t>(longest, p.prompt_ids.size());
      for (int64_t g = 0; g < o.num_samples; ++g) {
        Row row;
        row.prompt_len = static_cast<int64_t>(p.prompt_ids.size());
        row.stream = stream_key({o.seed, static_cast<uint64_t>(p.prompt_index), static_cast<uint64_t>(g)});
        row.out.prompt_index = p.prompt_index;
        row.out.sample_index = g;
        rows_.push_back(std::move(row));
      }
    }
    capacity_ = std::min(longest + o.max_new_tokens, model.config().max_position_embeddings);
    if (o.record_routes) routes_per_token_ = model.config().moe.routes_per_token(model.config().num_hidden_layers);
    // MoE layers group tokens by expert in shapes the host reads: no graph.
    const bool moe = model.config().moe.routes_per_token(model.config().num_hidden_layers) > 0;
    use_graphs_ = o.cuda_graphs && model.device().is_cuda() && !moe;
    slots_ = at::arange(capacity_, index_options()).unsqueeze(0);
  }

  std::vector<Sample> run(const std::vector<RolloutPrompt>& prompts, GenerationStats& stats) {
    auto start = Clock::now();
    int64_t G = o_.num_samples;
    cache_ = model_.new_cache(static_cast<int64_t>(rows_.size()), capacity_);
    std::vector<at::Tensor> logits(prompts.size());
    for (const auto& batch : prefill_batches(prompts)) prefill(prompts, batch, G, logits);
    for (const auto& p : prompts) stats.prefill_tokens += static_cast<int64_t>(p.prompt_ids.size());
    for (size_t r = 0; r < rows_.size(); ++r) cache_rows_.push_back(static_cast<int64_t>(r));
    stats.prefill_seconds += seconds_since(start);

    start = Clock::now();
    stats.decode_tokens += append_sampled(at::cat(logits));
    // Graphs are captured and replayed on a side stream; the prefill's work is done first.
    std::optional<c10::cuda::CUDAStreamGuard> side;
    if (use_graphs_) {
      c10::cuda::device_synchronize();
      side.emplace(at::cuda::getStreamFromPool(false, model_.device().index()));
    }
    while (!std::all_of(rows_.begin(), rows_.end(), [](const Row& r) { return r.done; })) {
      if (compact_if_sparse()) graph_.reset();  // the graph wrote into the old cache
      if (use_graphs_)
        graph_window(stats);
      else
        stats.decode_tokens += append_sampled(step());
    }
    stats.decode_seconds += seconds_since(start);
    std::vector<Sample> out;
    for (auto& row : rows_) out.push_back(std::move(row.out));
    return out;
  }

 private:
  // Runs the prompts `batch` through the model as one right-padded batch and
  // copies each prompt's keys/values into the cache rows of its G samples;
  // stores each prompt's next-token logits [G, V] in `logits`.
  void prefill(const std::vector<RolloutPrompt>& prompts, const std::vector<int64_t>& batch, int64_t G,
               std::vector<at::Tensor>& logits) {
    std::vector<std::vector<int64_t>> rows;
    for (int64_t p : batch) rows.push_back(prompts[p].prompt_ids);
    TokenBatch tokens = make_token_batch(rows, model_.device());
    int64_t n = tokens.ids.size(0), L = tokens.ids.size(1);
    KVCache staging = model_.new_cache(n, L);
    at::Tensor positions = at::arange(L, index_options()).unsqueeze(0).expand({n, L});
    MoeRouting routing;
    routing.record = true;
    at::Tensor hidden = model_.forward(tokens.ids, positions, causal_padding_mask(tokens.lengths, L),
                                       AttentionKV::into_cache(&staging, positions), routing_or_null(routing));
    at::Tensor last = model_.lm_head(hidden.index({at::arange(n, index_options()), tokens.lengths - 1}));  // [n, V]
    at::Tensor routes = host_routes(routing, 2);  // [n, L, layers, k]
    for (int64_t i = 0; i < n; ++i) {
      int64_t p = batch[i], len = static_cast<int64_t>(prompts[p].prompt_ids.size());
      cache_.copy_prefix_into(staging, i, len, at::arange(p * G, (p + 1) * G, index_options()));
      logits[p] = last[i].unsqueeze(0).expand({G, -1});
      if (!routes.defined()) continue;
      const int16_t* first = routes[i].data_ptr<int16_t>();
      for (int64_t g = 0; g < G; ++g)
        rows_[p * G + g].out.routed_experts.assign(first, first + len * routes_per_token_);
    }
  }

  // `routing` when routes are recorded, else nullptr.
  MoeRouting* routing_or_null(MoeRouting& routing) const { return routes_per_token_ ? &routing : nullptr; }

  // The recorded routes on the host, int16, layers stacked at `dim`; undefined when not recording.
  at::Tensor host_routes(const MoeRouting& routing, int64_t dim) const {
    if (!routes_per_token_) return {};
    return at::stack(routing.chosen, dim).to(at::kCPU, at::kShort).contiguous();
  }

  // Samples one token for every cache row and appends it to the live rows.
  int64_t append_sampled(const at::Tensor& logits) {
    std::vector<float> uniforms(cache_rows_.size());
    for (size_t i = 0; i < cache_rows_.size(); ++i) {
      const Row& row = rows_[cache_rows_[i]];
      uniforms[i] = uniform24(row.stream, row.out.token_ids.size());
    }
    SampledTokens sampled = sample_tokens(logits, o_.sampling, at::tensor(uniforms).to(model_.device()));
    return append_tokens(sampled.tokens.unsqueeze(0), sampled.logprobs.unsqueeze(0));
  }

  // Appends tokens [S, C] and their log-probs (steps x cache rows) to the
  // live rows, step by step; a row that finishes takes none of its later
  // tokens. Returns how many were appended.
  int64_t append_tokens(const at::Tensor& tokens, const at::Tensor& logprobs) {
    at::Tensor tok_host = tokens.to(at::kCPU, at::kLong).contiguous();
    at::Tensor lp_host = logprobs.to(at::kCPU, at::kFloat).contiguous();
    const int64_t* tok = tok_host.data_ptr<int64_t>();
    const float* lp = lp_host.data_ptr<float>();
    const int64_t C = static_cast<int64_t>(cache_rows_.size());
    int64_t appended = 0;
    for (int64_t j = 0; j < tok_host.size(0); ++j) {
      for (int64_t i = 0; i < C; ++i) {
        Row& row = rows_[cache_rows_[i]];
        if (row.done) continue;
        row.out.token_ids.push_back(tok[j * C + i]);
        row.out.logprobs.push_back(lp[j * C + i]);
        ++appended;
        finish_if_done(row);
      }
    }
    return appended;
  }

  void finish_if_done(Row& row) {
    const auto& ids = row.out.token_ids;
    int64_t n = static_cast<int64_t>(ids.size());
    if (stop_ids_.count(ids.back()) || ends_with_stop_string(ids)) {
      row.done = true;
      row.out.finish_reason = "stop";
    } else if (n >= o_.max_new_tokens || row.prompt_len + n >= capacity_) {
      row.done = true;
      row.out.finish_reason = "length";
    }
  }

  // Only the last few tokens can complete a stop string that was not there
  // one step ago, so only they are decoded.
  bool ends_with_stop_string(const std::vector<int64_t>& ids) const {
    if (o_.stop_strings.empty()) return false;
    int64_t take = std::min<int64_t>(ids.size(), max_stop_bytes_ + 1);
    std::string tail = o_.decode(std::vector<int64_t>(ids.end() - take, ids.end()));
    for (const auto& s : o_.stop_strings)
      if (!s.empty() && tail.find(s) != std::string::npos) return true;
    return false;
  }

  // Finished rows keep costing compute until removed; removing copies the
  // cache (and frees the finished rows' memory), so it is done only once a
  // quarter of the rows are finished. True when it was.
  bool compact_if_sparse() {
    std::vector<int64_t> keep;
    for (size_t i = 0; i < cache_rows_.size(); ++i)
      if (!rows_[cache_rows_[i]].done) keep.push_back(static_cast<int64_t>(i));
    if (keep.size() * 4 > cache_rows_.size() * 3) return false;
    cache_ = cache_.select_rows(at::tensor(keep, at::kLong).to(model_.device()));
    std::vector<int64_t> rows;
    for (int64_t i : keep) rows.push_back(cache_rows_[i]);
    cache_rows_ = std::move(rows);
    return true;
  }

  // A decode step's fixed buffers and its CUDA graph. Each step samples with
  // its window step's row of `uniforms`, records the tokens in row `step`
  // of `tokens`/`logprobs`, and feeds them back: live rows take the token
  // and advance a position; finished ones stay as they are.
  struct StepGraph {
    at::cuda::CUDAGraph graph;
    at::Tensor ids, positions, live;  // [C, 1] int64, int64, bool
    at::Tensor uniforms;              // [kDecodeGraphWindow, C] fp32
    at::Tensor step;                  // [1] int64: the window's step
    at::Tensor tokens, logprobs;      // [kDecodeGraphWindow, C] int64, fp32
  };

  void graph_step(StepGraph& g) {
    at::Tensor allowed = (slots_ <= g.positions).unsqueeze(1);  // [C, 1, capacity]
    at::Tensor hidden = model_.forward(g.ids, g.positions, allowed, AttentionKV::into_cache(&cache_, g.positions));
    at::Tensor u = g.uniforms.index_select(0, g.step).squeeze(0);
    SampledTokens sampled = sample_tokens(model_.lm_head(hidden.select(1, 0)), o_.sampling, u);
    g.tokens.index_copy_(0, g.step, sampled.tokens.unsqueeze(0));
    g.logprobs.index_copy_(0, g.step, sampled.logprobs.to(at::kFloat).unsqueeze(0));
    g.ids.copy_(at::where(g.live, sampled.tokens.unsqueeze(1), g.ids));
    g.positions.add_(g.live.to(at::kLong));
    g.step.add_(1);
  }

  // Up to kDecodeGraphWindow steps of every cache row, then one host read of
  // their tokens, appended as append_sampled would have, step by step. A
  // window never runs a live row past the cache or its token limit; rows
  // that finish inside it run on, and those tokens are dropped. Adds the
  // tokens and steps to `stats`.
  void graph_window(GenerationStats& stats) {
    const int64_t C = static_cast<int64_t>(cache_rows_.size()), W = kDecodeGraphWindow;
    std::vector<int64_t> ids(C), pos(C);
    std::vector<uint8_t> live(C);
    std::vector<float> uniforms(W * C, 0.0f);
    int64_t steps = W;
    for (int64_t i = 0; i < C; ++i) {
      const Row& row = rows_[cache_rows_[i]];
      const int64_t n = static_cast<int64_t>(row.out.token_ids.size());
      ids[i] = row.out.token_ids.back();
      pos[i] = row.prompt_len + n - 1;
      live[i] = !row.done;
      if (row.done) continue;
      steps = std::min({steps, capacity_ - pos[i], o_.max_new_tokens - n});
      for (int64_t j = 0; j < W; ++j) uniforms[j * C + i] = uniform24(row.stream, static_cast<uint64_t>(n + j));
    }
    auto load = [&](StepGraph& g) {
      g.ids.copy_(at::tensor(ids, at::kLong).view({C, 1}));
      g.positions.copy_(at::tensor(pos, at::kLong).view({C, 1}));
      g.live.copy_(at::tensor(live, at::kByte).view({C, 1}));
      g.uniforms.copy_(at::tensor(uniforms, at::kFloat).view({W, C}));
      g.step.zero_();
    };
    if (!graph_) graph_ = capture(C, load);
    load(*graph_);
    for (int64_t j = 0; j < steps; ++j) graph_->graph.replay();
    stats.decode_tokens += append_tokens(graph_->tokens.narrow(0, 0, steps), graph_->logprobs.narrow(0, 0, steps));
    stats.graph_steps += steps;
  }

  // One eager step first (it sets up the libraries' per-stream state, which
  // a capture may not), from the window's inputs: it writes the same cache
  // slots the first replay writes again.
  std::unique_ptr<StepGraph> capture(int64_t C, const std::function<void(StepGraph&)>& load) {
    auto g = std::make_unique<StepGraph>();
    at::TensorOptions index = index_options();
    g->ids = at::zeros({C, 1}, index);
    g->positions = at::zeros({C, 1}, index);
    g->live = at::zeros({C, 1}, index.dtype(at::kBool));
    g->uniforms = at::zeros({kDecodeGraphWindow, C}, index.dtype(at::kFloat));
    g->step = at::zeros({1}, index);
    g->tokens = at::zeros({kDecodeGraphWindow, C}, index);
    g->logprobs = at::zeros({kDecodeGraphWindow, C}, index.dtype(at::kFloat));
    load(*g);
    graph_step(*g);
    load(*g);
    c10::cuda::device_synchronize();
    g->graph.capture_begin();
    graph_step(*g);
    g->graph.capture_end();
    return g;
  }

  // One decode step over all cache rows; finished rows recompute their last
  // position (a harmless rewrite of the same slot).
  at::Tensor step() {
    int64_t C = static_cast<int64_t>(cache_rows_.size());
    std::vector<int64_t> last(C), pos(C);
    for (int64_t i = 0; i < C; ++i) {
      const Row& row = rows_[cache_rows_[i]];
      last[i] = row.out.token_ids.back();
      pos[i] = row.prompt_len + static_cast<int64_t>(row.out.token_ids.size()) - 1;
    }
    // Attention reads the whole cache, masked past each row's position: a
    // prefix of it would be a strided view that the attention copies on
    // every step and layer, and a new shape (new GEMM set-up) every step.
    at::Tensor positions = at::tensor(pos, at::kLong).to(model_.device()).unsqueeze(1);  // [C, 1]
    at::Tensor allowed = (slots_ <= positions).unsqueeze(1);  // [C, 1, capacity]
    MoeRouting routing;
    routing.record = true;
    at::Tensor hidden = model_.forward(at::tensor(last, at::kLong).to(model_.device()).unsqueeze(1), positions, allowed,
                                       AttentionKV::into_cache(&cache_, positions), routing_or_null(routing));
    at::Tensor routes = host_routes(routing, 1);  // [C, 1 (the new token), layers, k]
    for (int64_t i = 0; routes.defined() && i < C; ++i) {
      Row& row = rows_[cache_rows_[i]];
      if (row.done) continue;
      const int16_t* token = routes[i].data_ptr<int16_t>();
      row.out.routed_experts.insert(row.out.routed_experts.end(), token, token + routes_per_token_);
    }
    return model_.lm_head(hidden.select(1, 0));
  }

  at::TensorOptions index_options() const { return at::TensorOptions(at::kLong).device(model_.device()); }

  const Transformer& model_;
  const GenerationOptions& o_;
  std::set<int64_t> stop_ids_;
  int64_t max_stop_bytes_ = 0;
  int64_t capacity_ = 0;
  int64_t routes_per_token_ = 0;  // MoE layers x k when recording routes, else 0
  at::Tensor slots_;  // [1, capacity]: 0, 1, ..., capacity - 1
  std::vector<Row> rows_;
  KVCache cache_;
  std::vector<int64_t> cache_rows_;  // cache row i holds rows_[cache_rows_[i]]
  bool use_graphs_ = false;
  std::unique_ptr<StepGraph> graph_;  // captured for the current cache
};

}  // namespace

Result<std::vector<Sample>> generate(const Transformer& model, const std::vector<RolloutPrompt>& prompts,
                                     const GenerationOptions& options, GenerationStats* stats) {
  R1_RETURN_IF_ERROR(validate(model, prompts, options));
  GenerationStats local;
  GenerationStats& total = stats ? *stats : local;
  // Fused q/k/v and gate/up: 4 matrix products per layer and step, not 7
  // (bf16 decode 1.28x tokens/s; fp32 ~1.05x).
  Transformer fused = model.with_fused_projections();
  // Streams split the prompts (a prompt's G samples stay together); rows
  // draw from their own counter-based streams, so the split changes nothing.
  int streams = stream_count(options.decode_streams, model.device().is_cpu(), static_cast<int64_t>(prompts.size()));
  std::vector<std::vector<Sample>> parts(streams);
  std::vector<GenerationStats> part_stats(streams);
  run_streams(streams, [&](int s) {
    // Inference mode skips autograd bookkeeping (version counters, views) on
    // every op of the decode loop; nothing generated here reaches autograd.
    c10::InferenceMode inference;
    size_t begin = prompts.size() * s / streams, end = prompts.size() * (s + 1) / streams;
    std::vector<RolloutPrompt> part(prompts.begin() + begin, prompts.begin() + end);
    parts[s] = Decoder(fused, part, options).run(part, part_stats[s]);
  });
  std::vector<Sample> out;
  double prefill_seconds = 0, decode_seconds = 0;  // the streams ran concurrently: the longest
  for (int s = 0; s < streams; ++s) {
    for (Sample& c : parts[s]) out.push_back(std::move(c));
    total.prefill_tokens += part_stats[s].prefill_tokens;
    total.decode_tokens += part_stats[s].decode_tokens;
    total.graph_steps += part_stats[s].graph_steps;
    prefill_seconds = std::max(prefill_seconds, part_stats[s].prefill_seconds);
    decode_seconds = std::max(decode_seconds, part_stats[s].decode_seconds);
  }
  total.prefill_seconds += prefill_seconds;
  total.decode_seconds += decode_seconds;
  return out;
}

}  // namespace r1
