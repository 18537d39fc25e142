// diffuse: train and sample composable diffusion pipelines from their descriptions.
//
//   diffuse demo   [--out=DIR]                 train + sample + evaluate the built-in default
//   diffuse train  --pipeline=P --out=DIR      (resumes from DIR/checkpoint.pt)
//   diffuse sample --pipeline=P [--checkpoint=C] --num=N [--seed=S] --out=FILE.npy
//                  [--x_T=FILE.npy] [--png=FILE.png] [--labels=0,3,..]
//                  [--guidance_scale=W] [--negative_class=K] [--noise=Z.npy]
//                  [--prompt="dark sandal;light bag"] [--negative_prompt="small"]
//                  [--trajectory=X.npy] [--x0_trajectory=X0.npy]
//   diffuse encode --pipeline=P --checkpoint=C (--images=X.npy | --split=test --indices=0:64)
//                  --out=Z.npy [--x_T_out=XT.npy] [--png=FILE.png]   Diffusion Autoencoders'
//                                                    z_sem and (by DDIM inversion) x_T
//   diffuse decode --pipeline=P --checkpoint=C --latent=Z.npy [--x_T=XT.npy] --out=X.npy
//                  [--png=FILE.png]
//   diffuse vary        ... (--images | --split --indices) [--variations=9] --out [--png]
//   diffuse interpolate ... --split=test --indices=0:200 [--frames=10]   (pairs 2k, 2k+1)
//                  [--baseline_pipeline=P0 --baseline_checkpoint=C0] --out [--png]
//   diffuse manipulate  ... --attribute=NEG,POS [--attribute_indices=0:10000]
//                  [--scales=-2,-1,0,1,2] (--images | --split --indices) --out [--png]
//   diffuse train-latent-prior --pipeline=P --checkpoint=C --split=train --indices=0:60000
//                  second stage of DiffAE or latent diffusion: the latent_ddim prior's
//                  model of the encoder's codes
//   diffuse import-scheduler --scheduler_config=scheduler_config.json [--num_steps=N]
//                  [--out=P.pbtxt]   a diffusers scheduler as forward + reverse + sampler
//   diffuse eval   --pipeline=P --samples=FILE.npy   quality against the data's mixture
//   diffuse eval   --classifier=C --samples=FILE.npy Fashion-MNIST: classifier accuracy and
//                  [--features_out=F.npy]            Frechet distance of its features
//   diffuse train-classifier --out=DIR [--epochs=E]   the evaluation classifier
//   diffuse export --pipeline=P --checkpoint=C --out=W.safetensors   EMA weights for Python
//   diffuse upgrade-checkpoint --checkpoint=C [--out=C3]   a pre-v3 checkpoint to v3
//   diffuse zero-shot --checkpoint=C --split=test --indices=0:10000 [--times=1,250]
//                  a text-image model's zero-shot class and attribute accuracy
//   diffuse edit   --pipeline=P --checkpoint=C (--learn_images=L.npy | --learned=F.pt)
//                  [--save_learned=F.pt] [--shift_scale=S] (--images | --split --indices)
//                  --out=E.npy [--png]   real images edited by the description's edit
//                  section (Asyrp, DiffusionCLIP); writes E_original.npy, E_prompts.txt
//   diffuse elbo   --pipeline=P [--checkpoint=C] (--images=X.npy | --split --indices)
//                  [--draws=4]   the negative ELBO term by term (nats, bits per dimension)
//   diffuse likelihood --pipeline=P [--checkpoint=C] (--images=X.npy | --split --indices)
//                  [--trace=auto|exact|rademacher|gaussian] [--rtol --atol --dequantize]
//                  the probability-flow ODE's exact log-likelihood (nats, bits per dim)
// `sample --checkpoint` also takes a .safetensors file (weights only). `sample` writes the
// samples' labels (conditional pipelines) beside them as FILE_labels.npy and their prompts
// as FILE_prompts.txt, where `eval` finds them (prompts: each word's adherence); a prior that
// refines an image condition (DiffuseVAE) also gets its x_hat written as FILE_x_hat.npy,
// which `eval --classifier --same_class_as=FILE_x_hat.npy` compares the samples' classes with.
//
// Each verb lives in tools/<verb>_command.cc and registers itself (tools/verb.h); this file
// only dispatches.
//
// Errors are one line on stderr naming the file or field, with exit status 1; outputs are
// written atomically, so a failed command leaves no partial file. Training (train, demo,
// train-latent-prior) stopped by SIGTERM or SIGINT finishes its step, writes a checkpoint
// and exits with 128 + the signal (143, 130); running the same command resumes. A second
// trainer on a directory another one is writing to exits 1 naming the directory's lock.
#include <algorithm>
#include <iostream>
#include <string>
#include <vector>

#include <glog/logging.h>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "tools/verb.h"
#include "util/run_control.h"
#include "util/runtime.h"

ABSL_FLAG(int, threads, 0, "BLAS threads (0: all cores).");
ABSL_FLAG(int, intra_op_threads, 1,
          "LibTorch intra-op threads (0: all cores); see util/runtime.h for why 1.");

namespace {

std::string VerbNames(const char* separator) {
  std::vector<std::string> names;
  for (const diffuse::Verb& verb : diffuse::RegisteredVerbs()) names.push_back(verb.name);
  return absl::StrJoin(names, separator);
}

}  // namespace

int main(int argc, char** argv) {
  google::InitGoogleLogging(argv[0]);
  FLAGS_logtostderr = true;
  absl::SetProgramUsageMessage("diffuse " + VerbNames("|") +
                               " [flags]; see the comment at the top of tools/diffuse.cc");
  std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  if (args.size() != 2) {
    std::cerr << "usage: diffuse " << VerbNames("|") << " [--flags]  (--help for flags)\n";
    return 2;
  }
  const std::string command = args[1];
  const std::vector<diffuse::Verb> verbs = diffuse::RegisteredVerbs();
  const auto verb = std::find_if(verbs.begin(), verbs.end(), [&](const diffuse::Verb& v) {
    return command == v.name;
  });
  if (verb == verbs.end()) {
    std::cerr << "diffuse: unknown command '" << command << "' (" << VerbNames(", ") << ")\n";
    return 2;
  }
  const diffuse::RuntimeInfo runtime = diffuse::ConfigureRuntime(
      absl::GetFlag(FLAGS_threads), absl::GetFlag(FLAGS_intra_op_threads));
  if (verb->trains) {
    std::cerr << "BLAS " << runtime.blas << " (" << runtime.blas_threads << " threads), "
              << runtime.intra_op_threads << " intra-op threads\n";
  }
  const absl::Status status = verb->run();
  if (!status.ok()) {
    std::cerr << "diffuse " << command << ": "
              << absl::StrReplaceAll(status.message(), {{"\n", " "}}) << "\n";
    // Stopped by SIGTERM / SIGINT after a checkpoint: 128 + the signal, as a shell reports a
    // process the signal killed, so that schedulers see the interruption.
    if (absl::IsCancelled(status) && diffuse::ReceivedStopSignal() != 0) {
      return 128 + diffuse::ReceivedStopSignal();
    }
    return 1;
  }
  return 0;
}
