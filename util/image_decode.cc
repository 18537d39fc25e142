#include "util/image_decode.h"

#include <csetjmp>
#include <cstdio>
#include <cstring>

// jpeglib.h needs FILE and size_t declared first.
#include <jpeglib.h>
#include <png.h>

#include "absl/strings/str_cat.h"
#include "util/atomic_file.h"

namespace diffuse {
namespace {

// libpng and libjpeg report errors by longjmp; the jumps stay inside the functions below,
// whose locals that outlive a jump are plain data (no destructors are skipped).
struct PngSource {
  absl::string_view bytes;
  size_t offset = 0;
  char message[200] = "";
  // Set after setjmp and freed after a jump: kept in memory, not in registers.
  png_bytep buffer = nullptr;
  png_bytepp rows = nullptr;
  void Free() {
    delete[] rows;
    delete[] buffer;
    rows = nullptr;
    buffer = nullptr;
  }
};

void PngRead(png_structp png, png_bytep out, png_size_t n) {
  auto* source = static_cast<PngSource*>(png_get_io_ptr(png));
  if (source->bytes.size() - source->offset < n) png_error(png, "the data ends early (truncated)");
  std::memcpy(out, source->bytes.data() + source->offset, n);
  source->offset += n;
}

void PngError(png_structp png, png_const_charp message) {
  auto* source = static_cast<PngSource*>(png_get_error_ptr(png));
  std::snprintf(source->message, sizeof(source->message), "%s", message);
  png_longjmp(png, 1);
}

void PngWarning(png_structp, png_const_charp) {}

// Decodes into `image` (sized here); false with source.message set on an error.
bool DecodePngInto(PngSource& source, DecodedImage& image) {
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &source, PngError, PngWarning);
  if (png == nullptr) return false;
  png_infop info = png_create_info_struct(png);
  if (info == nullptr) {
    png_destroy_read_struct(&png, nullptr, nullptr);
    return false;
  }
  if (setjmp(png_jmpbuf(png))) {
    source.Free();
    png_destroy_read_struct(&png, &info, nullptr);
    return false;
  }
  png_set_read_fn(png, &source, PngRead);
  png_set_user_limits(png, kMaxImageSide, kMaxImageSide);
  png_read_info(png, info);
  const int depth = png_get_bit_depth(png, info);
  const int color = png_get_color_type(png, info);
  if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if (color == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
  if (png_get_valid(png, info, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(png);
  if (depth == 16) png_set_swap(png);  // native (little-endian) 16-bit samples
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  image.width = static_cast<int>(png_get_image_width(png, info));
  image.height = static_cast<int>(png_get_image_height(png, info));
  image.channels = png_get_channels(png, info);
  const int out_depth = png_get_bit_depth(png, info);
  const size_t row_bytes = png_get_rowbytes(png, info);
  source.buffer = new png_byte[row_bytes * image.height];
  source.rows = new png_bytep[image.height];
  for (int y = 0; y < image.height; ++y) source.rows[y] = source.buffer + y * row_bytes;
  png_read_image(png, source.rows);
  png_read_end(png, nullptr);
  const size_t n = static_cast<size_t>(image.width) * image.channels;
  image.pixels.resize(n * image.height);
  for (int y = 0; y < image.height; ++y) {
    float* out = image.pixels.data() + static_cast<size_t>(y) * n;
    const png_bytep in = source.rows[y];
    if (out_depth == 16) {
      for (size_t i = 0; i < n; ++i) {
        uint16_t v;
        std::memcpy(&v, in + 2 * i, 2);
        out[i] = v / 65535.0f;
      }
    } else {
      for (size_t i = 0; i < n; ++i) out[i] = in[i] / 255.0f;
    }
  }
  source.Free();
  png_destroy_read_struct(&png, &info, nullptr);
  return true;
}

struct JpegError {
  jpeg_error_mgr manager;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX] = "";
};

void JpegExit(j_common_ptr cinfo) {
  auto* error = reinterpret_cast<JpegError*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, error->message);
  std::longjmp(error->jump, 1);
}

void JpegSilence(j_common_ptr, int) {}

bool DecodeJpegInto(absl::string_view bytes, DecodedImage& image, JpegError& error) {
  jpeg_decompress_struct cinfo;
  cinfo.err = jpeg_std_error(&error.manager);
  error.manager.error_exit = JpegExit;
  error.manager.emit_message = JpegSilence;
  if (setjmp(error.jump)) {
    jpeg_destroy_decompress(&cinfo);
    return false;
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
  jpeg_read_header(&cinfo, TRUE);
  if (cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK) {
    std::snprintf(error.message, sizeof(error.message), "CMYK JPEG is not supported");
    jpeg_destroy_decompress(&cinfo);
    return false;
  }
  if (cinfo.image_width > kMaxImageSide || cinfo.image_height > kMaxImageSide) {
    std::snprintf(error.message, sizeof(error.message), "%u x %u is larger than %d",
                  cinfo.image_width, cinfo.image_height, kMaxImageSide);
    jpeg_destroy_decompress(&cinfo);
    return false;
  }
  cinfo.out_color_space = cinfo.num_components == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_start_decompress(&cinfo);
  image.width = static_cast<int>(cinfo.output_width);
  image.height = static_cast<int>(cinfo.output_height);
  image.channels = cinfo.output_components;
  image.pixels.resize(static_cast<size_t>(image.width) * image.height * image.channels);
  const size_t n = static_cast<size_t>(image.width) * image.channels;
  JSAMPARRAY row = (*cinfo.mem->alloc_sarray)(reinterpret_cast<j_common_ptr>(&cinfo),
                                               JPOOL_IMAGE, n, 1);
  while (cinfo.output_scanline < cinfo.output_height) {
    const size_t y = cinfo.output_scanline;
    jpeg_read_scanlines(&cinfo, row, 1);
    for (size_t i = 0; i < n; ++i) image.pixels[y * n + i] = row[0][i] / 255.0f;
  }
  // A stream cut short decodes with a warning and grey rows; refuse it.
  if (error.manager.num_warnings > 0) {
    std::snprintf(error.message, sizeof(error.message), "the data is corrupt or truncated");
    jpeg_destroy_decompress(&cinfo);
    return false;
  }
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  return true;
}

}  // namespace

absl::StatusOr<DecodedImage> DecodeImage(absl::string_view bytes, const std::string& name) {
  if (bytes.empty()) return absl::InvalidArgumentError(absl::StrCat(name, ": empty file"));
  DecodedImage image;
  static constexpr unsigned char kPng[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (bytes.size() >= 8 && std::memcmp(bytes.data(), kPng, 8) == 0) {
    PngSource source{bytes};
    if (!DecodePngInto(source, image)) {
      return absl::InvalidArgumentError(absl::StrCat(name, ": PNG: ", source.message));
    }
    return image;
  }
  if (bytes.size() >= 3 && static_cast<unsigned char>(bytes[0]) == 0xff &&
      static_cast<unsigned char>(bytes[1]) == 0xd8 && static_cast<unsigned char>(bytes[2]) == 0xff) {
    JpegError error;
    if (!DecodeJpegInto(bytes, image, error)) {
      return absl::InvalidArgumentError(absl::StrCat(name, ": JPEG: ", error.message));
    }
    return image;
  }
  return absl::InvalidArgumentError(
      absl::StrCat(name, ": not a PNG or JPEG file (unknown signature)"));
}

absl::StatusOr<DecodedImage> ReadImage(const std::string& path) {
  absl::StatusOr<std::string> bytes = ReadFile(path);
  if (!bytes.ok()) return bytes.status();
  return DecodeImage(*bytes, path);
}

}  // namespace diffuse
