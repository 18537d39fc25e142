// `diffuse train-classifier`: the Fashion-MNIST evaluation classifier behind `eval --classifier`.
#include <iostream>
#include <string>

#include "absl/flags/flag.h"
#include "absl/strings/str_format.h"
#include "eval/fashion_classifier.h"
#include "tools/cli_common.h"
#include "tools/verb.h"
#include "util/atomic_file.h"
#include "util/status_macros.h"

ABSL_FLAG(int, epochs, 3, "train-classifier: epochs over the 60,000 training images.");

namespace diffuse {

absl::Status TrainClassifierCommand() {
  const std::string out = absl::GetFlag(FLAGS_out);
  if (out.empty()) return absl::InvalidArgumentError("--out (a directory) is required");
  ClassifierTrainingOptions options;
  options.data_dir = absl::GetFlag(FLAGS_data_dir);
  options.epochs = absl::GetFlag(FLAGS_epochs);
  ABSL_ASSIGN_OR_RETURN(ClassifierReport r, TrainFashionClassifier(options, out, &std::cerr));
  const std::string summary = absl::StrFormat(
      "evaluation classifier: %d steps (%d epochs, batch %d), %.1f s this run, test accuracy "
      "%.4f\n", r.steps, options.epochs, options.batch_size, r.seconds, r.test_accuracy);
  ABSL_RETURN_IF_ERROR(WriteFileAtomically(out + "/classifier.txt", summary));
  std::cout << summary << "wrote " << out << "/classifier.pt, " << out << "/classifier.txt\n";
  return absl::OkStatus();
}

DIFFUSE_REGISTER_VERB("train-classifier", TrainClassifierCommand, /*trains=*/true);

}  // namespace diffuse
