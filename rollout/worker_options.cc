#include "rollout/worker_options.h"

namespace r1 {

const ConfigFields<RolloutWorkerOptions>& rollout_worker_options_fields() {
  using C = RolloutWorkerOptions;
  static const ConfigFields<C> fields =
      ConfigFields<C>("rollout worker options")
          .add("rollout_workers", &C::workers,
               "HOST:PORT of each `r1 rollout serve` to sample on (prompts are split across them; a worker that "
               "fails hands its prompts to the others); [] = sample in this process")
          .add("rollout_auth_key_file", &C::auth_key_file,
               "the workers' shared secret: a file only its owner may read (required with rollout_workers)")
          .add("rollout_timeout", &C::timeout_s, "seconds to wait for a worker's answer before dropping it")
          .add("rollout_heartbeat_timeout", &C::heartbeat_timeout_s,
               "seconds a worker may send no heartbeat while it samples before it is dropped");
  return fields;
}

Status check_rollout_worker_options(const RolloutWorkerOptions& o) {
  if (!o.workers.empty() && o.auth_key_file.empty())
    return field_error("rollout_auth_key_file", "is required with 'rollout_workers'");
  if (o.workers.empty() && !o.auth_key_file.empty())
    return field_error("rollout_auth_key_file", "is set but 'rollout_workers' is empty");
  return check_field_rules({
      {o.timeout_s > 0, "rollout_timeout", "> 0 seconds", o.timeout_s},
      {o.heartbeat_timeout_s > 0, "rollout_heartbeat_timeout", "> 0 seconds", o.heartbeat_timeout_s},
  });
}

}  // namespace r1
