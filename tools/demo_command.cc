// `diffuse demo`: trains, samples and evaluates the built-in description
// (pipeline/examples/eight_gaussians_ddim.pbtxt, compiled in) into --out.
#include <chrono>
#include <iostream>
#include <memory>
#include <string>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "assembly/builder.h"
#include "assembly/generate.h"
#include "eval/scatter_plot.h"
#include "tools/cli_common.h"
#include "tools/verb.h"
#include "assembly/train.h"
#include "util/atomic_file.h"
#include "util/npy.h"
#include "util/status_macros.h"

namespace diffuse {

extern const char kDefaultPipeline[];

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

DIFFUSE_REGISTER_VERB("demo", DemoCommand, /*trains=*/true);

}  // namespace diffuse
