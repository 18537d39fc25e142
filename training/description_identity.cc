#include "training/description_identity.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/message_differencer.h"
#include "forward/truncated.pb.h"

namespace diffuse {
namespace {

// Forward "truncated" keeps its inner process's times and coefficients (and the networks'
// time scale, ForwardProcess::network_time_domain), so weights trained on a process serve
// any truncation of it: ES-DDPM samples one network at every T'.
ComponentSpec Untruncated(const ComponentSpec& forward) {
  TruncatedOptions o;
  if (forward.name() == "truncated" && forward.options().UnpackTo(&o) && o.has_inner()) {
    return Untruncated(o.inner());
  }
  return forward;
}

PipelineConfig Bound(const PipelineConfig& config, CheckpointUse use) {
  if (use == CheckpointUse::kResume || use == CheckpointUse::kResumeWithTrainingPrior) {
    PipelineConfig c = config;
    c.clear_sampler();
    if (use == CheckpointUse::kResume) c.clear_prior();
    c.mutable_training()->clear_steps();
    c.mutable_training()->clear_log_every();
    c.mutable_training()->clear_checkpoint_every();
    return c;
  }
  PipelineConfig c;
  if (config.has_data()) c.mutable_data()->set_name(config.data().name());
  if (config.has_forward()) *c.mutable_forward() = Untruncated(config.forward());
  if (config.has_predictor()) *c.mutable_predictor() = config.predictor();
  if (config.has_encoder()) *c.mutable_encoder() = config.encoder();
  if (config.has_decoder()) *c.mutable_decoder() = config.decoder();
  if (config.has_classifier()) *c.mutable_classifier() = config.classifier();
  // The embeddings a text-conditioned predictor was trained on.
  if (config.has_text_encoder()) *c.mutable_text_encoder() = config.text_encoder();
  return c;
}

// protobuf's report line ("modified: PATH: A -> B", "added: PATH: B", "deleted: PATH: A")
// in the words of the error messages.
std::string Rephrase(absl::string_view line) {
  auto split = [&](absl::string_view prefix, std::string* path, std::string* rest) {
    if (!absl::ConsumePrefix(&line, prefix)) return false;
    const size_t colon = line.find(": ");
    *path = std::string(line.substr(0, colon));
    *rest = colon == absl::string_view::npos ? "" : std::string(line.substr(colon + 2));
    return true;
  };
  std::string path, rest;
  if (split("modified: ", &path, &rest)) {
    const size_t arrow = rest.find(" -> ");
    if (arrow != std::string::npos) {
      return absl::StrCat(path, ": ", rest.substr(0, arrow), " in the checkpoint, ",
                          rest.substr(arrow + 4), " here");
    }
  }
  if (split("added: ", &path, &rest)) {
    return absl::StrCat(path, ": unset in the checkpoint, ", rest, " here");
  }
  if (split("deleted: ", &path, &rest)) {
    return absl::StrCat(path, ": ", rest, " in the checkpoint, unset here");
  }
  return std::string(line);
}

}  // namespace

std::string DescriptionDifference(const PipelineConfig& trained, const PipelineConfig& used,
                                  CheckpointUse use) {
  google::protobuf::util::MessageDifferencer differencer;
  std::string report;
  differencer.ReportDifferencesToString(&report);
  if (differencer.Compare(Bound(trained, use), Bound(used, use))) return "";
  const std::vector<absl::string_view> lines = absl::StrSplit(report, '\n');
  return lines.empty() || lines[0].empty() ? "the descriptions differ" : Rephrase(lines[0]);
}

absl::Status CheckTrainedFrom(const std::string& path, const std::string& trained_text,
                              const PipelineConfig& used, CheckpointUse use) {
  PipelineConfig trained;
  if (!google::protobuf::TextFormat::ParseFromString(trained_text, &trained)) {
    return absl::DataLossError(
        absl::StrCat("checkpoint ", path, ": its stored pipeline description does not parse"));
  }
  const std::string difference = DescriptionDifference(trained, used, use);
  if (difference.empty()) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      "checkpoint ", path, " was trained from another description: ", difference));
}

}  // namespace diffuse
