// tokenizer.json → TokenizerData. Every unsupported or malformed part is an
// error naming the file and the JSON field, e.g.
// "tok.json: field 'pre_tokenizer.pretokenizers[0].type': unsupported ...".
#include <algorithm>

#include "model/tokenizer_data.h"
#include "model/unicode_text.h"
#include "util/json.h"

namespace r1 {

namespace {

const char* kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

struct Ctx {
  const std::string& where;
  Status error(const std::string& field, const std::string& what) const {
    return Status::error(where + ": field '" + field + "': " + what);
  }
};

const JsonValue* member(const JsonValue& obj, const char* key) {
  if (!obj.IsObject()) return nullptr;
  auto it = obj.FindMember(key);
  return it == obj.MemberEnd() || it->value.IsNull() ? nullptr : &it->value;
}

std::string str(const JsonValue& v) { return std::string(v.GetString(), v.GetStringLength()); }

Result<std::string> get_type(const Ctx& c, const JsonValue& obj, const std::string& field) {
  if (!obj.IsObject()) return c.error(field, "must be an object");
  const JsonValue* t = member(obj, "type");
  if (!t || !t->IsString()) return c.error(field + ".type", "must be a string");
  return str(*t);
}

// A boolean option that must have `required` value when present.
Status expect_bool(const Ctx& c, const JsonValue& obj, const char* key, bool required, const std::string& field) {
  const JsonValue* v = member(obj, key);
  if (!v) return Status();
  if (!v->IsBool()) return c.error(field + "." + key, "must be true or false");
  if (v->GetBool() != required)
    return c.error(field + "." + key, std::string("unsupported value ") + (required ? "false" : "true") +
                                          " (only " + (required ? "true" : "false") + " is supported)");
  return Status();
}

Result<bool> opt_bool(const Ctx& c, const JsonValue& obj, const char* key, bool fallback, const std::string& field) {
  const JsonValue* v = member(obj, key);
  if (!v) return fallback;
  if (!v->IsBool()) return c.error(field + "." + key, "must be true or false");
  return v->GetBool();
}

Status parse_normalizer(const Ctx& c, const JsonValue* n, const std::string& field, TokenizerData& d) {
  if (!n) return Status();
  R1_ASSIGN_OR_RETURN(std::string type, get_type(c, *n, field));
  if (type == "NFC") {
    d.nfc = true;
    return Status();
  }
  if (type == "Sequence") {
    const JsonValue* list = member(*n, "normalizers");
    if (!list || !list->IsArray()) return c.error(field + ".normalizers", "must be an array");
    for (rapidjson::SizeType i = 0; i < list->Size(); ++i)
      R1_RETURN_IF_ERROR(parse_normalizer(c, &(*list)[i], field + ".normalizers[" + std::to_string(i) + "]", d));
    return Status();
  }
  return c.error(field + ".type", "unsupported normalizer '" + type + "' (supported: NFC, Sequence of NFC, null)");
}

Result<std::shared_ptr<Regex>> compile(const Ctx& c, const std::string& pattern, const std::string& field) {
  auto re = Regex::compile(pattern);
  if (!re.ok()) return c.error(field, re.status().message());
  return re;
}

// Quotes a literal for PCRE2 (Split with a "String" pattern).
std::string quote_literal(const std::string& s) { return "\\Q" + s + "\\E"; }

Status parse_split(const Ctx& c, const JsonValue& p, const std::string& field, TokenizerData& d) {
  const JsonValue* pattern = member(p, "pattern");
  if (!pattern || !pattern->IsObject()) return c.error(field + ".pattern", "must be an object {\"Regex\": ...}");
  std::string source;
  if (const JsonValue* r = member(*pattern, "Regex"); r && r->IsString()) {
    source = str(*r);
  } else if (const JsonValue* s = member(*pattern, "String"); s && s->IsString()) {
    if (str(*s).find("\\E") != std::string::npos) return c.error(field + ".pattern.String", "cannot contain \\E");
    source = quote_literal(str(*s));
  } else {
    return c.error(field + ".pattern", "must hold a string 'Regex' or 'String'");
  }
  const JsonValue* behavior = member(p, "behavior");
  if (!behavior || !behavior->IsString() || str(*behavior) != "Isolated")
    return c.error(field + ".behavior", "unsupported split behavior (only \"Isolated\" is supported)");
  R1_RETURN_IF_ERROR(expect_bool(c, p, "invert", false, field));
  R1_ASSIGN_OR_RETURN(auto re, compile(c, source, field + ".pattern"));
  d.steps.push_back({re, false});
  return Status();
}

Status parse_byte_level(const Ctx& c, const JsonValue& p, const std::string& field, TokenizerData& d) {
  R1_ASSIGN_OR_RETURN(bool prefix, opt_bool(c, p, "add_prefix_space", true, field));
  R1_ASSIGN_OR_RETURN(bool use_regex, opt_bool(c, p, "use_regex", true, field));
  std::shared_ptr<Regex> re;
  if (use_regex) {
    R1_ASSIGN_OR_RETURN(re, compile(c, kGpt2Pattern, field));
  }
  d.steps.push_back({re, prefix});
  return Status();
}

Status parse_pre_tokenizer(const Ctx& c, const JsonValue* p, TokenizerData& d) {
  const std::string field = "pre_tokenizer";
  if (!p) return c.error(field, "is null; a ByteLevel pre-tokenizer is required");
  R1_ASSIGN_OR_RETURN(std::string type, get_type(c, *p, field));
  if (type == "ByteLevel") return parse_byte_level(c, *p, field, d);
  if (type != "Sequence")
    return c.error(field + ".type", "unsupported pre-tokenizer '" + type + "' (supported: ByteLevel, Sequence)");
  const JsonValue* list = member(*p, "pretokenizers");
  if (!list || !list->IsArray()) return c.error(field + ".pretokenizers", "must be an array");
  bool byte_level = false;
  for (rapidjson::SizeType i = 0; i < list->Size(); ++i) {
    std::string f = field + ".pretokenizers[" + std::to_string(i) + "]";
    R1_ASSIGN_OR_RETURN(std::string t, get_type(c, (*list)[i], f));
    if (byte_level) return c.error(f, "ByteLevel must be the last pre-tokenizer");
    if (t == "Split") {
      R1_RETURN_IF_ERROR(parse_split(c, (*list)[i], f, d));
    } else if (t == "ByteLevel") {
      R1_RETURN_IF_ERROR(parse_byte_level(c, (*list)[i], f, d));
      byte_level = true;
    } else {
      return c.error(f + ".type", "unsupported pre-tokenizer '" + t + "' (supported: Split, ByteLevel)");
    }
  }
  if (!byte_level) return c.error(field + ".pretokenizers", "must end with a ByteLevel pre-tokenizer");
  return Status();
}

Status parse_decoder(const Ctx& c, const JsonValue* p) {
  if (!p) return c.error("decoder", "is null; a ByteLevel decoder is required");
  R1_ASSIGN_OR_RETURN(std::string type, get_type(c, *p, "decoder"));
  if (type != "ByteLevel") return c.error("decoder.type", "unsupported decoder '" + type + "' (only ByteLevel)");
  return Status();
}

Status parse_merge(const Ctx& c, const JsonValue& m, const std::string& field, std::string& a, std::string& b) {
  if (m.IsString()) {
    std::string s = str(m);
    size_t space = s.find(' ');
    if (space == std::string::npos || s.find(' ', space + 1) != std::string::npos)
      return c.error(field, "must be \"left right\" with exactly one space");
    a = s.substr(0, space);
    b = s.substr(space + 1);
    return Status();
  }
  if (m.IsArray() && m.Size() == 2 && m[0].IsString() && m[1].IsString()) {
    a = str(m[0]);
    b = str(m[1]);
    return Status();
  }
  return c.error(field, "must be a string \"a b\" or a pair [\"a\", \"b\"]");
}

Status parse_model(const Ctx& c, const JsonValue* m, TokenizerData& d) {
  if (!m || !m->IsObject()) return c.error("model", "must be an object");
  const JsonValue* type = member(*m, "type");
  if (type && (!type->IsString() || str(*type) != "BPE"))
    return c.error("model.type", "unsupported model '" + (type->IsString() ? str(*type) : "?") + "' (only BPE)");
  if (member(*m, "dropout")) return c.error("model.dropout", "unsupported (must be null)");
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    const JsonValue* v = member(*m, key);
    if (v && (!v->IsString() || v->GetStringLength() > 0))
      return c.error(std::string("model.") + key, "unsupported (must be null or \"\")");
  }
  R1_RETURN_IF_ERROR(expect_bool(c, *m, "byte_fallback", false, "model"));
  R1_ASSIGN_OR_RETURN(d.fuse_unk, opt_bool(c, *m, "fuse_unk", false, "model"));
  R1_ASSIGN_OR_RETURN(d.ignore_merges, opt_bool(c, *m, "ignore_merges", false, "model"));
  const JsonValue* vocab = member(*m, "vocab");
  if (!vocab || !vocab->IsObject()) return c.error("model.vocab", "must be an object {token: id}");
  for (auto it = vocab->MemberBegin(); it != vocab->MemberEnd(); ++it) {
    if (!it->value.IsInt() || it->value.GetInt() < 0)
      return c.error("model.vocab." + str(it->name), "must be a non-negative integer id");
    d.vocab[str(it->name)] = it->value.GetInt();
  }
  if (const JsonValue* unk = member(*m, "unk_token")) {
    if (!unk->IsString()) return c.error("model.unk_token", "must be a string or null");
    auto it = d.vocab.find(str(*unk));
    if (it == d.vocab.end()) return c.error("model.unk_token", "'" + str(*unk) + "' is not in model.vocab");
    d.unk_id = it->second;
  }
  const JsonValue* merges = member(*m, "merges");
  if (!merges || !merges->IsArray()) return c.error("model.merges", "must be an array");
  std::string a, b;
  for (rapidjson::SizeType i = 0; i < merges->Size(); ++i) {
    std::string f = "model.merges[" + std::to_string(i) + "]";
    R1_RETURN_IF_ERROR(parse_merge(c, (*merges)[i], f, a, b));
    auto ia = d.vocab.find(a), ib = d.vocab.find(b), iab = d.vocab.find(a + b);
    if (ia == d.vocab.end() || ib == d.vocab.end() || iab == d.vocab.end())
      return c.error(f, "'" + a + "', '" + b + "' or their concatenation is not in model.vocab");
    uint64_t key = (static_cast<uint64_t>(ia->second) << 32) | static_cast<uint32_t>(ib->second);
    d.merges[key] = {static_cast<int32_t>(i), iab->second};  // a repeated pair keeps its last rank, as in HF
  }
  return Status();
}

Status parse_added_tokens(const Ctx& c, const JsonValue* list, TokenizerData& d) {
  if (!list) return Status();
  if (!list->IsArray()) return c.error("added_tokens", "must be an array");
  for (rapidjson::SizeType i = 0; i < list->Size(); ++i) {
    const JsonValue& t = (*list)[i];
    std::string f = "added_tokens[" + std::to_string(i) + "]";
    if (!t.IsObject()) return c.error(f, "must be an object");
    AddedToken tok;
    auto id = json_int(t, "id", c.where + ": " + f);
    if (!id.ok()) return id.status();
    if (*id < 0 || *id > INT32_MAX) return c.error(f + ".id", "must be a non-negative 32-bit id");
    tok.id = *id;
    const JsonValue* content = member(t, "content");
    if (!content || !content->IsString() || content->GetStringLength() == 0)
      return c.error(f + ".content", "must be a non-empty string");
    tok.content = str(*content);
    R1_ASSIGN_OR_RETURN(tok.single_word, opt_bool(c, t, "single_word", false, f));
    R1_ASSIGN_OR_RETURN(tok.lstrip, opt_bool(c, t, "lstrip", false, f));
    R1_ASSIGN_OR_RETURN(tok.rstrip, opt_bool(c, t, "rstrip", false, f));
    R1_ASSIGN_OR_RETURN(tok.special, opt_bool(c, t, "special", false, f));
    R1_ASSIGN_OR_RETURN(tok.normalized, opt_bool(c, t, "normalized", !tok.special, f));
    d.added_ids[tok.content] = tok.id;
    d.added.push_back(std::move(tok));
  }
  for (size_t i = 0; i < d.added.size(); ++i) {
    const AddedToken& tok = d.added[i];
    if (!tok.normalized)
      d.raw_trie.add(tok.content, static_cast<int32_t>(i));
    else
      d.normalized_trie.add(d.nfc ? nfc(tok.content) : tok.content, static_cast<int32_t>(i));
  }
  return Status();
}

// Collects the ids TemplateProcessing puts around sequence A.
Status parse_template(const Ctx& c, const JsonValue& p, const std::string& field, TokenizerData& d) {
  const JsonValue* single = member(p, "single");
  if (!single || !single->IsArray()) return c.error(field + ".single", "must be an array");
  const JsonValue* specials = member(p, "special_tokens");
  bool seen_a = false;
  for (rapidjson::SizeType i = 0; i < single->Size(); ++i) {
    std::string f = field + ".single[" + std::to_string(i) + "]";
    const JsonValue& item = (*single)[i];
    if (member(item, "Sequence")) {
      seen_a = true;
      continue;
    }
    const JsonValue* sp = member(item, "SpecialToken");
    const JsonValue* name = sp ? member(*sp, "id") : nullptr;
    if (!name || !name->IsString())
      return c.error(f, "must be {\"Sequence\": ...} or {\"SpecialToken\": {\"id\": ...}}");
    const JsonValue* entry = specials ? member(*specials, name->GetString()) : nullptr;
    const JsonValue* ids = entry ? member(*entry, "ids") : nullptr;
    if (!ids || !ids->IsArray())
      return c.error(field + ".special_tokens." + str(*name) + ".ids", "must be an array of ids");
    for (const auto& id : ids->GetArray()) {
      if (!id.IsInt64()) return c.error(field + ".special_tokens." + str(*name) + ".ids", "must hold integers");
      (seen_a ? d.suffix_ids : d.prefix_ids).push_back(id.GetInt64());
    }
  }
  return Status();
}

Status parse_post_processor(const Ctx& c, const JsonValue* p, const std::string& field, TokenizerData& d) {
  if (!p) return Status();
  R1_ASSIGN_OR_RETURN(std::string type, get_type(c, *p, field));
  if (type == "ByteLevel") return Status();  // only adjusts offsets
  if (type == "TemplateProcessing") return parse_template(c, *p, field, d);
  if (type == "Sequence") {
    const JsonValue* list = member(*p, "processors");
    if (!list || !list->IsArray()) return c.error(field + ".processors", "must be an array");
    for (rapidjson::SizeType i = 0; i < list->Size(); ++i)
      R1_RETURN_IF_ERROR(parse_post_processor(c, &(*list)[i], field + ".processors[" + std::to_string(i) + "]", d));
    return Status();
  }
  return c.error(field + ".type",
                 "unsupported post-processor '" + type + "' (supported: ByteLevel, TemplateProcessing, Sequence)");
}

// Bytes a token decodes to, as HF's ByteLevel decoder: mapped back through the
// byte alphabet when every char is in it, else the token's own UTF-8.
std::string decoded_bytes(const std::string& token) {
  std::string out;
  size_t pos = 0;
  while (pos < token.size()) {
    int b = char_to_byte(next_code_point(token, pos));
    if (b < 0) return token;
    out += static_cast<char>(b);
  }
  return out;
}

void build_id_tables(TokenizerData& d) {
  int64_t size = 0;
  for (auto& [tok, id] : d.vocab) size = std::max<int64_t>(size, id + 1);
  for (auto& tok : d.added) size = std::max<int64_t>(size, tok.id + 1);
  d.tokens.assign(size, "");
  d.decoded.assign(size, "");
  d.special.assign(size, 0);
  d.known.assign(size, 0);
  for (auto& [tok, id] : d.vocab) {
    d.tokens[id] = tok;
    d.known[id] = 1;
  }
  for (auto& tok : d.added) {  // added tokens take precedence, as in HF's id_to_token
    d.tokens[tok.id] = tok.content;
    d.special[tok.id] = tok.special;
    d.known[tok.id] = 1;
  }
  for (int64_t id = 0; id < size; ++id) d.decoded[id] = decoded_bytes(d.tokens[id]);
  for (int b = 0; b < 256; ++b) {
    std::string ch;
    append_utf8(ch, byte_to_char()[b]);
    auto it = d.vocab.find(ch);
    d.byte_id[b] = it == d.vocab.end() ? -1 : it->second;
  }
}

}  // namespace

Result<std::shared_ptr<TokenizerData>> parse_tokenizer_json(const std::string& json, const std::string& where) {
  R1_ASSIGN_OR_RETURN(rapidjson::Document doc, parse_json(json, where));
  if (!doc.IsObject()) return Status::error(where + ": expected a JSON object at the top level");
  Ctx c{where};
  auto d = std::make_shared<TokenizerData>();
  d->source = where;
  for (const char* key : {"truncation", "padding"})
    if (member(doc, key)) return c.error(key, "unsupported (must be null)");
  R1_RETURN_IF_ERROR(parse_normalizer(c, member(doc, "normalizer"), "normalizer", *d));
  R1_RETURN_IF_ERROR(parse_pre_tokenizer(c, member(doc, "pre_tokenizer"), *d));
  R1_RETURN_IF_ERROR(parse_decoder(c, member(doc, "decoder")));
  R1_RETURN_IF_ERROR(parse_model(c, member(doc, "model"), *d));
  R1_RETURN_IF_ERROR(parse_added_tokens(c, member(doc, "added_tokens"), *d));
  R1_RETURN_IF_ERROR(parse_post_processor(c, member(doc, "post_processor"), "post_processor", *d));
  build_id_tables(*d);
  return d;
}

}  // namespace r1
