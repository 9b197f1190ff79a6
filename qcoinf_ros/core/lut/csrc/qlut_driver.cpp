// Command-line driver of the kernel library, for checking builds that ctypes cannot load in
// this process (a cross-compiled aarch64 build under qemu-user, an emulated x86 build).
//
//   qlut_driver IN OUT          the plane kernels (qlut_linear)
//   qlut_driver --int8 IN OUT   the int8 kernels (qlut_int8_linear)
//
// IN (little-endian): int32 m, k, n, planes, bits, has_bias, threads; float32 x[m*k];
// uint8 plane_bits[planes*n*Kp/8] (Kp = 16 ceil(k/16)); float32 wscale[n]; float32 bias[n] if
// has_bias. OUT: int32 count, then per supported variant: int32 variant, float32 y[m*n].
// With --int8, IN is: int32 m, k, n, code_bits, bits, has_bias, threads; float32 x[m*k];
// uint8 codes[n*k] (unsigned codes, row-major); float32 wscale[n]; float32 bias[n] if
// has_bias; OUT as above. Also prints the variants it ran and the build info to stdout.

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "qlut.h"

namespace {

template <typename T>
bool read_all(std::FILE *f, T *data, size_t count) {
  return std::fread(data, sizeof(T), count, f) == count;
}

int fail(const char *what) {
  std::fprintf(stderr, "qlut_driver: %s\n", what);
  return 2;
}

int run_int8(const char *in_path, const char *out_path) {
  std::FILE *in = std::fopen(in_path, "rb");
  if (!in) return fail("cannot open IN");
  int32_t hdr[7];
  if (!read_all(in, hdr, 7)) return fail("short header");
  const int m = hdr[0], k = hdr[1], n = hdr[2], code_bits = hdr[3], bits = hdr[4];
  const int has_bias = hdr[5], threads = hdr[6];
  if (m < 0 || k < 1 || n < 1 || code_bits < 1 || code_bits > 8 || bits < 1 ||
      bits > code_bits || threads < 1)
    return fail("bad header");
  std::vector<float> x((size_t)m * k), wscale(n), bias(n), y((size_t)m * n);
  std::vector<uint8_t> codes((size_t)n * k);
  if (!read_all(in, x.data(), x.size()) || !read_all(in, codes.data(), codes.size()) ||
      !read_all(in, wscale.data(), wscale.size()) ||
      (has_bias && !read_all(in, bias.data(), bias.size())))
    return fail("short input");
  std::fclose(in);
  std::vector<uint8_t> packed((size_t)qlut_int8_packed_bytes(n, k));
  if (qlut_int8_pack(codes.data(), code_bits, n, k, packed.data()) != 0) return fail("pack");
  std::FILE *out = std::fopen(out_path, "wb");
  if (!out) return fail("cannot open OUT");
  int32_t count = 0;
  for (int v = 0; v < QLUT_NUM_VARIANTS; ++v) count += qlut_variant_supported(v);
  std::fwrite(&count, sizeof count, 1, out);
  std::printf("build %s; best %s;", qlut_build_info(), qlut_variant_name(qlut_best_variant()));
  for (int v = 0; v < QLUT_NUM_VARIANTS; ++v) {
    if (!qlut_variant_supported(v)) continue;
    if (qlut_int8_linear(v, x.data(), m, k, packed.data(), code_bits, bits, n, wscale.data(),
                         has_bias ? bias.data() : nullptr, y.data(), threads) != 0)
      return fail("int8 linear");
    int32_t id = v;
    std::fwrite(&id, sizeof id, 1, out);
    std::fwrite(y.data(), sizeof(float), y.size(), out);
    std::printf(" ran %s", qlut_variant_name(v));
  }
  std::printf("\n");
  return std::fclose(out) == 0 ? 0 : fail("write");
}

}  // namespace

int main(int argc, char **argv) {
  if (argc == 4 && std::string(argv[1]) == "--int8") return run_int8(argv[2], argv[3]);
  if (argc != 3) return fail("usage: qlut_driver [--int8] IN OUT");
  std::FILE *in = std::fopen(argv[1], "rb");
  if (!in) return fail("cannot open IN");
  int32_t hdr[7];
  if (!read_all(in, hdr, 7)) return fail("short header");
  const int m = hdr[0], k = hdr[1], n = hdr[2], planes = hdr[3], bits = hdr[4];
  const int has_bias = hdr[5], threads = hdr[6];
  if (m < 0 || k < 1 || n < 1 || planes < 1 || planes > 16 || bits < 1 || bits > planes ||
      threads < 1)
    return fail("bad header");
  const int kp = (k + 15) / 16 * 16;
  std::vector<float> x((size_t)m * k), wscale(n), bias(n), y((size_t)m * n);
  std::vector<uint8_t> bits_in((size_t)planes * n * (kp / 8));
  if (!read_all(in, x.data(), x.size()) || !read_all(in, bits_in.data(), bits_in.size()) ||
      !read_all(in, wscale.data(), wscale.size()) ||
      (has_bias && !read_all(in, bias.data(), bias.size())))
    return fail("short input");
  std::fclose(in);
  std::FILE *out = std::fopen(argv[2], "wb");
  if (!out) return fail("cannot open OUT");
  int32_t count = 0;
  for (int v = 0; v < QLUT_NUM_VARIANTS; ++v) count += qlut_variant_supported(v);
  std::fwrite(&count, sizeof count, 1, out);
  std::printf("build %s; best %s;", qlut_build_info(), qlut_variant_name(qlut_best_variant()));
  for (int v = 0; v < QLUT_NUM_VARIANTS; ++v) {
    if (!qlut_variant_supported(v)) continue;
    std::vector<uint8_t> packed((size_t)qlut_packed_bytes(v, planes, n, k));
    if (qlut_pack(v, bits_in.data(), planes, n, k, packed.data()) != 0) return fail("pack");
    if (qlut_linear(v, x.data(), m, k, packed.data(), planes, bits, n, wscale.data(),
                    has_bias ? bias.data() : nullptr, y.data(), threads) != 0)
      return fail("linear");
    int32_t id = v;
    std::fwrite(&id, sizeof id, 1, out);
    std::fwrite(y.data(), sizeof(float), y.size(), out);
    std::printf(" ran %s", qlut_variant_name(v));
  }
  std::printf("\n");
  return std::fclose(out) == 0 ? 0 : fail("write");
}
