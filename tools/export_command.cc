// `diffuse export`: a checkpoint's EMA weights (or with --noema the trained ones) as
// .safetensors, for Python.
#include <iostream>
#include <memory>
#include <string>

#include "absl/flags/flag.h"
#include "absl/strings/match.h"
#include "tools/cli_common.h"
#include "tools/verb.h"
#include "assembly/weights_file.h"
#include "util/status_macros.h"

ABSL_FLAG(bool, ema, true,
          "export: the EMA weights (for sampling); --noema: the optimizer's own weights.");

namespace diffuse {

absl::Status ExportCommand() {
  const std::string checkpoint = absl::GetFlag(FLAGS_checkpoint);
  const std::string out = absl::GetFlag(FLAGS_out);
  if (checkpoint.empty()) return absl::InvalidArgumentError("--checkpoint is required");
  if (!absl::EndsWith(out, ".safetensors")) {
    return absl::InvalidArgumentError("--out must name a .safetensors file");
  }
  ABSL_ASSIGN_OR_RETURN(std::unique_ptr<Pipeline> p, LoadPipeline());
  ABSL_RETURN_IF_ERROR(CheckOutputFolders({{"--out", out}}));
  ABSL_RETURN_IF_ERROR(ExportWeights(*p, checkpoint, out, absl::GetFlag(FLAGS_ema)));
  std::cout << "wrote " << out << "\n";
  return absl::OkStatus();
}

DIFFUSE_REGISTER_VERB("export", ExportCommand, /*trains=*/false);

}  // namespace diffuse
