#include "training/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>
#include <optional>

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/grad_mode.h>
#include <torch/nn/module.h>
#include <torch/nn/utils/clip_grad.h>
#include <torch/optim/adam.h>
#include <torch/optim/adamw.h>
#include <torch/optim/optimizer.h>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "data/dataset.h"
#include "google/protobuf/text_format.h"
#include "pipeline/trained_description.h"
#include "random/noise_source.h"
#include "training/checkpoint.h"
#include "training/data_parallel.h"
#include "training/description_identity.h"
#include "training/objective.h"
#include "util/atomic_file.h"
#include "util/run_control.h"
#include "util/status_macros.h"

namespace diffuse {
namespace {

std::string Clock(double seconds) {
  const int64_t s = static_cast<int64_t>(std::max(0.0, seconds));
  return absl::StrFormat("%d:%02d:%02d", s / 3600, (s / 60) % 60, s % 60);
}

// metrics.csv rows up to `step` (a resumed run rewrites what came after its checkpoint),
// in the columns of `header` (without its newline). Rows written under another header (a
// column added since, e.g. prior_kl) are mapped by column name, "nan" where the old file
// had none. The file is a log, not state: lines that do not start with a step number or do
// not match their header (a damaged file) are dropped and counted, never fatal.
std::vector<std::string> ReadMetricRows(const std::string& path, int64_t step,
                                        const std::string& header, int* dropped) {
  const std::vector<std::string> columns = absl::StrSplit(header, ',');
  std::vector<std::string> file_columns = columns;
  std::vector<std::string> rows;
  std::ifstream in(path);
  std::string line;
  *dropped = 0;
  bool first = true;
  while (std::getline(in, line)) {
    if (first && absl::StartsWith(line, "step,")) {
      file_columns = absl::StrSplit(line, ',');
      first = false;
      continue;
    }
    first = false;
    int64_t row_step = 0;
    const std::vector<std::string> fields = absl::StrSplit(line, ',');
    if (fields.size() != file_columns.size() || !absl::SimpleAtoi(fields[0], &row_step)) {
      ++*dropped;
      continue;
    }
    if (row_step > step) continue;
    if (file_columns == columns) {
      rows.push_back(line);
      continue;
    }
    std::vector<std::string> mapped;
    for (const std::string& column : columns) {
      const auto at = std::find(file_columns.begin(), file_columns.end(), column);
      mapped.push_back(at == file_columns.end() ? "nan" : fields[at - file_columns.begin()]);
    }
    rows.push_back(absl::StrJoin(mapped, ","));
  }
  return rows;
}

// metrics.csv: the rows a resumed run keeps, then one row per logging step, rewritten
// atomically by rank 0.
class MetricsLog {
 public:
  MetricsLog(const std::string& out_dir, const std::vector<std::string>& term_names,
             int64_t resumed_step, std::ostream* progress)
      : path_(out_dir + "/metrics.csv"),
        header_(absl::StrCat("step,loss,", absl::StrJoin(term_names, ","),
                             term_names.empty() ? "" : ",", "steps_per_second,elapsed_seconds")) {
    int dropped = 0;
    rows_ = ReadMetricRows(path_, resumed_step, header_, &dropped);
    if (dropped > 0 && progress != nullptr) {
      *progress << path_ << ": dropped " << dropped
                << " malformed line(s); the file is rewritten at the next log step" << std::endl;
    }
  }
  absl::Status Append(int64_t step, double loss, const std::vector<std::string>& terms,
                      double rate, double elapsed, bool write) {
    rows_.push_back(absl::StrCat(absl::StrFormat("%d,%.6f,", step, loss),
                                 absl::StrJoin(terms, ","), terms.empty() ? "" : ",",
                                 absl::StrFormat("%.2f,%.3f", rate, elapsed)));
    if (!write) return absl::OkStatus();
    return WriteFileAtomically(path_,
                               absl::StrCat(header_, "\n", absl::StrJoin(rows_, "\n"), "\n"));
  }

