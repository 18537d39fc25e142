// `diffuse sample`: the reverse process from the prior (or --x_T), optionally with given
// per-step noise and the recorded trajectory; samples as .npy and a PNG. Under WORLD_SIZE > 1
// (tools/launch.sh) the ranks split the batches and rank 0 writes the gathered samples.
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>

#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>

#include "absl/flags/flag.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "assembly/generate.h"
#include "eval/image_grid.h"
#include "eval/scatter_plot.h"
#include "models/latent_ddim_prior.h"
#include "tools/cli_common.h"
#include "tools/verb.h"
#include "training/data_parallel.h"
#include "util/atomic_file.h"
#include "util/npy.h"
#include "util/status_macros.h"

ABSL_FLAG(int64_t, num, 1000, "sample: number of samples.");
ABSL_FLAG(std::string, noise, "",
          "sample: the reverse steps' noise (.npy, [steps, num, ...]): step i's draw is row i "
          "(diffusers' variance_noise); see README 'Reproducing a Python run'.");
ABSL_FLAG(std::string, trajectory, "",
          "sample: also write every state (.npy, [steps + 1, num, ...]; row 0 the start).");
ABSL_FLAG(std::string, x0_trajectory, "",
          "sample: also write every step's x0_hat (.npy, [steps, num, ...]).");

namespace diffuse {
namespace {

// A data-parallel run: rank r samples whole batches (sampler.batch_size) r * C / N to
// (r + 1) * C / N of the C batches, so that every batch is the one a single process would
// compute and the gathered samples are bit for bit the single-process ones.
absl::Status TakeThisRanksShare(const Pipeline& p, const DataParallel& ranks,
                                GenerateRequest& request) {
  if (request.step_noise.defined() || request.record_trajectory) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--noise, --trajectory and --x0_trajectory need one process (WORLD_SIZE = ",
        ranks.world_size(), ")"));
  }
  const int64_t chunk = p.config.sampler().batch_size();
  const int64_t batches = (request.num + chunk - 1) / chunk;
  if (batches < ranks.world_size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--num = ", request.num, " makes ", batches, " batch(es) of sampler.batch_size = ", chunk,
        ", fewer than WORLD_SIZE = ", ranks.world_size()));
  }
  const int64_t first = std::min(request.num, batches * ranks.rank() / ranks.world_size() * chunk);
  const int64_t end =
      std::min(request.num, batches * (ranks.rank() + 1) / ranks.world_size() * chunk);
  if (request.x_start.defined()) request.x_start = request.x_start.slice(0, first, end);
  request.first_index = first;
  request.num = end - first;
  return absl::OkStatus();
}

}  // namespace

absl::Status SampleCommand() {
  ABSL_ASSIGN_OR_RETURN(
      std::unique_ptr<Pipeline> p,
      LoadPipeline({DescriptionKind::kDiffusion, DescriptionKind::kAutoencoder}));
  const std::string out = absl::GetFlag(FLAGS_out);
  ABSL_RETURN_IF_ERROR(CheckOutputFolders({{"--out", out},
                                          {"--png", absl::GetFlag(FLAGS_png)},
                                          {"--trajectory", absl::GetFlag(FLAGS_trajectory)},
                                          {"--x0_trajectory", absl::GetFlag(FLAGS_x0_trajectory)}}));
  if (out.empty()) return absl::InvalidArgumentError("--out (a .npy file) is required");
  if (absl::GetFlag(FLAGS_x_T).empty()) {
    ABSL_RETURN_IF_ERROR(CheckSampleCount(*p, absl::GetFlag(FLAGS_num),
                                          !absl::GetFlag(FLAGS_trajectory).empty() ||
                                              !absl::GetFlag(FLAGS_x0_trajectory).empty(),
                                          "--num"));
  }
  ABSL_RETURN_IF_ERROR(LoadTrainedWeights(*p));
  // A model of the codes of another state of the autoencoder would sample the wrong z
  // (weights exported to .safetensors carry no record to compare).
  if (LatentDdimPriorOptions z; p->config.prior().name() == "latent_ddim" &&
                                p->config.prior().options().UnpackTo(&z) &&
                                !absl::EndsWith(absl::GetFlag(FLAGS_checkpoint), ".safetensors")) {
    ABSL_RETURN_IF_ERROR(CheckLatentSource(z.dir(), absl::GetFlag(FLAGS_checkpoint)));
  }
  ABSL_ASSIGN_OR_RETURN(std::unique_ptr<DataParallel> ranks, DataParallel::FromEnvironment());
  GenerateRequest request;
  request.num = absl::GetFlag(FLAGS_num);
  request.seed = absl::GetFlag(FLAGS_seed) >= 0 ? absl::GetFlag(FLAGS_seed)
                                                : p->config.sampler().seed();
  request.progress = ranks->is_main() ? &std::cerr : nullptr;
  if (!absl::GetFlag(FLAGS_x_T).empty()) {
    ABSL_ASSIGN_OR_RETURN(request.x_start, ReadTensor(absl::GetFlag(FLAGS_x_T)));
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
  if (ranks->world_size() > 1) ABSL_RETURN_IF_ERROR(TakeThisRanksShare(*p, *ranks, request));
  absl::StatusOr<Generated> generated = Generate(*p, request);
  if (!generated.ok() && !absl::GetFlag(FLAGS_x_T).empty() &&
      absl::StartsWith(generated.status().message(), "x_T")) {
    return absl::Status(generated.status().code(),
                        absl::StrCat(absl::GetFlag(FLAGS_x_T), ": ", generated.status().message()));
  }
  ABSL_RETURN_IF_ERROR(generated.status());
  if (ranks->world_size() > 1) {
    ABSL_ASSIGN_OR_RETURN(generated->samples, ranks->AllGatherRows(generated->samples));
    if (generated->labels.defined()) {
      ABSL_ASSIGN_OR_RETURN(generated->labels, ranks->AllGatherRows(generated->labels));
    }
    if (!ranks->is_main()) return absl::OkStatus();  // rank 0 writes
  }
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
  // DiffuseVAE: the x_hat each sample was refined from, beside it (eval --same_class_as).
  if (generated->condition_images.defined() && ranks->world_size() == 1) {
    const std::string x_hat = XHatPath(out);
    ABSL_RETURN_IF_ERROR(WriteNpy(x_hat, ToNpy(generated->condition_images)));
    std::cout << "wrote " << x_hat << "\n";
  }
  if (generated->labels.defined()) {
    ABSL_RETURN_IF_ERROR(WriteNpy(LabelsPath(out), ToNpy(generated->labels)));
    std::cout << "wrote " << LabelsPath(out) << "\n";
  }
  ABSL_RETURN_IF_ERROR(WritePromptsFile(p->config.sampler(), generated->samples.size(0), out));
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

DIFFUSE_REGISTER_VERB("sample", SampleCommand, /*trains=*/false);

}  // namespace diffuse
