// diffuse: train and sample composable diffusion pipelines from their descriptions.
//
//   diffuse demo   [--out=DIR]                 train + sample + evaluate the built-in default
//   diffuse train  --pipeline=P --out=DIR      (resumes from DIR/checkpoint.pt)
//   diffuse sample --pipeline=P [--checkpoint=C] --num=N [--seed=S] --out=FILE.npy
//                  [--x_T=FILE.npy] [--png=FILE.png] [--labels=0,3,..]
//                  [--guidance_scale=W] [--negative_class=K] [--noise=Z.npy]
//                  [--trajectory=X.npy] [--x0_trajectory=X0.npy]
//   diffuse encode --pipeline=P --checkpoint=C (--images=X.npy | --split=test --indices=0:64)
//                  --out=Z.npy [--x_T_out=XT.npy] [--png=FILE.png]   Diffusion Autoencoders'
//                                                    z_sem and (by DDIM inversion) x_T
//   diffuse decode --pipeline=P --checkpoint=C --latent=Z.npy [--x_T=XT.npy] --out=X.npy
//                  [--png=FILE.png]
//   diffuse vary        ... (--images | --split --indices) [--variations=9] --out [--png]
//   diffuse interpolate ... --split=test --indices=3:5 [--frames=10]
//                  [--baseline_pipeline=P0 --baseline_checkpoint=C0] --out [--png]
//   diffuse manipulate  ... --attribute=NEG,POS [--attribute_indices=0:10000]
//                  [--scales=-2,-1,0,1,2] (--images | --split --indices) --out [--png]
//   diffuse train-latent-prior --pipeline=P --checkpoint=C --split=train --indices=0:60000
//                  DiffAE's second stage: the latent_ddim prior's model of z_sem
//   diffuse import-scheduler --scheduler_config=scheduler_config.json [--num_steps=N]
//                  [--out=P.pbtxt]   a diffusers scheduler as forward + reverse + sampler
//   diffuse eval   --pipeline=P --samples=FILE.npy   quality against the data's mixture
//   diffuse eval   --classifier=C --samples=FILE.npy Fashion-MNIST: classifier accuracy and
//                                                    Frechet distance of its features
//   diffuse train-classifier --out=DIR [--epochs=E]   the evaluation classifier
//   diffuse export --pipeline=P --checkpoint=C --out=W.safetensors   EMA weights for Python
// `sample --checkpoint` also takes a .safetensors file (weights only). `sample` writes the
// samples' labels (conditional pipelines) beside them as FILE_labels.npy, where `eval`
// finds them.
//
// Errors are one line on stderr naming the file or field, with exit status 1; outputs are
// written atomically, so a failed command leaves no partial file.
#include <cmath>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include <glog/logging.h>
#include <torch/torch.h>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "data/fashion_mnist_files.h"
#include "eval/fashion_classifier.h"
#include "eval/image_quality.h"
#include "guidance/guidance_options.pb.h"
#include "eval/image_grid.h"
#include "eval/mixture_metrics.h"
#include "eval/scatter_plot.h"
#include "pipeline/builder.h"
#include "pipeline/generate.h"
#include "tools/cli_common.h"
#include "tools/commands.h"
#include "tools/import_scheduler.h"
#include "training/trainer.h"
#include "training/weights_file.h"
#include "util/atomic_file.h"
#include "util/npy.h"
#include "util/runtime.h"
#include "util/status_macros.h"

ABSL_FLAG(int64_t, num, 1000, "sample: number of samples.");
ABSL_FLAG(std::string, x_T, "", "sample: start from these states (.npy, [num, ...]).");
ABSL_FLAG(std::string, noise, "",
          "sample: the reverse steps' noise (.npy, [steps, num, ...]): step i's draw is row i "
          "(diffusers' variance_noise); see README 'Reproducing a Python run'.");
ABSL_FLAG(std::string, trajectory, "",
          "sample: also write every state (.npy, [steps + 1, num, ...]; row 0 the start).");
ABSL_FLAG(std::string, x0_trajectory, "",
          "sample: also write every step's x0_hat (.npy, [steps, num, ...]).");
ABSL_FLAG(std::string, samples, "", "eval: samples to evaluate (.npy).");
ABSL_FLAG(std::string, classifier, "",
          "eval: the evaluation classifier checkpoint (from train-classifier) for images.");
ABSL_FLAG(int, epochs, 3, "train-classifier: epochs over the 60,000 training images.");
ABSL_FLAG(std::string, scheduler_config, "",
          "import-scheduler: a diffusers scheduler_config.json.");
