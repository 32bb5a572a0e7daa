#include "train/ddp_options.h"

#include <string>

namespace r1 {

const ConfigFields<DdpOptions>& ddp_option_fields() {
  using C = DdpOptions;
  static const ConfigFields<C> fields =
      ConfigFields<C>("ddp options")
          .add("ddp_timeout", &C::timeout_s,
               "with several ranks: seconds a rank waits for the others at any collective before it fails naming "
               "it (transformers' name, 1800)")
          .add("ddp_backend", &C::backend,
               "with several ranks on GPUs: how CUDA tensors travel; auto = nccl when every rank has a GPU of its "
               "own, else gloo; nccl (an error when it cannot run); gloo (CPU tensors always go through gloo)")
          .add("ddp_bucket_cap_mb", &C::bucket_cap_mb,
               "with several ranks: gradients are all-reduced in buckets of at most this many MB (DDP's 25; the "
               "first at most 1 MB); with one stream per rank (the default on a GPU), each starts as soon as the "
               "backward of the rank's last micro-batch has finished its gradients")
          .add("ddp_check_weights", &C::check_weights,
               "with several ranks: compare a digest of the weights across ranks after every optimizer step (a "
               "debug mode; every checkpoint compares them)")
          .add("zero_stage", &C::zero_stage,
               "with several ranks: DeepSpeed's ZeRO stage; 0 = every rank holds the whole optimizer state; 1 = "
               "the fp32 master weights and AdamW's moments are sharded over the ranks (each holds about 1/N, "
               "steps its share and broadcasts the updated weights); checkpoints hold the whole state either way");
  return fields;
}

Status check_ddp_options(const DdpOptions& options) {
  R1_RETURN_IF_ERROR(check_field_rules({
      {options.timeout_s > 0, "ddp_timeout", "> 0 seconds", options.timeout_s},
      {options.bucket_cap_mb > 0, "ddp_bucket_cap_mb", "> 0", options.bucket_cap_mb},
      {options.zero_stage == 0 || options.zero_stage == 1, "zero_stage",
       "0 or 1 (stages 2 and 3, sharded gradients and weights, are not built)", double(options.zero_stage)},
  }));
  return check_ddp_backend(options.backend);
}

Status check_ddp_backend(const std::string& backend, const std::string& key) {
  return field_one_of(key, backend, {"auto", "gloo", "nccl"});
}

}  // namespace r1
