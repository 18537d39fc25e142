#include "util/image_decode.h"

#include <csetjmp>
#include <cstdio>
#include <string>
#include <vector>

#include <jpeglib.h>
#include <png.h>

#include "gtest/gtest.h"
#include "util/status_matchers.h"

namespace diffuse {
namespace {

using ::testing::HasSubstr;

// A PNG written by libpng with the given layout; `rows` are the raw packed samples
// (16-bit big-endian, as PNG stores them).
std::string EncodeRawPng(int width, int height, int color_type, int depth,
                         const std::vector<std::vector<uint8_t>>& rows,
                         const std::vector<png_color>& palette = {},
                         const std::vector<uint8_t>& alpha = {}) {
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  std::string out;
  png_set_write_fn(
      png, &out,
      [](png_structp p, png_bytep data, png_size_t n) {
        static_cast<std::string*>(png_get_io_ptr(p))->append(reinterpret_cast<char*>(data), n);
      },
      nullptr);
  png_set_IHDR(png, info, width, height, depth, color_type, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  if (!palette.empty()) png_set_PLTE(png, info, palette.data(), palette.size());
  if (!alpha.empty()) png_set_tRNS(png, info, alpha.data(), alpha.size(), nullptr);
  png_write_info(png, info);
  for (const auto& row : rows) png_write_row(png, const_cast<png_bytep>(row.data()));
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return out;
}

std::string EncodeJpeg(int width, int height, int components, const std::vector<uint8_t>& pixels) {
  jpeg_compress_struct cinfo;
  jpeg_error_mgr err;
  cinfo.err = jpeg_std_error(&err);
  jpeg_create_compress(&cinfo);
  unsigned char* buffer = nullptr;
  unsigned long size = 0;
  jpeg_mem_dest(&cinfo, &buffer, &size);
  cinfo.image_width = width;
  cinfo.image_height = height;
  cinfo.input_components = components;
  cinfo.in_color_space = components == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_set_defaults(&cinfo);
  jpeg_set_quality(&cinfo, 100, TRUE);
  jpeg_start_compress(&cinfo, TRUE);
  while (cinfo.next_scanline < cinfo.image_height) {
    JSAMPROW row = const_cast<JSAMPROW>(&pixels[cinfo.next_scanline * width * components]);
    jpeg_write_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_compress(&cinfo);
  std::string out(reinterpret_cast<char*>(buffer), size);
  jpeg_destroy_compress(&cinfo);
  free(buffer);
  return out;
}

TEST(ImageDecodeTest, Rgba8) {
  const std::string png = EncodeRawPng(2, 1, PNG_COLOR_TYPE_RGBA, 8,
                                       {{0, 51, 255, 255, 128, 64, 32, 0}});
  absl::StatusOr<DecodedImage> image = DecodeImage(png, "rgba.png");
  ASSERT_THAT(image, IsOk());
  EXPECT_EQ(image->width, 2);
  EXPECT_EQ(image->height, 1);
  ASSERT_EQ(image->channels, 4);
  const std::vector<float> want = {0, 51, 255, 255, 128, 64, 32, 0};
  for (size_t i = 0; i < want.size(); ++i) EXPECT_FLOAT_EQ(image->pixels[i], want[i] / 255) << i;
}

TEST(ImageDecodeTest, Grey16KeepsItsPrecision) {
  // 0, 65535, 1234 (big-endian in the file).
  const std::string png = EncodeRawPng(3, 1, PNG_COLOR_TYPE_GRAY, 16,
                                       {{0, 0, 0xff, 0xff, 0x04, 0xd2}});
  absl::StatusOr<DecodedImage> image = DecodeImage(png, "grey16.png");
  ASSERT_THAT(image, IsOk());
  ASSERT_EQ(image->channels, 1);
  EXPECT_FLOAT_EQ(image->pixels[0], 0);
  EXPECT_FLOAT_EQ(image->pixels[1], 1);
  EXPECT_FLOAT_EQ(image->pixels[2], 1234.0f / 65535);
}

TEST(ImageDecodeTest, RgbAlpha16) {
  const std::string png = EncodeRawPng(1, 1, PNG_COLOR_TYPE_RGBA, 16,
                                       {{0x80, 0x01, 0x00, 0x00, 0xff, 0xff, 0x12, 0x34}});
  absl::StatusOr<DecodedImage> image = DecodeImage(png, "rgba16.png");
  ASSERT_THAT(image, IsOk());
  ASSERT_EQ(image->channels, 4);
  EXPECT_FLOAT_EQ(image->pixels[0], 0x8001 / 65535.0f);
  EXPECT_FLOAT_EQ(image->pixels[1], 0);
  EXPECT_FLOAT_EQ(image->pixels[2], 1);
  EXPECT_FLOAT_EQ(image->pixels[3], 0x1234 / 65535.0f);
}

TEST(ImageDecodeTest, PaletteWithTransparencyExpandsToRgba) {
  const std::vector<png_color> palette = {{255, 0, 0}, {10, 20, 30}};
  const std::string png =
      EncodeRawPng(2, 1, PNG_COLOR_TYPE_PALETTE, 8, {{0, 1}}, palette, {0, 255});
  absl::StatusOr<DecodedImage> image = DecodeImage(png, "palette.png");
  ASSERT_THAT(image, IsOk());
  ASSERT_EQ(image->channels, 4);
  const std::vector<float> want = {255, 0, 0, 0, 10, 20, 30, 255};
  for (size_t i = 0; i < want.size(); ++i) EXPECT_FLOAT_EQ(image->pixels[i], want[i] / 255) << i;
}

TEST(ImageDecodeTest, OneBitGreyExpands) {
  const std::string png = EncodeRawPng(8, 1, PNG_COLOR_TYPE_GRAY, 1, {{0b10110000}});
  absl::StatusOr<DecodedImage> image = DecodeImage(png, "bits.png");
  ASSERT_THAT(image, IsOk());
  ASSERT_EQ(image->channels, 1);
  const std::vector<float> want = {1, 0, 1, 1, 0, 0, 0, 0};
  for (size_t i = 0; i < want.size(); ++i) EXPECT_FLOAT_EQ(image->pixels[i], want[i]) << i;
}

TEST(ImageDecodeTest, JpegGreyAndRgbUniform) {
  const std::string grey = EncodeJpeg(16, 8, 1, std::vector<uint8_t>(16 * 8, 77));
  absl::StatusOr<DecodedImage> g = DecodeImage(grey, "grey.jpg");
  ASSERT_THAT(g, IsOk());
  EXPECT_EQ(g->channels, 1);
  EXPECT_EQ(g->width, 16);
  EXPECT_EQ(g->height, 8);
  for (float v : g->pixels) EXPECT_NEAR(v, 77 / 255.0, 1.01 / 255);
  std::vector<uint8_t> rgb;
  for (int i = 0; i < 8 * 8; ++i) rgb.insert(rgb.end(), {200, 40, 90});
  absl::StatusOr<DecodedImage> c = DecodeImage(EncodeJpeg(8, 8, 3, rgb), "rgb.jpg");
  ASSERT_THAT(c, IsOk());
  ASSERT_EQ(c->channels, 3);
  for (int i = 0; i < 8 * 8; ++i) {
    EXPECT_NEAR(c->pixels[3 * i], 200 / 255.0, 2.01 / 255);
    EXPECT_NEAR(c->pixels[3 * i + 1], 40 / 255.0, 2.01 / 255);
    EXPECT_NEAR(c->pixels[3 * i + 2], 90 / 255.0, 2.01 / 255);
  }
}

TEST(ImageDecodeTest, BadDataIsNamed) {
  EXPECT_THAT(DecodeImage("", "empty.png"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("empty.png: empty file")));
  EXPECT_THAT(DecodeImage("GIF89a....", "cat.gif"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("cat.gif: not a PNG or JPEG file")));
  const std::string png = EncodeRawPng(4, 4, PNG_COLOR_TYPE_RGB, 8,
                                       std::vector<std::vector<uint8_t>>(4, std::vector<uint8_t>(12, 9)));
  EXPECT_THAT(DecodeImage(png.substr(0, png.size() / 2), "cut.png"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("cut.png: PNG: ")));
  std::string flipped = png;
  flipped[flipped.size() - 14] ^= 0x55;  // the IDAT chunk's CRC
  EXPECT_THAT(DecodeImage(flipped, "flipped.png"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("flipped.png: PNG: ")));
  const std::string jpeg = EncodeJpeg(32, 32, 1, std::vector<uint8_t>(32 * 32, 5));
  EXPECT_THAT(DecodeImage(jpeg.substr(0, jpeg.size() / 2), "cut.jpg"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("cut.jpg: JPEG: ")));
}

}  // namespace
}  // namespace diffuse