ABSL_FLAG(int, num_steps, 50, "import-scheduler: inference steps (num_inference_steps).");
ABSL_FLAG(int, threads, 0, "BLAS threads (0: all cores).");
ABSL_FLAG(int, intra_op_threads, 1,
          "LibTorch intra-op threads (0: all cores); see util/runtime.h for why 1.");

namespace diffuse {

extern const char kDefaultPipeline[];

namespace {

// FILE.npy -> FILE_labels.npy
std::string LabelsPath(const std::string& samples_path) {
  const std::string stem = absl::EndsWith(samples_path, ".npy")
                               ? samples_path.substr(0, samples_path.size() - 4)
                               : samples_path;
  return stem + "_labels.npy";
}

at::Tensor ExactSamples(const Pipeline& p, int64_t n, uint64_t seed) {
  at::Generator gen = at::detail::createCPUGenerator(seed);
  return p.data->mixture()->Sample(n, gen);
}

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

absl::Status SampleCommand() {
  ABSL_ASSIGN_OR_RETURN(std::unique_ptr<Pipeline> p, LoadPipeline());
  const std::string out = absl::GetFlag(FLAGS_out);
  if (out.empty()) return absl::InvalidArgumentError("--out (a .npy file) is required");
  ABSL_RETURN_IF_ERROR(LoadTrainedWeights(*p));
  GenerateRequest request;
  request.num = absl::GetFlag(FLAGS_num);
  request.seed = absl::GetFlag(FLAGS_seed) >= 0 ? absl::GetFlag(FLAGS_seed)
                                                : p->config.sampler().seed();
  request.progress = &std::cerr;
  if (!absl::GetFlag(FLAGS_x_T).empty()) {
    ABSL_ASSIGN_OR_RETURN(NpyArray x_T, ReadNpy(absl::GetFlag(FLAGS_x_T)));
    if (x_T.shape.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(absl::GetFlag(FLAGS_x_T), ": a 0-d array; want [num, ...]"));
    }
    request.x_start = FromNpy(x_T);
    request.num = request.x_start.size(0);
  }
  if (const std::string noise = absl::GetFlag(FLAGS_noise); !noise.empty()) {
    ABSL_ASSIGN_OR_RETURN(NpyArray rows, ReadNpy(noise));
    request.step_noise = FromNpy(rows);
    request.step_noise_source = noise;
  }
  const std::string trajectory = absl::GetFlag(FLAGS_trajectory);
  const std::string x0_trajectory = absl::GetFlag(FLAGS_x0_trajectory);
  request.record_trajectory = !trajectory.empty() || !x0_trajectory.empty();
  absl::StatusOr<Generated> generated = Generate(*p, request);
  if (!generated.ok() && !absl::GetFlag(FLAGS_x_T).empty() &&
      absl::StartsWith(generated.status().message(), "x_T")) {
    return absl::Status(generated.status().code(),
                        absl::StrCat(absl::GetFlag(FLAGS_x_T), ": ", generated.status().message()));
  }
  ABSL_RETURN_IF_ERROR(generated.status());
  // Grey-level tokens become images, so the file, the grid and `eval` see pictures.
  generated->samples = p->data->Decode(generated->samples);
  ABSL_RETURN_IF_ERROR(WriteNpy(out, ToNpy(generated->samples)));
  std::cout << "wrote " << out << " " << generated->samples.sizes() << "\n";
  if (!trajectory.empty()) {
    ABSL_RETURN_IF_ERROR(WriteNpy(trajectory, ToNpy(generated->trajectory)));
    std::cout << "wrote " << trajectory << " " << generated->trajectory.sizes() << "\n";
  }
  if (!x0_trajectory.empty()) {
    ABSL_RETURN_IF_ERROR(WriteNpy(x0_trajectory, ToNpy(generated->x0_trajectory)));
    std::cout << "wrote " << x0_trajectory << " " << generated->x0_trajectory.sizes() << "\n";
  }
  if (generated->labels.defined()) {
    ABSL_RETURN_IF_ERROR(WriteNpy(LabelsPath(out), ToNpy(generated->labels)));
    std::cout << "wrote " << LabelsPath(out) << "\n";
  }
  if (!absl::GetFlag(FLAGS_png).empty()) {
    if (generated->samples.dim() == 4) {
      // At most 10 x 10 images; with round-robin labels 0..9 each column is one class.
      ABSL_RETURN_IF_ERROR(
          WriteImageGridPng(absl::GetFlag(FLAGS_png), generated->samples.slice(0, 0, 100)));
    } else {
      const at::Tensor reference =
          p->data->mixture() != nullptr ? ExactSamples(*p, request.num, 1) : at::Tensor();
      ABSL_RETURN_IF_ERROR(WriteScatterPng(absl::GetFlag(FLAGS_png), generated->samples,
                                           generated->labels, reference));
    }
    std::cout << "wrote " << absl::GetFlag(FLAGS_png) << "\n";
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> QualityReport(const Pipeline& p, const at::Tensor& samples,
                                          const std::string& name) {
  const GaussianMixture* mixture = p.data->mixture();
  if (mixture == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        "data '", p.config.data().name(), "' has no known distribution to evaluate against"));
  }
  if (samples.dim() != 2 || samples.size(1) != mixture->dim()) {
    return absl::InvalidArgumentError(absl::StrCat("samples must be [N, ", mixture->dim(), "]"));
  }
  const int64_t n = samples.size(0);
  const at::Tensor reference = ExactSamples(p, n, 1);
  const MixtureQuality exact = EvaluateAgainstMixture(ExactSamples(p, n, 2), *mixture, reference);
  const MixtureQuality q = EvaluateAgainstMixture(samples, *mixture, reference);
  auto row = [](const std::string& label, const MixtureQuality& m) {
    return absl::StrFormat("%-28s %13.4f %9.4f %13.4f %10.4f\n", label, m.max_mode_error(),
                           m.off_mode_fraction, m.mean_log_likelihood, m.sliced_w2);
  };
  return absl::StrCat(
      absl::StrFormat("quality against the true mixture (n = %d; sliced W2 to exact samples)\n", n),
      absl::StrFormat("%-28s %13s %9s %13s %10s\n", "", "max mode err", "off-mode",
                      "mean log-lik", "sliced W2"),
      row("exact samples (reference)", exact), row(name, q),
      "mode fractions: ", q.ToString().substr(16, q.ToString().find('|') - 16), "\n");
}

absl::Status EvalImagesCommand() {
  const std::string path = absl::GetFlag(FLAGS_samples);
  ABSL_ASSIGN_OR_RETURN(FashionClassifier classifier,
                        LoadFashionClassifier(absl::GetFlag(FLAGS_classifier)));
  ABSL_ASSIGN_OR_RETURN(NpyArray samples, ReadNpy(path));
  at::Tensor labels;
  if (FILE* f = std::fopen(LabelsPath(path).c_str(), "rb")) {
    std::fclose(f);
    ABSL_ASSIGN_OR_RETURN(NpyArray l, ReadNpy(LabelsPath(path)));
    labels = FromNpy(l).round().to(torch::kLong);
  }
  absl::StatusOr<std::string> report =
      ImageQualityReport(classifier, absl::GetFlag(FLAGS_data_dir), FromNpy(samples), labels,
                         labels.defined() ? "samples (labels from " + LabelsPath(path) + ")"
                                          : "samples (unlabelled)");
  if (!report.ok()) {
    return absl::Status(report.status().code(),
                        absl::StrCat(path, ": ", report.status().message()));
  }
  std::cout << *report;
  return absl::OkStatus();
}

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

absl::Status EvalCommand() {
  if (absl::GetFlag(FLAGS_samples).empty()) return absl::InvalidArgumentError("--samples is required");
  if (!absl::GetFlag(FLAGS_classifier).empty()) return EvalImagesCommand();
  ABSL_ASSIGN_OR_RETURN(std::unique_ptr<Pipeline> p, LoadPipeline());
  ABSL_ASSIGN_OR_RETURN(NpyArray samples, ReadNpy(absl::GetFlag(FLAGS_samples)));
  ABSL_ASSIGN_OR_RETURN(std::string report,
                        QualityReport(*p, FromNpy(samples), absl::GetFlag(FLAGS_samples)));
  std::cout << report;
  return absl::OkStatus();
}

absl::Status DemoCommand() {
  const std::string out = absl::GetFlag(FLAGS_out).empty() ? "out/demo" : absl::GetFlag(FLAGS_out);
  ABSL_ASSIGN_OR_RETURN(PipelineConfig config,
                        ParsePipelineText(kDefaultPipeline, "<built-in eight_gaussians_ddim>"));
  ABSL_ASSIGN_OR_RETURN(std::unique_ptr<Pipeline> p, BuildPipeline(config));
  std::cout << "training the built-in description (an MLP v-predictor on the eight-Gaussians "
               "ring) into " << out
            << " (resumes if interrupted)\n";
  ABSL_ASSIGN_OR_RETURN(TrainingSummary s, diffuse::Train(*p, out, &std::cerr));
  std::cout << absl::StrFormat("trained %d steps (%d this run) in %.1f s, loss %.4f -> %.4f\n",
                               s.steps, s.steps - s.first_step, s.seconds, s.first_loss,
                               s.final_loss);
  const int64_t n = 4000;
  GenerateRequest request{n, config.sampler().seed(), at::Tensor(), nullptr};
  const auto start = std::chrono::steady_clock::now();
  ABSL_ASSIGN_OR_RETURN(Generated generated, Generate(*p, request));
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << absl::StrFormat("sampled %d points with DDIM, %d steps, in %.2f s\n", n,
                               p->times.size(), seconds);
  ABSL_ASSIGN_OR_RETURN(std::string report,
                        QualityReport(*p, generated.samples,
                                      absl::StrCat("model, DDIM ", p->times.size(), " steps")));
  std::cout << report;
  ABSL_RETURN_IF_ERROR(WriteNpy(out + "/samples.npy", ToNpy(generated.samples)));
  ABSL_RETURN_IF_ERROR(WriteScatterPng(out + "/samples.png", generated.samples, at::Tensor(),
                                       ExactSamples(*p, n, 1)));
  ABSL_RETURN_IF_ERROR(WriteFileAtomically(out + "/metrics.txt", report));
  std::cout << "wrote " << out << "/samples.npy, " << out << "/samples.png (grey: exact "
            << "samples, blue: model), " << out << "/metrics.txt\n";
  return absl::OkStatus();
}

absl::Status ExportCommand() {
  const std::string checkpoint = absl::GetFlag(FLAGS_checkpoint);
  const std::string out = absl::GetFlag(FLAGS_out);
  if (checkpoint.empty()) return absl::InvalidArgumentError("--checkpoint is required");
  if (!absl::EndsWith(out, ".safetensors")) {
    return absl::InvalidArgumentError("--out must name a .safetensors file");
  }
  ABSL_ASSIGN_OR_RETURN(std::unique_ptr<Pipeline> p, LoadPipeline());
  ABSL_RETURN_IF_ERROR(ExportWeights(*p, checkpoint, out));
  std::cout << "wrote " << out << "\n";
  return absl::OkStatus();
}

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

}  // namespace
}  // namespace diffuse

