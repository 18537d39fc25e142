// `diffuse train-evaluator`: the evaluation network of an image folder (eval/
// image_evaluator.h) behind `image-eval`, trained on the training split of --pipeline's
// data with one head per attribute column, scored on its test split.
#include <iostream>
#include <string>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "assembly/builder.h"
#include "eval/image_evaluator.h"
#include "tools/cli_common.h"
#include "tools/verb.h"
#include "util/atomic_file.h"
#include "util/status_macros.h"

ABSL_FLAG(int, evaluator_epochs, 15, "train-evaluator: epochs over the training split.");

namespace diffuse {

absl::Status TrainEvaluatorCommand() {
  const std::string out = absl::GetFlag(FLAGS_out);
  if (out.empty()) return absl::InvalidArgumentError("--out (a directory) is required");
  ABSL_ASSIGN_OR_RETURN(const PipelineConfig config,
                        LoadPipelineFile(absl::GetFlag(FLAGS_pipeline)));
  ABSL_ASSIGN_OR_RETURN(std::unique_ptr<Dataset> train,
                        ImageFolderSplit(config, "train", "--pipeline"));
  ABSL_ASSIGN_OR_RETURN(std::unique_ptr<Dataset> test, ImageFolderSplit(config, "test", "--pipeline"));
  EvaluatorTrainingOptions options;
  options.epochs = absl::GetFlag(FLAGS_evaluator_epochs);
  options.seed = config.training().seed();
  ABSL_ASSIGN_OR_RETURN(EvaluatorReport r,
                        TrainImageEvaluator(*train, *test, options, out, &std::cerr));
  std::string summary = absl::StrFormat(
      "image evaluator: %d steps (%d epochs, batch %d) on %d training pictures, %.1f s this "
      "run; test-split accuracy (%d pictures, known values):",
      r.steps, options.epochs, options.batch_size, train->num_examples(), r.seconds,
      test->num_examples());
  const std::vector<DataAttribute> heads = train->attributes();
  for (size_t h = 0; h < heads.size(); ++h) {
    absl::StrAppendFormat(&summary, " %s %.3f (%d values)", heads[h].name, r.test_accuracy[h],
                          heads[h].values.size());
  }
  summary += "\n";
  ABSL_RETURN_IF_ERROR(WriteFileAtomically(out + "/evaluator.txt", summary));
  std::cout << summary << "wrote " << out << "/evaluator.pt, " << out << "/evaluator.txt\n";
  return absl::OkStatus();
}

DIFFUSE_REGISTER_VERB("train-evaluator", TrainEvaluatorCommand, /*trains=*/true);

}  // namespace diffuse
