// `diffuse train`: trains the description's network into --out (resuming from its checkpoint).
#include <iostream>
#include <memory>
#include <string>

#include "absl/flags/flag.h"
#include "absl/strings/str_format.h"
#include "tools/cli_common.h"
#include "tools/commands.h"
#include "training/trainer.h"
#include "util/status_macros.h"

namespace diffuse {

absl::Status TrainCommand() {
  ABSL_ASSIGN_OR_RETURN(std::unique_ptr<Pipeline> p, LoadPipeline());
  const std::string out = absl::GetFlag(FLAGS_out);
  if (out.empty()) return absl::InvalidArgumentError("--out (a directory) is required");
  ABSL_ASSIGN_OR_RETURN(TrainingSummary s, diffuse::Train(*p, out, &std::cerr));
  std::cout << absl::StrFormat("trained steps %d..%d in %.1f s, loss %.4f -> %.4f; wrote %s\n",
                               s.first_step, s.steps, s.seconds, s.first_loss, s.final_loss,
                               CheckpointPath(out));
  return absl::OkStatus();
}

}  // namespace diffuse
