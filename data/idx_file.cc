#include "data/idx_file.h"

#include <zlib.h>

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace diffuse {

absl::StatusOr<IdxArray> ReadIdxFile(const std::string& path) {
  gzFile file = gzopen(path.c_str(), "rb");  // reads plain files too
  if (file == nullptr) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  auto fail = [&](const std::string& why) {
    gzclose(file);
    return absl::DataLossError(absl::StrCat(path, ": ", why));
  };
  unsigned char header[4];
  if (gzread(file, header, 4) != 4) return fail("truncated IDX header");
  if (header[0] != 0 || header[1] != 0 || header[2] != 0x08 || header[3] == 0) {
    return fail("not an unsigned-byte IDX file (bad magic)");
  }
  IdxArray array;
  // At most 2 GiB of payload (Fashion-MNIST's largest file holds 47 MB); checked per
  // dimension, so a header declaring huge or many dimensions cannot overflow the count.
  constexpr int64_t kMaxBytes = (int64_t{1} << 31) - 1;
  int64_t count = 1;
  for (int d = 0; d < header[3]; ++d) {
    unsigned char b[4];
    if (gzread(file, b, 4) != 4) return fail("truncated IDX header");
    const int64_t dim = (int64_t{b[0]} << 24) | (b[1] << 16) | (b[2] << 8) | b[3];
    if (dim > 0 && count > kMaxBytes / dim) {
      return fail(absl::StrCat("dimension ", d, " = ", dim,
                               " makes the payload larger than 2 GiB (a corrupt header?)"));
    }
    array.dims.push_back(dim);
    count *= dim;
  }
  // Read in chunks, so that a header promising more than the file holds fails at the end
  // of the data instead of allocating all it promises first.
  constexpr int64_t kChunk = int64_t{1} << 24;
  for (int64_t done = 0; done < count;) {
    const int64_t chunk = std::min(kChunk, count - done);
    array.data.resize(done + chunk);
    if (gzread(file, array.data.data() + done, static_cast<unsigned>(chunk)) != chunk) {
      return fail(absl::StrCat("truncated: fewer than the ", count, " bytes its header promises"));
    }
    done += chunk;
  }
  unsigned char extra;
  if (gzread(file, &extra, 1) != 0) return fail("trailing bytes after the payload");
  gzclose(file);
  return array;
}

}  // namespace diffuse
