#include "model/tokenizer.h"

#include <sys/stat.h>

#include <functional>
#include <queue>

#include "model/tokenizer_data.h"
#include "model/unicode_text.h"
#include "util/file.h"

namespace r1 {

// ---- Regex ------------------------------------------------------------------

namespace {

// Per-thread match state: one JIT stack and match block serve every pattern,
// so const encode() needs no locks around PCRE2.
struct MatchState {
  pcre2_jit_stack* stack = pcre2_jit_stack_create(32 * 1024, 4 * 1024 * 1024, nullptr);
  pcre2_match_context* context = pcre2_match_context_create(nullptr);
  pcre2_match_data* data = pcre2_match_data_create(1, nullptr);
  MatchState() { pcre2_jit_stack_assign(context, nullptr, stack); }
  ~MatchState() {
    pcre2_match_data_free(data);
    pcre2_match_context_free(context);
    pcre2_jit_stack_free(stack);
  }
};

MatchState& match_state() {
  thread_local MatchState state;
  return state;
}

}  // namespace

Result<std::shared_ptr<Regex>> Regex::compile(const std::string& pattern) {
  int error = 0;
  PCRE2_SIZE offset = 0;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                   PCRE2_UTF | PCRE2_UCP, &error, &offset, nullptr);
  if (!code) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(error, msg, sizeof(msg));
    return Status::error("invalid regex at offset " + std::to_string(offset) + ": " +
                         reinterpret_cast<char*>(msg));
  }
  bool jit = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;
  return std::shared_ptr<Regex>(new Regex(code, jit));
}

Regex::~Regex() { pcre2_code_free(code_); }

bool Regex::find(std::string_view text, size_t offset, size_t& begin, size_t& end) const {
  MatchState& st = match_state();
  auto subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  int rc = PCRE2_ERROR_JIT_STACKLIMIT;
  if (jit_) rc = pcre2_jit_match(code_, subject, text.size(), offset, 0, st.data, st.context);
  // The interpreter keeps its backtracking frames on the heap: the fallback
  // when the JIT stack is too small (not seen with the supported patterns).
  if (rc == PCRE2_ERROR_JIT_STACKLIMIT)
    rc = pcre2_match(code_, subject, text.size(), offset, PCRE2_NO_UTF_CHECK, st.data, st.context);
  if (rc == PCRE2_ERROR_NOMATCH) return false;
  if (rc < 0) throw Error("tokenizer regex failed with PCRE2 error " + std::to_string(rc));
  PCRE2_SIZE* ov = pcre2_get_ovector_pointer(st.data);
  begin = ov[0];
  end = ov[1];
  return true;
}

// ---- TokenTrie --------------------------------------------------------------

void TokenTrie::add(std::string_view key, int32_t value) {
  if (key.empty()) return;
  first_[static_cast<unsigned char>(key[0])] = true;
  int32_t node = 0;
  for (char ch : key) {
    auto c = static_cast<unsigned char>(ch);
    int32_t next = -1;
    for (auto& [k, child] : nodes_[node].children)
      if (k == c) next = child;
    if (next < 0) {
      next = static_cast<int32_t>(nodes_.size());
      nodes_[node].children.emplace_back(c, next);
      nodes_.emplace_back();
    }
    node = next;
  }
  nodes_[node].value = value;
}

std::pair<size_t, int32_t> TokenTrie::longest_at(std::string_view text, size_t pos) const {
  if (pos >= text.size() || !first_[static_cast<unsigned char>(text[pos])]) return {0, -1};
  std::pair<size_t, int32_t> best{0, -1};
  int32_t node = 0;
  for (size_t i = pos; i < text.size(); ++i) {
    auto c = static_cast<unsigned char>(text[i]);
    int32_t next = -1;
    for (auto& [k, child] : nodes_[node].children)
      if (k == c) next = child;
    if (next < 0) break;
    node = next;
    if (nodes_[node].value >= 0) best = {i + 1 - pos, nodes_[node].value};
  }
  return best;
}

