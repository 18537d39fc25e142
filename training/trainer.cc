#include "training/trainer.h"

#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <cmath>
#include <fstream>
#include <optional>
#include <sstream>

#include <ATen/core/grad_mode.h>
#include <torch/nn/module.h>
#include <torch/nn/utils/clip_grad.h>
#include <torch/optim/adam.h>
#include <torch/optim/adamw.h>
#include <torch/optim/optimizer.h>
#include <torch/types.h>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "assembly/elbo.h"
#include "data/captioner.h"
#include "forward/gaussian.h"
#include "google/protobuf/text_format.h"
#include "models/decoder.h"
#include "models/gaussian_latent.h"
#include "models/mmd.h"
#include "models/prompts.h"
#include "models/trainable_model.h"
#include "pipeline/trained_description.h"
#include "random/noise_source.h"
#include "training/checkpoint.h"
#include "training/data_parallel.h"
#include "training/description_identity.h"
#include "util/atomic_file.h"
#include "util/run_control.h"
#include "util/status_macros.h"

namespace diffuse {
namespace {

std::string Clock(double seconds) {
  const int64_t s = static_cast<int64_t>(std::max(0.0, seconds));
  return absl::StrFormat("%d:%02d:%02d", s / 3600, (s / 60) % 60, s % 60);
}

}  // namespace

at::Tensor LossWeights(const Pipeline& p, TrainableModel& model, const Time& t, int64_t batch) {
  const TrainingOptions& o = p.config.training();
  if (o.loss_weighting() == TrainingOptions::PLAIN) return torch::ones({batch});
  const GaussianCoefficients& g = *p.forward->gaussian();
  const at::Tensor alpha = AlphaTensor(g, t).expand({batch});
  const at::Tensor sigma = SigmaTensor(g, t).expand({batch});
  at::Tensor x0_weight;
  if (o.loss_weighting() == TrainingOptions::MIN_SNR) {
    x0_weight = (alpha / sigma).pow(2).clamp_max(o.min_snr_gamma());
  } else {
    const double sd2 = o.sigma_data() * o.sigma_data();
    const at::Tensor sigma_bar2 = sd2 * sigma * sigma / (alpha * alpha * sd2 + sigma * sigma);
    x0_weight = 0.5 / sigma_bar2;
  }
  return (x0_weight / model.X0LossScale(t, batch)).to(torch::kFloat32);
}

namespace {

// The latent regularizers' coefficients, from training.latent_kl_weight or
// training.info_diffusion, and which terms metrics.csv logs.
struct LatentObjective {
  double kl = 0;   // on E KL(q(z | x0) || N(0, I)) (nats per sample)
  double mmd = 0;  // on MMD^2(q(z), N(0, I)) over the batch
  MmdKernel kernel = MmdKernel::kInverseMultiquadric;
  bool log_kl = false, log_mmd = false;
  bool log_reconstruction = false;  // an autoencoder's -log p(x0 | z) and its squared error
  bool log_accuracy = false;        // a noisy classifier's accuracy on the batch
  // The ELBO's diffusion prior term KL(q(x_T | x0) || N(0, I)) (nats per sample; logged, not
  // optimized: no weight reaches it) at alpha(T), sigma(T), in the seed's latent framework
  // (a KL or MMD regularized z) with a Gaussian forward process that starts at N(0, I).
  bool log_prior_kl = false;
  double terminal_alpha = 0, terminal_sigma = 1;
  // With it, and a pipeline assembly/elbo.h reads, the ELBO's other two terms (diffusion
  // reconstruction, denoising; nats per sample) of the logging step's batch under the current
  // weights, one draw of t per example past the first 20 steps (logged, not optimized).
  bool log_elbo = false;
};

LatentObjective LatentObjectiveOf(const Pipeline& p) {
  const TrainingOptions& o = p.config.training();
  LatentObjective objective;
  objective.kl = o.latent_kl_weight();
  if (o.has_info_diffusion()) {
    const InfoDiffusionOptions& info = o.info_diffusion();
    objective.kl = 1 - info.mutual_information_weight();
    objective.mmd = info.mutual_information_weight() + info.prior_weight() - 1;
    objective.kernel = info.kernel() == InfoDiffusionOptions::RBF
                           ? MmdKernel::kRbf
                           : MmdKernel::kInverseMultiquadric;
  }
  objective.log_kl = p.encoder != nullptr && p.encoder->gaussian();
  objective.log_reconstruction = p.kind == DescriptionKind::kAutoencoder;
  objective.log_accuracy =
      p.kind == DescriptionKind::kClassifier || p.kind == DescriptionKind::kTextImage;
  objective.log_mmd = objective.mmd > 0;
  if ((objective.log_kl || objective.log_mmd) && p.kind != DescriptionKind::kAutoencoder &&
      p.forward->gaussian() != nullptr && !p.forward->HasOffset() &&
      p.prior->starts_at_standard_normal()) {
    const double t_max = p.forward->time_domain().t_max();
    objective.log_prior_kl = true;
    objective.terminal_alpha = p.forward->gaussian()->Alpha(t_max);
    objective.terminal_sigma = p.forward->gaussian()->Sigma(t_max);
    objective.log_elbo = CheckElbo(p).ok();
  }
  return objective;
}

absl::Status ValidateTraining(const Pipeline& p) {
  const TrainingOptions& o = p.config.training();
  auto bad = [](const std::string& what) {
    return absl::InvalidArgumentError(absl::StrCat("training.", what));
  };
  if (!p.config.has_training()) return absl::InvalidArgumentError("pipeline has no 'training' section");
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
  if (!(o.latent_kl_weight() >= 0 && o.latent_kl_weight() <= 1e6)) {
    return bad(absl::StrCat("latent_kl_weight = ", o.latent_kl_weight(), " must be in [0, 1e6]"));
  }
  const bool gaussian = p.encoder != nullptr && p.encoder->gaussian();
  if (o.has_info_diffusion()) {
    const InfoDiffusionOptions& info = o.info_diffusion();
    const double zeta = info.mutual_information_weight(), lambda = info.prior_weight();
    if (p.encoder == nullptr) return bad("info_diffusion needs an encoder section");
    if (o.latent_kl_weight() != 0) {
      return bad("latent_kl_weight and info_diffusion both weight the KL term; set one");
    }
    if (!(zeta >= 0 && zeta <= 1)) {
      return bad(absl::StrCat("info_diffusion.mutual_information_weight = ", zeta,
                              " must be in [0, 1]"));
    }
    if (!(lambda >= 0 && lambda <= 1e6) || !(zeta + lambda - 1 > 0)) {
      return bad(absl::StrCat("info_diffusion.prior_weight = ", lambda, " must be in [0, 1e6] "
                              "with mutual_information_weight + prior_weight - 1 > 0 (the "
                              "MMD coefficient)"));
    }
    if (zeta < 1 && !gaussian) {
      return bad(absl::StrCat("info_diffusion.mutual_information_weight = ", zeta,
                              " < 1 keeps a KL term, which needs a Gaussian encoder ('",
                              p.config.encoder().name(), "' with gaussian: true)"));
    }
  } else if (gaussian && !(o.latent_kl_weight() > 0)) {
    return bad(absl::StrCat("latent_kl_weight must be > 0: encoder '", p.config.encoder().name(),
                            "' is Gaussian, and without the KL term (or info_diffusion's MMD) "
                            "nothing ties q(z | x0) to the prior N(0, I) that generation "
                            "draws z from"));
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
  if (p.kind == DescriptionKind::kAutoencoder) {
    if (o.loss_weighting() != TrainingOptions::PLAIN) {
      return bad(absl::StrCat("loss_weighting ", TrainingOptions::LossWeighting_Name(o.loss_weighting()),
                              " weights a diffusion loss; an autoencoder has none (PLAIN)"));
    }
    if (o.condition_dropout() > 0) return bad("condition_dropout: an autoencoder takes no labels");
    return absl::OkStatus();
  }
  if (p.kind == DescriptionKind::kTextImage) {
    if (o.batch_size() < 2) {
      return bad(absl::StrCat("batch_size = ", o.batch_size(), ": the contrastive loss compares "
                              "each image with the batch's other captions (at least 2)"));
    }
    if (o.loss_weighting() != TrainingOptions::PLAIN) {
      return bad(absl::StrCat("loss_weighting ", TrainingOptions::LossWeighting_Name(o.loss_weighting()),
                              " weights a diffusion loss; a text-image model is trained by "
                              "the contrastive loss (PLAIN)"));
    }
    if (o.condition_dropout() > 0) {
      return bad("condition_dropout: a text-image model takes no labels (caption_word_dropout "
                 "drops caption words)");
    }
    if (o.latent_kl_weight() > 0 || o.has_info_diffusion()) {
      return bad("latent_kl_weight, info_diffusion: a text-image model's embeddings have no prior");
    }
    return absl::OkStatus();
  }
  if (p.kind == DescriptionKind::kClassifier) {
    if (o.loss_weighting() != TrainingOptions::PLAIN) {
      return bad(absl::StrCat("loss_weighting ", TrainingOptions::LossWeighting_Name(o.loss_weighting()),
                              " weights a diffusion loss; a noisy classifier is trained by "
                              "cross-entropy (PLAIN)"));
    }
    if (o.condition_dropout() > 0) {
      return bad("condition_dropout: a noisy classifier learns every label, none is dropped");
    }
    if (o.latent_kl_weight() > 0) return bad("latent_kl_weight: a noisy classifier has no latent");
    return absl::OkStatus();
  }
  if (o.loss_weighting() != TrainingOptions::PLAIN && p.forward->gaussian() == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        "training.loss_weighting ", TrainingOptions::LossWeighting_Name(o.loss_weighting()),
        " needs Gaussian coefficients; forward '", p.config.forward().name(), "' has none"));
  }
  if (p.predictor->trainable() == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        "predictor '", p.config.predictor().name(), "' has no trainable network"));
  }
  if (p.forward->HasOffset() && !p.prior->supplies_training_image()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "forward '", p.config.forward().name(), "' offsets x by x_hat, which prior '",
        p.config.prior().name(), "' does not supply for training (DiffuseVAE form 2: prior "
        "\"diffused_estimate\" with estimate VAE and estimate_as_condition)"));
  }
  if (p.predictor->conditions().image_channels > 0 && !p.prior->supplies_training_image()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "predictor '", p.config.predictor().name(), "' is conditioned on an image (image_channels = ",
        p.predictor->conditions().image_channels, ") that prior '", p.config.prior().name(),
        "' does not supply for training (DiffuseVAE: prior \"diffused_estimate\" with estimate "
        "VAE and estimate_as_condition)"));
  }
  return absl::OkStatus();
}

