#include "model/model_init.h"

#include <algorithm>
#include <filesystem>

#include "model/bpe_trainer.h"
#include "model/tokenizer.h"
#include "model/transformer.h"
#include "util/file.h"

namespace r1 {

Result<ModelConfig> init_model(const ModelInitOptions& o, const std::string& out) {
  if (o.dtype != "float32" && o.dtype != "bfloat16" && o.dtype != "float16")
    return Status::error("dtype must be float32, bfloat16 or float16, got '" + o.dtype + "'");
  ModelConfig config = o.config;
  BpeTrainerOptions trainer;
  // Without a corpus: the special tokens and the 256 bytes, no merges.
  trainer.vocab_size = o.corpus.empty() ? 256 + static_cast<int64_t>(trainer.special_tokens.size()) : o.tokenizer_vocab;
  trainer.model_max_length = config.max_position_embeddings;
  std::string staging = out + ".tokenizer.tmp";
  R1_RETURN_IF_ERROR(make_dirs(staging));
  R1_RETURN_IF_ERROR(write_tokenizer_files(staging, o.corpus, trainer));
  R1_ASSIGN_OR_RETURN(Tokenizer tokenizer, Tokenizer::load(staging));
  config.vocab_size = std::max(o.vocab_size, tokenizer.vocab_size());
  config.eos_token_ids = {*tokenizer.token_to_id(trainer.eos_token), *tokenizer.token_to_id(trainer.pad_token)};
  config.pad_token_id = *tokenizer.token_to_id(trainer.pad_token);
  Transformer model = Transformer::random(config, o.seed);
  if (o.dtype != "float32") {
    at::ScalarType dtype = o.dtype == "bfloat16" ? at::kBFloat16 : at::kHalf;
    R1_ASSIGN_OR_RETURN(model, Transformer::from_tensors(config, model.tensors(), LoadOptions{dtype, false}));
  }
  R1_RETURN_IF_ERROR(model.save(out, staging));
  std::filesystem::remove_all(staging);
  return config;
}

}  // namespace r1
