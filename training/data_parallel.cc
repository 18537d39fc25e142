#include "training/data_parallel.h"

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdlib>

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/types.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "util/status_macros.h"

namespace diffuse {
namespace {

class SingleProcess : public DataParallel {
 public:
  SingleProcess() : DataParallel(0, 1) {}
  absl::Status AverageGradients(const std::vector<at::Tensor>&) override {
    return absl::OkStatus();
  }
  absl::StatusOr<std::vector<double>> Mean(const std::vector<double>& values) override {
    return values;
  }
  absl::StatusOr<at::Tensor> AllGatherRows(const at::Tensor& local) override { return local; }
};

class GlooGroup : public DataParallel {
 public:
  GlooGroup(int rank, int world, c10::intrusive_ptr<c10d::ProcessGroupGloo> group)
      : DataParallel(rank, world), group_(std::move(group)) {}

  absl::Status AverageGradients(const std::vector<at::Tensor>& params) override {
    constexpr int64_t kBucketBytes = int64_t{16} << 20;
    std::vector<at::Tensor> bucket;
    int64_t bytes = 0;
    for (size_t i = 0; i <= params.size(); ++i) {
      const bool last = i == params.size();
      if (!last) {
        at::Tensor grad = params[i].grad();
        if (!grad.defined()) continue;  // a parameter this loss does not reach
        bucket.push_back(grad);
        bytes += grad.numel() * grad.element_size();
      }
      if ((last || bytes >= kBucketBytes) && !bucket.empty()) {
        ABSL_RETURN_IF_ERROR(Reduce(bucket));
        bucket.clear();
        bytes = 0;
      }
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<double>> Mean(const std::vector<double>& values) override {
    at::Tensor t = torch::tensor(values, torch::kFloat64);
    absl::Status reduced = AllReduceSum(t);
    if (!reduced.ok()) return reduced;
    t.div_(world_size());
    return std::vector<double>(t.data_ptr<double>(), t.data_ptr<double>() + t.numel());
  }

 private:
  // One flat all-reduce for a bucket of gradients, then the mean written back.
  absl::Status Reduce(const std::vector<at::Tensor>& grads) {
    std::vector<at::Tensor> flat_parts;
    for (const at::Tensor& g : grads) flat_parts.push_back(g.reshape({-1}));
    at::Tensor flat = torch::cat(flat_parts);
    ABSL_RETURN_IF_ERROR(AllReduceSum(flat));
    flat.div_(world_size());
    int64_t offset = 0;
    for (const at::Tensor& g : grads) {
      g.copy_(flat.slice(0, offset, offset + g.numel()).view_as(g));
      offset += g.numel();
    }
    return absl::OkStatus();
  }

  absl::Status AllReduceSum(at::Tensor& t) {
    ABSL_RETURN_IF_ERROR(Collective("all-reduce", [&] {
      std::vector<at::Tensor> tensors{t};
      group_->allreduce(tensors)->wait();
    }));
    bytes_reduced_ += 2 * (world_size() - 1) * t.numel() * t.element_size() / world_size();
    return absl::OkStatus();
  }

  absl::StatusOr<at::Tensor> AllGatherRows(const at::Tensor& local) override {
    // Row counts first, then every rank's rows padded to the largest count.
    at::Tensor count = torch::tensor({local.size(0)}, torch::kLong);
    std::vector<std::vector<at::Tensor>> counts(1);
    for (int r = 0; r < world_size(); ++r) counts[0].push_back(torch::empty({1}, torch::kLong));
    ABSL_RETURN_IF_ERROR(Collective("all-gather", [&] {
      std::vector<at::Tensor> in{count};
      group_->allgather(counts, in)->wait();
    }));
    int64_t most = 0;
    for (const at::Tensor& c : counts[0]) most = std::max(most, c.item<int64_t>());
    std::vector<int64_t> shape = local.sizes().vec();
    shape[0] = most;
    at::Tensor padded = torch::zeros(shape, local.options());
    padded.narrow(0, 0, local.size(0)).copy_(local);
    std::vector<std::vector<at::Tensor>> rows(1);
    for (int r = 0; r < world_size(); ++r) rows[0].push_back(torch::empty_like(padded));
    ABSL_RETURN_IF_ERROR(Collective("all-gather", [&] {
      std::vector<at::Tensor> in{padded};
      group_->allgather(rows, in)->wait();
    }));
    std::vector<at::Tensor> parts;
    for (int r = 0; r < world_size(); ++r) {
      parts.push_back(rows[0][r].narrow(0, 0, counts[0][r].item<int64_t>()));
    }
    return torch::cat(parts, 0);
  }

  template <typename Fn>
  absl::Status Collective(const char* what, Fn run) {
    const auto start = std::chrono::steady_clock::now();
    try {
      run();
      seconds_in_collectives_ +=
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    } catch (const std::exception& e) {
      return absl::UnavailableError(absl::StrCat(
          "rank ", rank(), " of ", world_size(), ": an ", what, " failed (a rank stopped or "
          "cannot be reached): ", FirstLine(e.what())));
    }
    return absl::OkStatus();
  }

  static std::string FirstLine(const std::string& text) { return text.substr(0, text.find('\n')); }

  c10::intrusive_ptr<c10d::ProcessGroupGloo> group_;
};

absl::StatusOr<int64_t> IntFromEnv(const char* name, int64_t fallback, int64_t lo, int64_t hi) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') return fallback;
  int64_t v = 0;
  if (!absl::SimpleAtoi(value, &v) || v < lo || v > hi) {
    return absl::InvalidArgumentError(absl::StrCat("environment variable ", name, "='", value,
                                                   "' is not an integer in [", lo, ", ", hi, "]"));
  }
  return v;
}

}  // namespace

absl::StatusOr<std::unique_ptr<DataParallel>> DataParallel::FromEnvironment(int64_t batch) {
  absl::StatusOr<int64_t> world = IntFromEnv("WORLD_SIZE", 1, 1, 65536);
  if (!world.ok()) return world.status();
  if (*world == 1) return std::unique_ptr<DataParallel>(new SingleProcess());
  if (batch > 0 && batch % *world != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "training.batch_size = ", batch, " is not divisible by WORLD_SIZE = ", *world));
  }
  absl::StatusOr<int64_t> rank = IntFromEnv("RANK", -1, 0, *world - 1);
  absl::StatusOr<int64_t> port = IntFromEnv("MASTER_PORT", -1, 1, 65535);
  absl::StatusOr<int64_t> timeout = IntFromEnv("DIFFUSE_DIST_TIMEOUT", 60, 1, 86400);
  for (const auto* s : {&rank, &port, &timeout}) {
    if (!s->ok()) return s->status();
  }
  if (*rank < 0) return absl::InvalidArgumentError("WORLD_SIZE is set but RANK is not");
  if (*port < 0) return absl::InvalidArgumentError("WORLD_SIZE is set but MASTER_PORT is not");
  // Gloo writes to its peers with writev(2), which raises SIGPIPE when a peer has died; the
  // default action would end this rank silently instead of with the named error below.
  // (Python, torchrun's usual host, ignores SIGPIPE from the start.)
  std::signal(SIGPIPE, SIG_IGN);
  const char* addr = std::getenv("MASTER_ADDR");
  if (addr == nullptr || *addr == '\0') {
    return absl::InvalidArgumentError("WORLD_SIZE is set but MASTER_ADDR is not");
  }
  try {
    c10d::TCPStoreOptions store_options;
    store_options.port = static_cast<uint16_t>(*port);
    store_options.isServer = *rank == 0;
    store_options.numWorkers = static_cast<size_t>(*world);
    store_options.waitWorkers = true;
    store_options.timeout = std::chrono::seconds(*timeout);
    auto store = c10::make_intrusive<c10d::TCPStore>(addr, store_options);
    auto options = c10d::ProcessGroupGloo::Options::create();
    options->timeout = std::chrono::seconds(*timeout);
    const char* ifname = std::getenv("GLOO_SOCKET_IFNAME");
    options->devices.push_back(ifname != nullptr && *ifname != '\0'
                                   ? c10d::ProcessGroupGloo::createDeviceForInterface(ifname)
                                   : c10d::ProcessGroupGloo::createDefaultDevice());
    auto group = c10::make_intrusive<c10d::ProcessGroupGloo>(
        c10::make_intrusive<c10d::PrefixStore>("diffuse", store), static_cast<int>(*rank),
        static_cast<int>(*world), options);
    return std::unique_ptr<DataParallel>(
        new GlooGroup(static_cast<int>(*rank), static_cast<int>(*world), std::move(group)));
  } catch (const std::exception& e) {
    const std::string what = e.what();
    return absl::UnavailableError(absl::StrCat(
        "rank ", *rank, " of ", *world, ": cannot join the group at ", addr, ":", *port, ": ",
        what.substr(0, what.find('\n'))));
  }
}

}  // namespace diffuse
