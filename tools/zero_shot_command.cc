// `diffuse zero-shot`: how well a text-image model (a text-image description's checkpoint)
// matches held-out images to words. Zero-shot class accuracy: the nearest of the ten class
// words; per attribute, how often the nearer of "CLASS w1" and "CLASS w2" (the image's own
// class) is the word measured from its pixels (chance 0.5). A noise-aware model is read at
// x_t of its forward process at each of --times.
#include <iostream>
#include <string>
#include <vector>

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>
#include <ATen/core/grad_mode.h>
#include <ATen/ops/cat.h>
#include <ATen/ops/randn.h>

#include "absl/flags/flag.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "assembly/trained_loader.h"
#include "data/fashion_captions.h"
#include "models/prompts.h"
#include "models/text_image_model.h"
#include "tools/cli_common.h"
#include "tools/verb.h"
#include "util/status_macros.h"

ABSL_FLAG(std::string, times, "1,250,500,750",
          "zero-shot: the times t at which a noise-aware model reads x_t of the test images.");

namespace diffuse {
namespace {

struct Scores {
  double class_accuracy = 0;
  double attribute_accuracy[3] = {0, 0, 0};
};

absl::StatusOr<Scores> Score(TextImageModel& model, const at::Tensor& x, const Time& t, const at::Tensor& labels,
             const std::vector<std::vector<std::string>>& captions) {
  at::NoGradGuard no_grad;
  std::vector<at::Tensor> parts;
  for (int64_t first = 0; first < x.size(0); first += 500) {
    parts.push_back(model.EmbedImages(x.slice(0, first, first + 500), t));
  }
  const at::Tensor image = at::cat(parts);
  std::vector<std::string> texts(kFashionClassWords.begin(), kFashionClassWords.end());
  for (const char* c : kFashionClassWords) {
    for (const auto& pair : kFashionAttributeWords) {
      for (const char* w : pair) texts.push_back(absl::StrCat(c, " ", w));
    }
  }
  ABSL_ASSIGN_OR_RETURN(const at::Tensor e, EmbedPrompts(model.text_encoder(), texts, "prompts"));
  const at::Tensor similarity = image.matmul(e.t().to(image.scalar_type()));  // [N, 70]
  Scores s;
  s.class_accuracy =
      similarity.slice(1, 0, 10).argmax(1).eq(labels).to(at::kDouble).mean().item<double>();
  const int64_t n = x.size(0);
  for (int a = 0; a < 3; ++a) {
    int64_t right = 0;
    for (int64_t i = 0; i < n; ++i) {
      const int64_t y = labels[i].item<int64_t>();
      const int64_t column = 10 + 6 * y + 2 * a;
      const bool second = similarity[i][column + 1].item<double>() > similarity[i][column].item<double>();
      right += (captions[i][1 + a] == kFashionAttributeWords[a][1]) == second;
    }
    s.attribute_accuracy[a] = static_cast<double>(right) / n;
  }
  return s;
}

}  // namespace

absl::Status ZeroShotCommand() {
  const std::string checkpoint = absl::GetFlag(FLAGS_checkpoint);
  if (checkpoint.empty()) {
    return absl::InvalidArgumentError("--checkpoint (a text-image model's) is required");
  }
  BuildContext context;  // no description of its own: only the loader
  context.trained = &PipelineLoader();
  ABSL_ASSIGN_OR_RETURN(std::unique_ptr<TextImageModel> model,
                        LoadTextImageModel(checkpoint, context, /*images_here=*/false));
  ABSL_ASSIGN_OR_RETURN(SplitSlice slice, SplitFromFlags());
  const auto captions = FashionCaptioner().Caption(slice.images, slice.labels);
  std::cout << absl::StrFormat(
      "text-image model %s (%s), %d images; chance: class 0.100, attribute 0.500\n"
      "%-8s %7s %7s %11s %8s\n",
      checkpoint, model->noise_aware() ? "noise-aware" : "clean images", slice.images.size(0),
      "t", "class", "size", "brightness", "texture");
  std::vector<double> times = {0};
  if (model->noise_aware()) {
    times.clear();
    for (absl::string_view item : absl::StrSplit(absl::GetFlag(FLAGS_times), ',')) {
      double t;
      if (!absl::SimpleAtod(item, &t) || !(t > 0 && t <= model->forward()->time_domain().t_max())) {
        return absl::InvalidArgumentError(absl::StrCat(
            "--times: '", item, "' is not a time in (0, ", model->forward()->time_domain().t_max(), "]"));
      }
      times.push_back(t);
    }
  }
  for (const double t : times) {
    at::Tensor x = slice.images;
    if (model->noise_aware()) {
      // The same noise for every t: only the level changes between rows.
      at::Generator generator = at::detail::createCPUGenerator(0);
      const at::Tensor eps = at::randn(x.sizes(), generator);
      x = model->forward()->Apply(x, Time(t), eps);
    }
    ABSL_ASSIGN_OR_RETURN(const Scores s, Score(*model, x, Time(t), slice.labels, captions));
    std::cout << absl::StrFormat("%-8s %7.3f %7.3f %11.3f %8.3f\n",
                                 model->noise_aware() ? absl::StrCat(t) : std::string("clean"),
                                 s.class_accuracy, s.attribute_accuracy[0],
                                 s.attribute_accuracy[1], s.attribute_accuracy[2]);
  }
  return absl::OkStatus();
}

DIFFUSE_REGISTER_VERB("zero-shot", ZeroShotCommand, /*trains=*/false);

}  // namespace diffuse