// ---- BpeCache ---------------------------------------------------------------

bool BpeCache::get(std::string_view key, std::vector<int64_t>& out) const {
  if (key.size() > kMaxKeyBytes) return false;
  Shard& s = shards_[StringHash{}(key) % kShards];
  std::lock_guard<std::mutex> lock(s.mu);
  auto it = s.map.find(key);
  if (it == s.map.end()) return false;
  out.insert(out.end(), it->second.begin(), it->second.end());
  return true;
}

void BpeCache::put(std::string_view key, const std::vector<int32_t>& ids) const {
  if (key.size() > kMaxKeyBytes) return;
  Shard& s = shards_[StringHash{}(key) % kShards];
  std::lock_guard<std::mutex> lock(s.mu);
  if (s.map.size() >= kShardCapacity) s.map.clear();  // crude bound on memory
  s.map.emplace(std::string(key), ids);
}

// ---- Encoding ---------------------------------------------------------------

namespace {

struct Segment {
  std::string_view text;
  int64_t id = -1;  // an added token, or -1 for text still to tokenize
};

size_t leading_space_bytes(std::string_view s) {
  size_t pos = 0, end = 0;
  while (pos < s.size()) {
    if (!is_unicode_space(next_code_point(s, pos))) break;
    end = pos;
  }
  return end;
}

// Start of the whitespace run that ends `s` (s.size() if none).
size_t trailing_space_start(std::string_view s) {
  size_t start = s.size(), pos = 0;
  while (pos < s.size()) {
    size_t here = pos;
    if (!is_unicode_space(next_code_point(s, pos)))
      start = s.size();
    else if (start == s.size())
      start = here;
  }
  return start;
}

bool word_at_end(std::string_view s) {
  if (s.empty()) return false;
  size_t pos = s.size() - 1;
  while (pos > 0 && (static_cast<unsigned char>(s[pos]) & 0xC0) == 0x80) --pos;
  return is_word_char(next_code_point(s, pos));
}

bool word_at_start(std::string_view s) {
  size_t pos = 0;
  return !s.empty() && is_word_char(next_code_point(s, pos));
}

// Splits `text` around the added tokens found by `trie`, honouring
// single_word, lstrip and rstrip the way HF's AddedVocabulary::find_matches does.
void split_added(std::string_view text, const TokenTrie& trie, const std::vector<AddedToken>& added,
                 std::vector<Segment>& out) {
  if (trie.empty()) {
    out.push_back({text, -1});
    return;
  }
  size_t done = 0, pos = 0;
  while (pos < text.size()) {
    auto [len, index] = trie.longest_at(text, pos);
    if (len == 0) {
      ++pos;
      continue;
    }
    const AddedToken& tok = added[index];
    size_t start = pos, stop = pos + len;
    if (tok.single_word && (word_at_end(text.substr(0, start)) || word_at_start(text.substr(stop)))) {
      ++pos;
      continue;
    }
    if (tok.lstrip) start = std::max(trailing_space_start(text.substr(0, start)), done);
    if (tok.rstrip) stop += leading_space_bytes(text.substr(stop));
    if (done < start) out.push_back({text.substr(done, start - done), -1});
    out.push_back({text.substr(start, stop - start), tok.id});
    done = stop;
    pos = stop;
  }
  if (done < text.size()) out.push_back({text.substr(done), -1});
}

void push_heap_merge(const TokenizerData& d, std::priority_queue<std::tuple<int32_t, int32_t, int32_t>,
                                                                  std::vector<std::tuple<int32_t, int32_t, int32_t>>,
                                                                  std::greater<>>& heap,
                     int32_t pos, int32_t a, int32_t b) {
  auto it = d.merges.find((static_cast<uint64_t>(a) << 32) | static_cast<uint32_t>(b));
  if (it != d.merges.end()) heap.emplace(it->second.first, pos, it->second.second);
}

// BPE of one pre-token (raw bytes): lowest-rank pair first, leftmost on ties.
std::vector<int32_t> bpe(const TokenizerData& d, std::string_view piece) {
  if (d.ignore_merges) {
    std::string mapped;
    for (char c : piece) append_utf8(mapped, byte_to_char()[static_cast<unsigned char>(c)]);
    auto it = d.vocab.find(std::string_view(mapped));
    if (it != d.vocab.end()) return {it->second};
  }
  struct Sym {
    int32_t id, prev, next;
    bool alive;
  };
  std::vector<Sym> syms;
  syms.reserve(piece.size());
  bool last_unk = false;
  for (char c : piece) {
    int32_t id = d.byte_id[static_cast<unsigned char>(c)];
    bool unk = id < 0;
    if (unk) {
      if (!d.unk_id) continue;  // HF drops chars missing from vocab without an unk token
      if (d.fuse_unk && last_unk) continue;
      id = *d.unk_id;
    }
    last_unk = unk;
    int32_t n = static_cast<int32_t>(syms.size());
    syms.push_back({id, n - 1, n + 1, true});
  }
  if (syms.size() < 2) {
    std::vector<int32_t> out;
    for (auto& s : syms) out.push_back(s.id);
    return out;
  }
  syms.back().next = -1;
  std::priority_queue<std::tuple<int32_t, int32_t, int32_t>, std::vector<std::tuple<int32_t, int32_t, int32_t>>,
                      std::greater<>>
      heap;
  for (int32_t i = 0; i + 1 < static_cast<int32_t>(syms.size()); ++i)
    push_heap_merge(d, heap, i, syms[i].id, syms[i + 1].id);
  while (!heap.empty()) {
    auto [rank, pos, new_id] = heap.top();
    heap.pop();
    Sym& left = syms[pos];
    if (!left.alive || left.next < 0) continue;
    Sym& right = syms[left.next];
    auto it = d.merges.find((static_cast<uint64_t>(left.id) << 32) | static_cast<uint32_t>(right.id));
    if (it == d.merges.end() || it->second.second != new_id) continue;  // stale entry
    left.id = new_id;
    right.alive = false;
    left.next = right.next;
    if (left.next >= 0) syms[left.next].prev = pos;
    if (left.prev >= 0) push_heap_merge(d, heap, left.prev, syms[left.prev].id, left.id);
    if (left.next >= 0) push_heap_merge(d, heap, pos, left.id, syms[left.next].id);
  }
  std::vector<int32_t> out;
  for (int32_t i = 0; i >= 0; i = syms[i].next) out.push_back(syms[i].id);
  return out;
}

void encode_piece(const TokenizerData& d, std::string_view piece, std::vector<int64_t>& out) {
  if (d.cache.get(piece, out)) return;
  std::vector<int32_t> ids = bpe(d, piece);
  d.cache.put(piece, ids);
  out.insert(out.end(), ids.begin(), ids.end());
}

// Applies pre-tokenizer steps [step, end) to `piece` and hands each final
// pre-token to `emit`.
template <typename Emit>
void pre_tokenize(const TokenizerData& d, size_t step, std::string_view piece, Emit& emit) {
  if (step == d.steps.size()) {
    emit(piece);
    return;
  }
  const SplitStep& s = d.steps[step];
  std::string prefixed;
  if (s.add_prefix_space && (piece.empty() || piece[0] != ' ')) {
    prefixed = " " + std::string(piece);
    piece = prefixed;
  }
  if (!s.regex) {
    pre_tokenize(d, step + 1, piece, emit);
    return;
  }
  size_t pos = 0, begin, end;
  while (pos < piece.size() && s.regex->find(piece, pos, begin, end)) {
    if (end == begin) {  // the supported patterns never match empty; make progress anyway
      ++end;
      while (end < piece.size() && (static_cast<unsigned char>(piece[end]) & 0xC0) == 0x80) ++end;
    }
    if (begin > pos) pre_tokenize(d, step + 1, piece.substr(pos, begin - pos), emit);
    pre_tokenize(d, step + 1, piece.substr(begin, end - begin), emit);
    pos = end;
  }
  if (pos < piece.size()) pre_tokenize(d, step + 1, piece.substr(pos), emit);
}

// Runs the whole pipeline up to BPE: added tokens go to `on_added`, the
// pre-tokens of the text between them to `on_piece`.
template <typename OnAdded, typename OnPiece>
void segment(const TokenizerData& d, std::string_view text, OnAdded on_added, OnPiece on_piece) {
  std::string repaired;
  if (!utf8_valid(text)) {
    repaired = utf8_lossy(text);
    text = repaired;
  }
  std::vector<Segment> raw, normalized;
  split_added(text, d.raw_trie, d.added, raw);
  for (const Segment& seg : raw) {
    if (seg.id >= 0) {
      on_added(seg.id);
      continue;
    }
    std::string norm = d.nfc ? nfc(seg.text) : std::string();
    std::string_view view = d.nfc ? std::string_view(norm) : seg.text;
    normalized.clear();
    split_added(view, d.normalized_trie, d.added, normalized);
    for (const Segment& part : normalized) {
      if (part.id >= 0)
        on_added(part.id);
      else
        pre_tokenize(d, 0, part.text, on_piece);
    }
  }
}

}  // namespace

