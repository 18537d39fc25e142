// Data-parallel training on c10d's Gloo process group (Debian's LibTorch + libgloo; no
// home-made transport), started under torchrun's environment contract:
//   WORLD_SIZE  number of ranks (unset or 1: one process, nothing distributed)
//   RANK        this rank, 0..WORLD_SIZE-1
//   MASTER_ADDR, MASTER_PORT  where rank 0 serves the TCPStore the ranks meet at
//   GLOO_SOCKET_IFNAME        optional: the network interface Gloo uses
//   DIFFUSE_DIST_TIMEOUT      optional: seconds a collective may wait for a peer (default 60)
// torchrun, Slurm's srun (with these variables exported) or tools/launch.sh can start ranks.
//
// Every rank draws the same global batch from the shared generator and trains on its own
// contiguous slice of it; gradients are averaged by one all-reduce per bucket, so N ranks
// at batch B/N take the optimizer steps one process takes at batch B (to float rounding).
#ifndef DIFFUSE_TRAINING_DATA_PARALLEL_H_
#define DIFFUSE_TRAINING_DATA_PARALLEL_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "absl/status/statusor.h"

namespace diffuse {

class DataParallel {
 public:
  virtual ~DataParallel() = default;

  // From the environment: a single-process group when WORLD_SIZE is unset or 1; otherwise
  // connects to the other ranks (INVALID_ARGUMENT names a malformed variable, UNAVAILABLE a
  // rendezvous that failed or timed out).
  // With `batch` > 0, first checks (before connecting) that the ranks divide it evenly.
  static absl::StatusOr<std::unique_ptr<DataParallel>> FromEnvironment(int64_t batch = 0);

  int rank() const { return rank_; }
  int world_size() const { return world_size_; }
  bool is_main() const { return rank_ == 0; }

  // This rank's rows [ShardBegin, ShardBegin + ShardSize) of a global batch of `batch` rows
  // (FromEnvironment(batch) has checked that the ranks divide it).
  int64_t ShardBegin(int64_t batch) const { return batch / world_size_ * rank_; }
  int64_t ShardSize(int64_t batch) const { return batch / world_size_; }

  // Replaces every gradient by its mean over the ranks (buckets of at most 16 MiB).
  virtual absl::Status AverageGradients(const std::vector<at::Tensor>& params) = 0;
  // Mean over the ranks of each entry (float64); used for the loss and the stop request.
  virtual absl::StatusOr<std::vector<double>> Mean(const std::vector<double>& values) = 0;
  // Every rank's `local` rows ([n_r, ...], n_r may differ by rank, same trailing shape and
  // type everywhere) concatenated in rank order, on every rank.
  virtual absl::StatusOr<at::Tensor> AllGatherRows(const at::Tensor& local) = 0;
  // The bytes each rank sent in all-reduces so far (a ring all-reduce sends ~2 (N-1)/N of
  // the payload).
  int64_t bytes_reduced() const { return bytes_reduced_; }
  // Wall-clock seconds spent in collectives so far, waiting for slower ranks included.
  double seconds_in_collectives() const { return seconds_in_collectives_; }

 protected:
  DataParallel(int rank, int world_size) : rank_(rank), world_size_(world_size) {}
  int64_t bytes_reduced_ = 0;
  double seconds_in_collectives_ = 0;

 private:
  int rank_;
  int world_size_;
};

}  // namespace diffuse

#endif  // DIFFUSE_TRAINING_DATA_PARALLEL_H_
