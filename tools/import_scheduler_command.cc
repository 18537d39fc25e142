// `diffuse import-scheduler`: a diffusers scheduler_config.json as forward + reverse + sampler.
#include <iostream>
#include <string>

#include "absl/flags/flag.h"
#include "tools/cli_common.h"
#include "tools/verb.h"
#include "tools/import_scheduler.h"
#include "util/atomic_file.h"
#include "util/status_macros.h"

ABSL_FLAG(std::string, scheduler_config, "",
          "import-scheduler: a diffusers scheduler_config.json.");
ABSL_FLAG(int, num_steps, 50, "import-scheduler: inference steps (num_inference_steps).");

namespace diffuse {

// Prints (or writes to --out) the forward + reverse + sampler sections.
absl::Status ImportSchedulerCommand() {
  const std::string path = absl::GetFlag(FLAGS_scheduler_config);
  if (path.empty()) return absl::InvalidArgumentError("--scheduler_config is required");
  ABSL_ASSIGN_OR_RETURN(std::string json, ReadFile(path));
  ABSL_ASSIGN_OR_RETURN(ImportedScheduler imported,
                        ImportScheduler(json, path, absl::GetFlag(FLAGS_num_steps)));
  const std::string out = absl::GetFlag(FLAGS_out);
  if (out.empty()) {
    std::cout << imported.text;
    return absl::OkStatus();
  }
  ABSL_RETURN_IF_ERROR(WriteFileAtomically(out, imported.text));
  std::cout << "wrote " << out << "\n";
  return absl::OkStatus();
}

DIFFUSE_REGISTER_VERB("import-scheduler", ImportSchedulerCommand, /*trains=*/false);

}  // namespace diffuse