std::vector<int64_t> Tokenizer::encode(std::string_view text) const {
  const TokenizerData& d = *data_;
  std::vector<int64_t> out;
  out.reserve(text.size() / 3 + 4);
  segment(
      d, text, [&](int64_t id) { out.push_back(id); },
      [&](std::string_view piece) { encode_piece(d, piece, out); });
  return out;
}

std::vector<std::string> Tokenizer::pre_tokenize(std::string_view text) const {
  std::vector<std::string> out;
  segment(
      *data_, text, [](int64_t) {}, [&](std::string_view piece) { out.emplace_back(piece); });
  return out;
}

std::vector<int64_t> Tokenizer::encode_with_special_tokens(std::string_view text) const {
  std::vector<int64_t> out = data_->prefix_ids;
  std::vector<int64_t> body = encode(text);
  out.insert(out.end(), body.begin(), body.end());
  out.insert(out.end(), data_->suffix_ids.begin(), data_->suffix_ids.end());
  return out;
}

std::string Tokenizer::decode(const std::vector<int64_t>& ids, bool skip_special_tokens) const {
  const TokenizerData& d = *data_;
  std::string bytes;
  for (int64_t id : ids) {
    if (id < 0 || id >= static_cast<int64_t>(d.known.size()) || !d.known[id]) continue;
    if (skip_special_tokens && d.special[id]) continue;
    bytes += d.decoded[id];
  }
  return utf8_valid(bytes) ? bytes : utf8_lossy(bytes);
}

