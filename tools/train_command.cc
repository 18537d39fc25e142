// `diffuse train`: trains the description's network into --out (resuming from its checkpoint).
#include <iostream>
#include <memory>
#include <string>

#include "absl/flags/flag.h"
#include "absl/strings/str_format.h"
#include "tools/cli_common.h"
#include "tools/verb.h"
#include "assembly/train.h"
#include "util/status_macros.h"

namespace diffuse {

absl::Status TrainCommand() {
  ABSL_ASSIGN_OR_RETURN(std::unique_ptr<Pipeline> p,
                        LoadPipeline({DescriptionKind::kDiffusion, DescriptionKind::kAutoencoder,
                                      DescriptionKind::kClassifier, DescriptionKind::kTextImage}));
  const std::string out = absl::GetFlag(FLAGS_out);
  if (out.empty()) return absl::InvalidArgumentError("--out (a directory) is required");
  ABSL_ASSIGN_OR_RETURN(TrainingSummary s, diffuse::Train(*p, out, &std::cerr));
  std::cout << TrainingSummaryLine("the network", s, out);
  return absl::OkStatus();
}

DIFFUSE_REGISTER_VERB("train", TrainCommand, /*trains=*/true);

}  // namespace diffuse