 private:
  std::string path_, header_;
  std::vector<std::string> rows_;
};

// Rank 0's hold on out_dir (a second trainer there stops with a named error) after
// removing a killed run's partial files; none on the other ranks.
absl::StatusOr<std::optional<DirectoryLock>> OpenRunDirectory(const std::string& out_dir,
                                                              const DataParallel& ranks,
                                                              int64_t batch,
                                                              std::ostream* progress) {
  ABSL_RETURN_IF_ERROR(MakeDirs(out_dir));
  std::optional<DirectoryLock> lock;
  if (!ranks.is_main()) return lock;
  ABSL_ASSIGN_OR_RETURN(DirectoryLock held, DirectoryLock::Acquire(out_dir));
  lock.emplace(std::move(held));
  if (const int stale = RemoveStaleTemporaries(out_dir); stale > 0 && progress != nullptr) {
    *progress << "removed " << stale << " partial file(s) of a killed run in " << out_dir
              << std::endl;
  }
  if (ranks.world_size() > 1 && progress != nullptr) {
    *progress << "data parallel: " << ranks.world_size() << " ranks, batch " << batch << " ("
              << ranks.ShardSize(batch) << " per rank)" << std::endl;
  }
  return lock;
}

// Loads out_dir's checkpoint into the run when there is one (it must come from the same
// description); false when there is none.
absl::StatusOr<bool> Resume(const TrainingRun& run, const std::string& checkpoint,
                            torch::optim::Optimizer& optimizer, at::Generator& generator,
                            TrainingState* state) {
  google::protobuf::TextFormat::PrintToString(*run.config, &state->pipeline_text);
  if (!FileExists(checkpoint)) return false;
  ABSL_RETURN_IF_ERROR(LoadCheckpoint(checkpoint, *run.module, &optimizer, state));
  if (absl::Status same = CheckTrainedFrom(checkpoint, state->pipeline_text, *run.config,
                                           run.objective->reads_trained_prior()
                                               ? CheckpointUse::kResumeWithTrainingPrior
                                               : CheckpointUse::kResume);
      !same.ok()) {
    return absl::Status(same.code(),
                        absl::StrCat(same.message(), "; use another --out or remove it"));
  }
  generator.set_state(state->generator_state);
  google::protobuf::TextFormat::PrintToString(*run.config, &state->pipeline_text);
  return true;
}

// After the objective's Prepare: a resumed run restores the objective's state; a fresh one
// lets the objective set the initial weights, then starts the EMA at them.
absl::Status StartObjective(const TrainingRun& run, bool resumed, const std::string& checkpoint,
                            TrainingState* state) {
  if (resumed) {
    if (absl::Status restored = run.objective->RestoreState(state->objective_state);
        !restored.ok()) {
      return absl::Status(restored.code(),
                          absl::StrCat("checkpoint ", checkpoint, ": ", restored.message()));
    }
    return absl::OkStatus();
  }
  ABSL_RETURN_IF_ERROR(run.objective->InitializeWeights());
  at::NoGradGuard no_grad;
  for (const at::Tensor& param : run.module->parameters()) state->ema.push_back(param.clone());
  return absl::OkStatus();
}

// One optimizer update from `loss`: gradients averaged over the ranks, clipped, the
// learning rate of `step`, then the EMA.
absl::Status Update(const TrainingOptions& o, int64_t step, const at::Tensor& loss,
                    const std::vector<at::Tensor>& params, torch::optim::Optimizer& optimizer,
                    DataParallel& ranks, std::vector<at::Tensor>& ema) {
  optimizer.zero_grad();
  loss.backward();
  ABSL_RETURN_IF_ERROR(ranks.AverageGradients(params));
  if (o.grad_clip_norm() > 0) torch::nn::utils::clip_grad_norm_(params, o.grad_clip_norm());
  if (o.warmup_steps() > 0 || o.lr_schedule() != TrainingOptions::CONSTANT) {
    for (auto& group : optimizer.param_groups()) group.options().set_lr(LearningRate(o, step));
  }
  optimizer.step();
  at::NoGradGuard no_grad;
  const double decay = EmaDecay(o, step);
  for (size_t i = 0; i < params.size(); ++i) ema[i].mul_(decay).add_(params[i], 1 - decay);
  return absl::OkStatus();
}

}  // namespace

double LearningRate(const TrainingOptions& o, int64_t step) {
  const double base = o.learning_rate();
  if (step < o.warmup_steps()) return base * (step + 1) / o.warmup_steps();
  if (o.lr_schedule() == TrainingOptions::CONSTANT) return base;
  const int64_t span = o.steps() - o.warmup_steps();
  const double progress =
      span > 1 ? static_cast<double>(step - o.warmup_steps()) / (span - 1) : 1.0;
  const double final_lr = base * o.final_lr_ratio();
  return final_lr + 0.5 * (base - final_lr) * (1 + std::cos(M_PI * std::min(1.0, progress)));
}

double EmaDecay(const TrainingOptions& o, int64_t step) {
  if (!o.ema_warmup()) return o.ema_decay();
  return std::min(o.ema_decay(), (1.0 + step) / (10.0 + step));
}


absl::Status CheckTrainingOptions(const PipelineConfig& config) {
  const TrainingOptions& o = config.training();
  auto bad = [](const std::string& what) {
    return absl::InvalidArgumentError(absl::StrCat("training.", what));
  };
  if (!config.has_training()) return absl::InvalidArgumentError("pipeline has no 'training' section");
  if (o.steps() < 1) return bad(absl::StrCat("steps = ", o.steps(), " must be >= 1"));
  if (o.batch_size() < 1) return bad(absl::StrCat("batch_size = ", o.batch_size(), " must be >= 1"));
  if (!(o.learning_rate() > 0)) return bad("learning_rate must be > 0");
  if (!(o.ema_decay() >= 0 && o.ema_decay() < 1)) return bad("ema_decay must be in [0, 1)");
  if (!(o.condition_dropout() >= 0 && o.condition_dropout() <= 1)) {
    return bad("condition_dropout must be in [0, 1]");
  }
  if (o.log_every() < 1) return bad("log_every must be >= 1");
  if (!(o.caption_word_dropout() >= 0 && o.caption_word_dropout() <= 1)) {
    return bad(absl::StrCat("caption_word_dropout = ", o.caption_word_dropout(),
                            " must be in [0, 1]"));
  }
  if (!(o.weight_decay() >= 0 && o.weight_decay() <= 1)) {
    return bad(absl::StrCat("weight_decay = ", o.weight_decay(), " must be in [0, 1]"));
  }
  if (o.warmup_steps() < 0) return bad("warmup_steps must be >= 0");
  if (!(o.final_lr_ratio() >= 0 && o.final_lr_ratio() <= 1)) {
    return bad(absl::StrCat("final_lr_ratio = ", o.final_lr_ratio(), " must be in [0, 1]"));
  }
  if (!(o.grad_clip_norm() >= 0)) return bad("grad_clip_norm must be >= 0");
  if (!(o.min_snr_gamma() > 0 && o.min_snr_gamma() <= 1000)) {
    return bad("min_snr_gamma must be in (0, 1000]");
  }
  if (!(o.sigma_data() > 0 && o.sigma_data() <= 1000)) return bad("sigma_data must be in (0, 1000]");
  if (o.checkpoint_every() < 1) return bad("checkpoint_every must be >= 1");
  return absl::OkStatus();
}

TrainedNetwork PrepareTraining(torch::nn::Module& module, const TrainingOptions& o) {
  const at::ScalarType type = o.dtype() == FLOAT64 ? at::kDouble : at::kFloat;
  module.to(type);  // before the optimizer and the EMA copy: both hold this type
  module.train();
  // AdamW only with weight decay: at 0 it equals Adam, whose checkpoints stay resumable.
  TrainedNetwork network{&module, nullptr, type};
  if (o.weight_decay() > 0) {
    network.optimizer = std::make_unique<torch::optim::AdamW>(
        module.parameters(), torch::optim::AdamWOptions(o.learning_rate())
                                 .betas({o.adam_beta1(), o.adam_beta2()})
                                 .weight_decay(o.weight_decay()));
  } else {
    network.optimizer = std::make_unique<torch::optim::Adam>(
        module.parameters(),
        torch::optim::AdamOptions(o.learning_rate()).betas({o.adam_beta1(), o.adam_beta2()}));
  }
  return network;
}

absl::StatusOr<TrainingSummary> Train(const TrainingRun& run, const std::string& out_dir,
                                      std::ostream* progress) {
  ABSL_RETURN_IF_ERROR(CheckTrainingOptions(*run.config));
  const TrainingOptions& o = run.config->training();
  TrainingObjective& objective = *run.objective;
  ABSL_ASSIGN_OR_RETURN(std::unique_ptr<DataParallel> ranks,
                        DataParallel::FromEnvironment(o.batch_size()));
  // Rank 0 alone writes (checkpoints, metrics) and reports; every rank reads the checkpoint.
  if (!ranks->is_main()) progress = nullptr;
  ABSL_ASSIGN_OR_RETURN(std::optional<DirectoryLock> lock,
                        OpenRunDirectory(out_dir, *ranks, o.batch_size(), progress));
  StopOnSignals stop;
  TrainedNetwork network = PrepareTraining(*run.module, o);
  torch::optim::Optimizer& optimizer = *network.optimizer;
  at::Generator generator = at::detail::createCPUGenerator(o.seed());
  GeneratorNoise noise(generator);
  TrainingState state;
  const std::string checkpoint = CheckpointPath(out_dir);
  ABSL_ASSIGN_OR_RETURN(const bool resumed,
                        Resume(run, checkpoint, optimizer, generator, &state));
  MetricsLog metrics(out_dir, objective.TermNames(), state.step, progress);
  ABSL_RETURN_IF_ERROR(objective.CheckDataParallel(ranks->world_size()));
  ABSL_RETURN_IF_ERROR(objective.Prepare());
  ABSL_RETURN_IF_ERROR(StartObjective(run, resumed, checkpoint, &state));

  TrainingSummary summary;
  summary.first_step = state.step;
  summary.wrote_checkpoint = ranks->is_main();
  const int64_t batch = o.batch_size();
  ObjectiveStep input;
  input.generator = &generator;
  input.noise = &noise;
  input.shard_begin = ranks->ShardBegin(batch);
  input.shard_size = ranks->ShardSize(batch);
  input.dtype = network.dtype;
  const std::vector<at::Tensor> params = run.module->parameters();
  const auto start = std::chrono::steady_clock::now();
  // The window's sums of the loss and of the objective's step terms.
  double window_loss = 0;
  std::vector<double> window_terms(objective.StepTermCount(), 0.0);
  int64_t window_count = 0;
  for (int64_t step = state.step; step < o.steps();) {
    const DataBatch data = run.data->Sample(batch, generator);
    input.data = &data;
    input.step = step;
    // Real-valued data in the training type (float64 runs); token data stays int64.
    input.x0 = input.Shard(at::isFloatingType(data.x.scalar_type()) ? data.x.to(input.dtype)
                                                                     : data.x);
    ABSL_ASSIGN_OR_RETURN(ObjectiveValue value, objective.Loss(input));
    // The loss over the whole batch, whether any rank was asked to stop, and the terms.
    std::vector<double> local = {value.loss.item<double>(), stop.requested() != 0 ? 1.0 : 0.0};
    for (const at::Tensor& term : value.terms) local.push_back(term.item<double>());
    ABSL_ASSIGN_OR_RETURN(const std::vector<double> shared, ranks->Mean(local));
    if (!std::isfinite(shared[0])) {
      return absl::InvalidArgumentError(absl::StrCat(
          "training: loss is ", shared[0], " at step ", step + 1, "; stopped, the last good ",
          "checkpoint (step ", state.step, ") is kept in ", checkpoint));
    }
    ABSL_RETURN_IF_ERROR(Update(o, step, value.loss, params, optimizer, *ranks, state.ema));
    ++step;
    window_loss += shared[0];
    for (size_t i = 0; i < window_terms.size(); ++i) window_terms[i] += shared[2 + i];
    ++window_count;
    if (step % o.log_every() == 0 || step == o.steps()) {
      const double mean = window_loss / window_count;
      if (window_count == step - summary.first_step) summary.first_loss = mean;
      summary.final_loss = mean;
      std::vector<double> means;
      for (double sum : window_terms) means.push_back(sum / window_count);
      ABSL_ASSIGN_OR_RETURN(std::vector<double> logged,
                            objective.LoggingStepTerms(input.x0, step));
      if (!logged.empty()) {
        ABSL_ASSIGN_OR_RETURN(logged, ranks->Mean(logged));
      }
      means.insert(means.end(), logged.begin(), logged.end());
      std::vector<std::string> fields;
      std::string terms;
      objective.Report(means, &fields, &terms);
      window_loss = 0;
      std::fill(window_terms.begin(), window_terms.end(), 0.0);
      window_count = 0;
      const double elapsed =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      const double rate = (step - summary.first_step) / std::max(elapsed, 1e-9);
      ABSL_RETURN_IF_ERROR(metrics.Append(step, mean, fields, rate, elapsed, ranks->is_main()));
      if (progress != nullptr) {
        *progress << absl::StrFormat(
                         "step %*d/%d | loss %.4f%s | lr %.2e | %.3g steps/s | "
                         "%.0f examples/s | elapsed %s | ETA %s",
                         static_cast<int>(std::to_string(o.steps()).size()), step, o.steps(),
                         mean, terms, LearningRate(o, step - 1), rate, rate * batch,
                         Clock(elapsed), Clock((o.steps() - step) / rate))
                  << std::endl;
      }
    }
    // A stop asked of any rank stops all of them after the same step.
    // (One process also honours a signal that arrived during this step's logging.)
    const bool stopping = shared[1] > 0 || (ranks->world_size() == 1 && stop.requested() != 0);
    if (ranks->is_main() && (step % o.checkpoint_every() == 0 || step == o.steps() || stopping)) {
      state.step = step;
      state.generator_state = generator.get_state();
      state.objective_state = objective.State();
      ABSL_RETURN_IF_ERROR(SaveCheckpoint(checkpoint, *run.module, optimizer, state));
    }
    if (stopping && step < o.steps()) {
      const int signal = stop.requested();
      return absl::CancelledError(absl::StrCat(
          "training stopped by ", signal != 0 ? strsignal(signal) : "another rank's stop",
          " after step ", step, " of ", o.steps(), "; checkpoint written to ", checkpoint,
          " (the same command resumes)"));
    }
  }
  summary.steps = o.steps();
  summary.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (ranks->world_size() > 1 && progress != nullptr && summary.steps > summary.first_step) {
    const int64_t steps = summary.steps - summary.first_step;
    *progress << absl::StrFormat(
                     "data parallel: all-reduce %.2f s of %.2f s (%.1f%%, waiting for the "
                     "slower rank included), %.2f MB sent per rank per step",
                     ranks->seconds_in_collectives(), summary.seconds,
                     100 * ranks->seconds_in_collectives() / std::max(summary.seconds, 1e-9),
                     ranks->bytes_reduced() / 1e6 / steps)
              << std::endl;
  }
  UseEmaWeights(*run.module, state.ema);
  run.module->eval();
  return summary;
}

}  // namespace diffuse
