// The help of the ddp_* keys (transformers' TrainingArguments names) that
// the rl and sft configs share: one wording for both tables. The keys
// become ProcessGroupOptions (train/process_group.h).
#pragma once

namespace r1 {

inline constexpr const char* kDdpTimeoutHelp =
    "with several ranks: seconds a rank waits for the others at any collective before it fails naming it "
    "(transformers' name, 1800)";
inline constexpr const char* kDdpBackendHelp =
    "with several ranks on GPUs: how CUDA tensors travel; auto = nccl when every rank has a GPU of its own, else "
    "gloo; nccl (an error when it cannot run); gloo (CPU tensors always go through gloo)";
inline constexpr const char* kDdpBucketCapHelp =
    "with several ranks: gradients are all-reduced in buckets of at most this many MB (DDP's 25; the first at most "
    "1 MB); with one stream per rank (the default on a GPU), each starts as soon as the backward of the rank's last "
    "micro-batch has finished its gradients";

}  // namespace r1