// DiffuseVAE: whether each example takes the prior's x_hat, as the predictor's image input
// (form 1) or the shifted forward's centre (form 2).
bool TrainsOnPriorImages(const Pipeline& p) {
  return p.predictor != nullptr && p.prior->supplies_training_image() &&
         (p.predictor->conditions().image_channels > 0 || p.forward->HasOffset());
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

TrainedNetwork PrepareTraining(Pipeline& p) {
  const TrainingOptions& o = p.config.training();
  // The predictor's network, with the encoder's beside it when there is one.
  torch::nn::Module& module = *p.trained_module();
  const at::ScalarType type = o.dtype() == FLOAT64 ? torch::kFloat64 : torch::kFloat32;
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

absl::StatusOr<TrainingSummary> Train(Pipeline& p, const std::string& out_dir,
                                      std::ostream* progress) {
  ABSL_RETURN_IF_ERROR(ValidateTraining(p));
  const TrainingOptions& o = p.config.training();
  ABSL_ASSIGN_OR_RETURN(std::unique_ptr<DataParallel> ranks,
                        DataParallel::FromEnvironment(o.batch_size()));
  // Rank 0 alone writes (checkpoints, metrics) and reports; every rank reads the checkpoint.
  if (!ranks->is_main()) progress = nullptr;
  ABSL_RETURN_IF_ERROR(MakeDirs(out_dir));
  // Held until Train returns: a second trainer on out_dir stops here with a named error.
  std::optional<DirectoryLock> lock;
  if (ranks->is_main()) {
    ABSL_ASSIGN_OR_RETURN(DirectoryLock held, DirectoryLock::Acquire(out_dir));
    lock.emplace(std::move(held));
  }
  StopOnSignals stop;
  if (ranks->is_main()) {
    if (const int stale = RemoveStaleTemporaries(out_dir); stale > 0 && progress != nullptr) {
      *progress << "removed " << stale << " partial file(s) of a killed run in " << out_dir
                << std::endl;
    }
  }
  if (ranks->world_size() > 1 && progress != nullptr) {
    *progress << "data parallel: " << ranks->world_size() << " ranks, batch "
              << o.batch_size() << " (" << ranks->ShardSize(o.batch_size()) << " per rank)"
              << std::endl;
  }
  // Null for an autoencoder, whose loss is the ELBO's reconstruction term, and for a noisy
  // classifier (cross-entropy).
  TrainableModel* model = p.predictor != nullptr ? p.predictor->trainable() : nullptr;
  TrainedNetwork network = PrepareTraining(p);
  torch::nn::Module& module = *network.module;
  torch::optim::Optimizer& optimizer = *network.optimizer;
  const at::ScalarType type = network.dtype;
  at::Generator generator = at::detail::createCPUGenerator(o.seed());
  GeneratorNoise noise(generator);

  TrainingState state;
  google::protobuf::TextFormat::PrintToString(p.config, &state.pipeline_text);
  const std::string checkpoint = CheckpointPath(out_dir);
  if (FileExists(checkpoint)) {
    ABSL_RETURN_IF_ERROR(LoadCheckpoint(checkpoint, module, &optimizer, &state));
    if (absl::Status same = CheckTrainedFrom(checkpoint, state.pipeline_text, p.config,
                                             TrainsOnPriorImages(p)
                                                 ? CheckpointUse::kResumeWithTrainingPrior
                                                 : CheckpointUse::kResume);
        !same.ok()) {
      return absl::Status(same.code(),
                          absl::StrCat(same.message(), "; use another --out or remove it"));
    }
    generator.set_state(state.generator_state);
    google::protobuf::TextFormat::PrintToString(p.config, &state.pipeline_text);
  } else {
    at::NoGradGuard no_grad;
    for (const at::Tensor& param : module.parameters()) state.ema.push_back(param.clone());
  }
  const std::string metrics_path = out_dir + "/metrics.csv";
  int dropped = 0;
  // The latent regularizers add columns: the diffusion loss and each term, unweighted.
  const LatentObjective objective = LatentObjectiveOf(p);
  std::vector<std::string> term_names;
  if (objective.log_reconstruction) {
    term_names.push_back("reconstruction_nll");
    term_names.push_back("reconstruction_mse");
  } else if (objective.log_accuracy) {
    term_names.push_back("accuracy");
  } else if (objective.log_kl || objective.log_mmd) {
    term_names.push_back("diffusion_loss");
  }
  if (objective.log_kl) term_names.push_back("latent_kl");
  if (objective.log_mmd) term_names.push_back("latent_mmd");
  if (objective.log_prior_kl) term_names.push_back("prior_kl");
  if (objective.log_elbo) {
    term_names.push_back("diffusion_reconstruction");
    term_names.push_back("denoising");
  }
  const std::string metrics_header =
      absl::StrCat("step,loss,", absl::StrJoin(term_names, ","), term_names.empty() ? "" : ",",
                   "steps_per_second,elapsed_seconds\n");
  std::vector<std::string> rows = ReadMetricRows(
      metrics_path, state.step, metrics_header.substr(0, metrics_header.size() - 1), &dropped);
  if (p.kind == DescriptionKind::kTextImage && ranks->world_size() > 1) {
    return absl::FailedPreconditionError(
        "a text-image description: the contrastive loss compares every image with every "
        "caption of the whole batch, which a data-parallel run would split; run it in one "
        "process");
  }
  if (objective.mmd > 0 && ranks->world_size() > 1) {
    return absl::FailedPreconditionError(
        "training.info_diffusion: the MMD term is a statistic of the whole batch, which a "
        "data-parallel run would estimate per rank; run it in one process");
  }
  if (dropped > 0 && progress != nullptr) {
    *progress << metrics_path << ": dropped " << dropped
              << " malformed line(s); the file is rewritten at the next log step" << std::endl;
  }

  TrainingSummary summary;
  summary.first_step = state.step;
  summary.wrote_checkpoint = ranks->is_main();
  const TimeDomain domain = p.forward == nullptr ? TimeDomain{} : p.forward->time_domain();
  const int64_t batch = o.batch_size();
  const int64_t shard_begin = ranks->ShardBegin(batch), shard_size = ranks->ShardSize(batch);
  const int64_t num_classes = p.kind == DescriptionKind::kClassifier ? p.classifier->num_classes()
                              : p.predictor == nullptr ? 0
                                                       : p.predictor->conditions().num_classes;
  const std::vector<at::Tensor> params = module.parameters();
  // DiffuseVAE: every example is conditioned on the prior's x_hat for it (a trained VAE's
  // reconstruction, loaded here); under forward "shifted" x_t is diffused around it.
  const bool training_image = TrainsOnPriorImages(p);
  if (training_image) ABSL_RETURN_IF_ERROR(p.prior->PrepareForSampling());
  const auto start = std::chrono::steady_clock::now();
  double window_loss = 0;
  // diffusion or reconstruction (or cross-entropy), KL, MMD, MSE, prior KL, accuracy
  std::vector<double> window_terms(6, 0.0);
  int64_t window_count = 0;
  bool first_window = true;
  for (int64_t step = state.step; step < o.steps();) {
    const DataBatch data = p.data->Sample(batch, generator);
    TrainingExample example;
    auto shard = [&](const at::Tensor& full) { return full.narrow(0, shard_begin, shard_size); };
    // Real-valued data in the training type (float64 runs); token data stays int64.
    const at::Tensor x0 = at::isFloatingType(data.x.scalar_type()) ? data.x.to(type) : data.x;
    example.x0 = shard(x0);
    at::Tensor label;
    if (p.forward != nullptr) {
      const at::Tensor t = domain.discrete
          ? torch::randint(1, domain.num_steps + 1, {batch}, generator, torch::kLong)
                .to(torch::kFloat64)
          : 1.0 - torch::rand({batch}, generator, torch::kFloat64);
      // Every draw is made for the whole batch, so that the generator's state (and hence the
      // checkpoint) does not depend on the number of ranks; each rank keeps its slice.
      at::Tensor eps = p.forward->SampleNoise(data.x.sizes(), noise);
      if (at::isFloatingType(eps.scalar_type())) eps = eps.to(type);
      if (num_classes > 0) {
        label = data.label;
        if (o.condition_dropout() > 0) {
          const at::Tensor drop = torch::rand({batch}, generator).lt(o.condition_dropout());
          label = data.label.masked_fill(drop, Condition::kNullLabel);
        }
      }
      example.eps = shard(eps);
      example.t = Time(shard(t));
      if (training_image) example.condition.image = p.prior->TrainingImage(example.x0);
      // Forward "shifted" (DiffuseVAE form 2): x_t = x_hat + F_t(x0 - x_hat, eps).
      const at::Tensor offset = p.forward->Offset(example.condition);
      example.x_t = offset.defined()
                        ? offset + p.forward->Apply(example.x0 - offset, example.t, example.eps)
                        : p.forward->Apply(example.x0, example.t, example.eps);
    }
    // Joint training (Diffusion Autoencoders): the predictor sees z = E(x0) and the diffusion
    // loss trains the encoder through it.
    // A Gaussian q(z | x0) is sampled by reparameterization, eps_z drawn for the whole batch
    // so that every rank's shard matches a single process's.
    at::Tensor kl, mmd;
    // Captions (text-image models, text-conditioned predictors): each example's, with words
    // dropped, drawn for the whole batch.
    std::vector<std::string> captions;
    std::vector<std::vector<int64_t>> caption_tokens;
    if (p.text_encoder != nullptr) {
      captions = DropWords(p.data->captioner()->Caption(data.x, data.label),
                           o.caption_word_dropout(), generator);
      captions.assign(captions.begin() + shard_begin,
                      captions.begin() + shard_begin + shard_size);
      for (const std::string& caption : captions) {
        caption_tokens.push_back(p.text_encoder->Tokenize(caption).value());
      }
    }
    if (p.text_conditioned()) {
      // The frozen text encoder's embedding; zero (the null condition) for dropped examples.
      at::Tensor keep = torch::ones({batch}, torch::kBool);
      if (o.condition_dropout() > 0) {
        keep = torch::rand({batch}, generator).ge(o.condition_dropout());
      }
      at::NoGradGuard no_grad;
      example.condition.latent =
          (p.text_encoder->Embed(caption_tokens).to(type) *
           shard(keep).to(type).view({-1, 1}));
    }
    if (p.encoder != nullptr && p.kind != DescriptionKind::kTextImage) {
      const LatentPosterior q = p.encoder->Encode(example.x0, example.t);
      const int64_t width = q.mean.size(1);
      at::Tensor eps_z;
      if (q.log_variance.defined()) {
        eps_z = shard(torch::randn({batch, width}, generator).to(type));
        kl = KlToStandardNormal(q);
      }
      example.condition.latent = Reparameterize(q, eps_z);
      if (objective.mmd > 0) {
        const at::Tensor prior_z = shard(torch::randn({batch, width}, generator).to(type));
        mmd = MmdSquared(example.condition.latent, prior_z, objective.kernel);
      }
    }
    if (label.defined()) example.condition.label = shard(label);
    // The main term: the (weighted) diffusion loss, or an autoencoder's -log p(x0 | z).
    at::Tensor main_term, squared_error, accuracy;
    if (p.kind == DescriptionKind::kTextImage) {
      // CLIP's symmetric cross-entropy over the batch's image-caption similarities, with
      // every example of an identical caption a positive (short captions repeat).
      const at::Tensor image = p.forward != nullptr ? example.x_t : example.x0;
      const at::Tensor e_image = p.encoder->Encode(image, p.forward != nullptr ? example.t : Time(0.0)).mean;
      const at::Tensor e_text = p.text_encoder->Embed(caption_tokens);
      const at::Tensor logits =
          p.logit_scale.exp().clamp_max(100) *
          (e_image / e_image.norm(2, 1, true).clamp_min(1e-12)).matmul(e_text.t());
      std::vector<float> equal(shard_size * shard_size);
      for (int64_t i = 0; i < shard_size; ++i) {
        for (int64_t j = 0; j < shard_size; ++j) equal[i * shard_size + j] = captions[i] == captions[j];
      }
      const at::Tensor same =
          torch::tensor(equal).view({shard_size, shard_size}).to(logits.scalar_type());
      const at::Tensor targets = same / same.sum(1, true);  // symmetric: rows = columns
      main_term = -0.5 * ((targets * torch::log_softmax(logits, 1)).sum(1).mean() +
                          (targets * torch::log_softmax(logits, 0)).sum(0).mean());
      accuracy = same.gather(1, logits.detach().argmax(1, true)).mean();
    } else if (p.kind == DescriptionKind::kClassifier) {
      const at::Tensor log_p = p.classifier->LogProbabilities(example.x_t, example.t);
      const at::Tensor y = example.condition.label.view({-1, 1});
      main_term = -log_p.gather(1, y).mean();
      accuracy = log_p.detach().argmax(1).eq(y.squeeze(1)).to(log_p.scalar_type()).mean();
    } else if (model == nullptr) {
      const ObservationModel px = p.decoder->Decode(example.condition.latent);
      main_term = GaussianNegativeLogLikelihood(example.x0, px.mean, px.log_std).mean();
      squared_error = (example.x0 - px.mean).square().mean().detach();
    } else {
      at::Tensor per_example = model->Loss(example);
      if (o.loss_weighting() != TrainingOptions::PLAIN) {
        per_example = per_example * LossWeights(p, *model, example.t, shard_size).to(type);
      }
      main_term = per_example.mean();
    }
    const at::Tensor zero = torch::zeros({}, main_term.options());
    if (!squared_error.defined()) squared_error = zero;
    if (!accuracy.defined()) accuracy = zero;
    const at::Tensor mean_kl = kl.defined() ? kl.mean() : zero;
    if (!mmd.defined()) mmd = zero;
    const at::Tensor prior_kl =
        objective.log_prior_kl
            ? DiffusionPriorKl(example.x0.detach(), objective.terminal_alpha, objective.terminal_sigma).mean()
            : zero;
    const at::Tensor loss = main_term + objective.kl * mean_kl + objective.mmd * mmd;
    // The loss over the whole batch (and its terms), and whether any rank was asked to stop.
    ABSL_ASSIGN_OR_RETURN(
        std::vector<double> shared,
        ranks->Mean({loss.item<double>(), stop.requested() != 0 ? 1.0 : 0.0,
                     main_term.item<double>(), mean_kl.item<double>(), mmd.item<double>(),
                     squared_error.item<double>(), prior_kl.item<double>(),
                     accuracy.item<double>()}));
    const double value = shared[0];
    if (!std::isfinite(value)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "training: loss is ", value, " at step ", step + 1, "; stopped, the last good ",
          "checkpoint (step ", state.step, ") is kept in ", checkpoint));
    }
    optimizer.zero_grad();
    loss.backward();
    ABSL_RETURN_IF_ERROR(ranks->AverageGradients(params));
    if (o.grad_clip_norm() > 0) torch::nn::utils::clip_grad_norm_(params, o.grad_clip_norm());
    if (o.warmup_steps() > 0 || o.lr_schedule() != TrainingOptions::CONSTANT) {
      for (auto& group : optimizer.param_groups()) {
        group.options().set_lr(LearningRate(o, step));
      }
    }
    optimizer.step();
    {
      at::NoGradGuard no_grad;
      const double decay = EmaDecay(o, step);
      for (size_t i = 0; i < params.size(); ++i) {
        state.ema[i].mul_(decay).add_(params[i], 1 - decay);
      }
    }
    ++step;
    window_loss += value;
    for (size_t i = 0; i < window_terms.size(); ++i) window_terms[i] += shared[2 + i];
    ++window_count;
    if (step % o.log_every() == 0 || step == o.steps()) {
      const double mean = window_loss / window_count;
      if (first_window) summary.first_loss = mean;
      first_window = false;
      summary.final_loss = mean;
      // The logged terms in term_names' order, and their part of the progress line.
      std::vector<std::string> term_values;
      std::string term_line;
      const double main = window_terms[0] / window_count;
      if (objective.log_reconstruction) {
        const double mse = window_terms[3] / window_count;
        term_values.push_back(absl::StrFormat("%.6f", main));
        term_values.push_back(absl::StrFormat("%.6f", mse));
        term_line = absl::StrFormat(" (reconstruction %.2f nats, MSE %.5f", main, mse);
      } else if (objective.log_accuracy) {
        const double accuracy = window_terms[5] / window_count;
        term_values.push_back(absl::StrFormat("%.6f", accuracy));
        term_line = absl::StrFormat(" (accuracy %.3f", accuracy);
      } else if (!term_names.empty()) {
        term_values.push_back(absl::StrFormat("%.6f", main));
        term_line = absl::StrFormat(" (diffusion %.4f", main);
      }
      if (objective.log_kl) {
        term_values.push_back(absl::StrFormat("%.6f", window_terms[1] / window_count));
        term_line += absl::StrFormat(", KL %.3f nats", window_terms[1] / window_count);
      }
      if (objective.log_mmd) {
        term_values.push_back(absl::StrFormat("%.6f", window_terms[2] / window_count));
        term_line += absl::StrFormat(", MMD^2 %.4f", window_terms[2] / window_count);
      }
      if (objective.log_prior_kl) {
        // %g: near N(0, I) the term is orders of magnitude below a nat.
        term_values.push_back(absl::StrFormat("%.6g", window_terms[4] / window_count));
        term_line += absl::StrFormat(", prior KL %.3g nats", window_terms[4] / window_count);
      }
      if (objective.log_elbo) {
        // The logging step's batch, its own draws (seeded by the step): the training streams
        // are untouched, so a resumed run logs the same values.
        absl::StatusOr<ElboTerms> elbo =
            EstimateElbo(p, example.x0.detach(), 1, o.seed() * 1000003 + step);
        ABSL_RETURN_IF_ERROR(elbo.status());
        ABSL_ASSIGN_OR_RETURN(std::vector<double> terms,
                              ranks->Mean({elbo->reconstruction, elbo->denoising}));
        term_values.push_back(absl::StrFormat("%.4f", terms[0]));
        term_values.push_back(absl::StrFormat("%.4f", terms[1]));
        term_line += absl::StrFormat(", ELBO reconstruction %.1f, denoising %.1f nats", terms[0],
                                     terms[1]);
      }
      if (!term_names.empty()) term_line += ")";
      window_loss = 0;
      std::fill(window_terms.begin(), window_terms.end(), 0.0);
      window_count = 0;
      const double elapsed =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      const double rate = (step - summary.first_step) / std::max(elapsed, 1e-9);
      rows.push_back(absl::StrCat(absl::StrFormat("%d,%.6f,", step, mean),
                                  absl::StrJoin(term_values, ","),
                                  term_values.empty() ? "" : ",",
                                  absl::StrFormat("%.2f,%.3f", rate, elapsed)));
      if (ranks->is_main()) {
        ABSL_RETURN_IF_ERROR(WriteFileAtomically(
            metrics_path, absl::StrCat(metrics_header, absl::StrJoin(rows, "\n"), "\n")));
      }
      if (progress != nullptr) {
        *progress << absl::StrFormat(
                         "step %*d/%d | loss %.4f%s | lr %.2e | %.3g steps/s | "
                         "%.0f examples/s | elapsed %s | ETA %s",
                         static_cast<int>(std::to_string(o.steps()).size()), step, o.steps(),
                         mean, term_line,
                         LearningRate(o, step - 1), rate, rate * batch, Clock(elapsed),
                         Clock((o.steps() - step) / rate))
                  << std::endl;
      }
    }
    // A stop asked of any rank stops all of them after the same step.
    // (One process also honours a signal that arrived during this step's logging.)
    const bool stopping = shared[1] > 0 || (ranks->world_size() == 1 && stop.requested() != 0);
    if (ranks->is_main() && (step % o.checkpoint_every() == 0 || step == o.steps() || stopping)) {
      state.step = step;
      state.generator_state = generator.get_state();
      ABSL_RETURN_IF_ERROR(SaveCheckpoint(checkpoint, module, optimizer, state));
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
  UseEmaWeights(module, state.ema);
  module.eval();
  return summary;
}

}  // namespace diffuse