int64_t Tokenizer::vocab_size() const { return static_cast<int64_t>(data_->tokens.size()); }

std::optional<int64_t> Tokenizer::token_to_id(std::string_view token) const {
  if (auto it = data_->added_ids.find(token); it != data_->added_ids.end()) return it->second;
  if (auto it = data_->vocab.find(token); it != data_->vocab.end()) return it->second;
  return std::nullopt;
}

std::string Tokenizer::id_to_token(int64_t id) const {
  if (id < 0 || id >= vocab_size()) return "";
  return data_->tokens[id];
}

bool Tokenizer::is_special(int64_t id) const { return id >= 0 && id < vocab_size() && data_->special[id]; }

const std::string& Tokenizer::source() const { return data_->source; }

Result<Tokenizer> Tokenizer::from_json(const std::string& json, const std::string& where) {
  R1_ASSIGN_OR_RETURN(std::shared_ptr<TokenizerData> data, parse_tokenizer_json(json, where));
  return Tokenizer(std::move(data));
}

Result<Tokenizer> Tokenizer::load(const std::string& path) {
  struct stat st {};
  std::string file = path;
  if (stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) file = path + "/tokenizer.json";
  R1_ASSIGN_OR_RETURN(std::string json, read_file(file));
  return from_json(json, file);
}

}  // namespace r1
