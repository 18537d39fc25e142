#include "eval/epoch_training.h"

#include <sys/stat.h>

#include <chrono>
#include <cstring>
#include <vector>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/nn/module.h>
#include <torch/optim/adam.h>
#include <torch/types.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "training/checkpoint.h"
#include "util/atomic_file.h"
#include "util/run_control.h"
#include "util/status_macros.h"

namespace diffuse {
namespace {

// "trained with 'a', not 'b'" for the first line where two descriptions differ.
std::string FirstDifference(const std::string& had, const std::string& want) {
  const std::vector<std::string> a = absl::StrSplit(had, '\n'), b = absl::StrSplit(want, '\n');
  for (size_t i = 0; i < std::max(a.size(), b.size()); ++i) {
    const std::string x = i < a.size() ? a[i] : "", y = i < b.size() ? b[i] : "";
    if (x != y) return absl::StrCat("was trained with '", x, "', not '", y, "'");
  }
  return "was trained with the same description";
}

}  // namespace

absl::StatusOr<EpochTrainingResult> TrainEpochs(const EpochTraining& o, torch::nn::Module& module,
                                                const EpochDraws& draws, const BatchLoss& batch_loss,
                                                std::ostream* progress) {
  if (o.epochs < 1 || o.batch_size < 1 || !(o.learning_rate > 0) || o.log_every < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        o.what, " epochs, batch_size, learning_rate and log_every must be > 0"));
  }
  ABSL_RETURN_IF_ERROR(MakeDirs(o.dir));
  // One trainer per directory, as for `train` (util/run_control.h).
  ABSL_ASSIGN_OR_RETURN(DirectoryLock lock, DirectoryLock::Acquire(o.dir));
  RemoveStaleTemporaries(o.dir);
  const std::string path = absl::StrCat(o.dir, "/", o.file);
  torch::optim::Adam optimizer(module.parameters(), torch::optim::AdamOptions(o.learning_rate));
  at::Generator gen = at::detail::createCPUGenerator(o.seed);
  TrainingState state;
  state.pipeline_text = o.description;
  struct stat info;
  if (stat(path.c_str(), &info) == 0) {
    TrainingState loaded;
    ABSL_RETURN_IF_ERROR(LoadCheckpoint(path, module, &optimizer, &loaded));
    if (loaded.pipeline_text != state.pipeline_text) {
      return absl::FailedPreconditionError(absl::StrCat(
          path, " ", FirstDifference(loaded.pipeline_text, state.pipeline_text),
          "; use another directory"));
    }
    state.step = loaded.step;
    gen.set_state(loaded.generator_state);
  }
  const int64_t steps_per_epoch = (o.examples + o.batch_size - 1) / o.batch_size;
  const int64_t total = o.epochs * steps_per_epoch;
  if (progress != nullptr && state.step > 0) {
    *progress << "resuming the " << o.what << " at step " << state.step << " of " << total << "\n";
  }
  const auto start = std::chrono::steady_clock::now();
  const int64_t first_step = state.step;
  StopOnSignals stop;
  auto stopped = [&] {
    return absl::CancelledError(absl::StrCat(
        o.what, " training stopped by ", strsignal(stop.requested()), " after step ",
        state.step, " of ", total, "; checkpoint written to ", path,
        " (the same command resumes)"));
  };
  while (state.step < total) {
    const int64_t epoch = state.step / steps_per_epoch;
    state.generator_state = gen.get_state();
    const at::Tensor order = torch::randperm(o.examples, gen, torch::kLong);
    if (draws) draws(gen);
    module.train();
    double loss_sum = 0;
    int64_t batches = 0;
    for (int64_t b = state.step % steps_per_epoch; b < steps_per_epoch; ++b) {
      at::manual_seed(o.seed * 1000003 + state.step);  // dropout: any step resumes exactly
      const at::Tensor loss =
          batch_loss(order.slice(0, b * o.batch_size, (b + 1) * o.batch_size), b);
      optimizer.zero_grad();
      loss.backward();
      optimizer.step();
      ++state.step;
      loss_sum += loss.item<double>();
      ++batches;
      if (progress != nullptr && state.step % o.log_every == 0) {
        const double seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        const double rate = (state.step - first_step) / seconds;
        *progress << absl::StrFormat("%s step %d/%d  %.0f img/s  ETA %.0f s  loss %.4f\n",
                                     o.what, state.step, total, rate * o.batch_size,
                                     (total - state.step) / rate, loss_sum / batches);
      }
      if (stop.requested() != 0 && b + 1 < steps_per_epoch) {
        ABSL_RETURN_IF_ERROR(SaveCheckpoint(path, module, optimizer, state));
        return stopped();
      }
    }
    state.generator_state = gen.get_state();
    ABSL_RETURN_IF_ERROR(SaveCheckpoint(path, module, optimizer, state));
    if (progress != nullptr) {
      *progress << absl::StrFormat("epoch %d done, mean loss %.4f; wrote %s\n", epoch + 1,
                                   batches > 0 ? loss_sum / batches : 0.0, path);
    }
    if (stop.requested() != 0 && state.step < total) return stopped();
  }
  EpochTrainingResult result;
  result.steps = state.step;
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

}  // namespace diffuse
