#include "assembly/test_support.h"

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "util/status_macros.h"

namespace diffuse {

absl::StatusOr<std::unique_ptr<Pipeline>> BuildFromText(const std::string& text) {
  ABSL_ASSIGN_OR_RETURN(PipelineConfig config, ParsePipelineText(text, "<test>"));
  return BuildPipeline(config);
}

std::unique_ptr<Pipeline> BuildOrFail(const std::string& text) {
  absl::StatusOr<std::unique_ptr<Pipeline>> pipeline = BuildFromText(text);
  EXPECT_TRUE(pipeline.ok()) << pipeline.status() << "\nin:\n" << text;
  return pipeline.ok() ? std::move(pipeline).value() : nullptr;
}

std::string OracleText::Text() const {
  return absl::StrCat("data { ", data, " }\n",                          //
                      "forward { ", forward, " }\n",                      //
                      "predictor { ", predictor, " }\n",                  //
                      "prior { ", prior, " }\n",                          //
                      "reverse { ", reverse, " }\n",                      //
                      guidance, "\n",                                     //
                      "sampler { ", sampler, " }\n");
}

}  // namespace diffuse