int main(int argc, char** argv) {
  google::InitGoogleLogging(argv[0]);
  FLAGS_logtostderr = true;
  absl::SetProgramUsageMessage(
      "diffuse demo|train|sample|encode|decode|vary|interpolate|manipulate|train-latent-prior|eval|export|train-classifier|import-scheduler [flags]; see the comment at the top of tools/diffuse.cc");
  std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  if (args.size() != 2) {
    std::cerr << "usage: diffuse demo|train|sample|encode|decode|vary|interpolate|manipulate|train-latent-prior|eval|export|train-classifier|import-scheduler [--flags]  (--help for flags)\n";
    return 2;
  }
  const diffuse::RuntimeInfo runtime = diffuse::ConfigureRuntime(
      absl::GetFlag(FLAGS_threads), absl::GetFlag(FLAGS_intra_op_threads));
  const std::string command = args[1];
  if (command == "demo" || command == "train" || command == "train-classifier" ||
      command == "train-latent-prior") {
    std::cerr << "BLAS " << runtime.blas << " (" << runtime.blas_threads << " threads), "
              << runtime.intra_op_threads << " intra-op threads\n";
  }
  absl::Status status;
  if (command == "demo") {
    status = diffuse::DemoCommand();
  } else if (command == "train") {
    status = diffuse::TrainCommand();
  } else if (command == "sample") {
    status = diffuse::SampleCommand();
  } else if (command == "eval") {
    status = diffuse::EvalCommand();
  } else if (command == "export") {
    status = diffuse::ExportCommand();
  } else if (command == "train-classifier") {
    status = diffuse::TrainClassifierCommand();
  } else if (command == "import-scheduler") {
    status = diffuse::ImportSchedulerCommand();
  } else if (command == "encode") {
    status = diffuse::EncodeCommand();
  } else if (command == "decode") {
    status = diffuse::DecodeCommand();
  } else if (command == "vary") {
    status = diffuse::VaryCommand();
  } else if (command == "interpolate") {
    status = diffuse::InterpolateCommand();
  } else if (command == "manipulate") {
    status = diffuse::ManipulateCommand();
  } else if (command == "train-latent-prior") {
    status = diffuse::TrainLatentPriorCommand();
  } else {
    std::cerr << "diffuse: unknown command '" << command << "' (demo, train, sample, encode, decode, vary, interpolate, manipulate, train-latent-prior, eval, export, train-classifier, import-scheduler)\n";
    return 2;
  }
  if (!status.ok()) {
    std::cerr << "diffuse " << command << ": "
              << absl::StrReplaceAll(status.message(), {{"\n", " "}}) << "\n";
    return 1;
  }
  return 0;
}
