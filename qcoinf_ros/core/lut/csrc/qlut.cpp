// qlut: bit-plane lookup-table GEMM (see qlut.h for the arithmetic and the plane format).
//
// Variants, chosen at run time by CPU feature detection (qlut_best_variant):
//   scalar  portable C++, canonical plane layout, full 16-entry tables;
//   avx2    x86 AVX2: two groups' mirrored half tables per 128-bit lane (T[i] = -T[15-i]),
//           vpshufb lookups of (group 2r, group 2r+1) byte pairs of one output, vpmaddubsw with
//           the mirror signs into int16, Horner over planes in int32;
//   avx512  x86 AVX-512 VBMI + VNNI: four groups' full tables in one zmm, vpermb lookups,
//           vpdpbusd sums the four groups of an output into int32;
//   neon    aarch64 NEON with the dot-product extension: tbl over four groups' tables, sdot.
// The x86 lookup kernels expand a tile group's table indices once per K-block into a thread's
// scratch (every row reuses them: the inner loop is lookup, multiply-add, add), run K-blocks
// inside tile groups and hand the groups out to the threads from a shared counter.
// The int8 kernels (qlut_int8_*, one u8 x s8 GEMM per bit-width on the stored code bytes) have
// the same four variants: vpdpbusd (avx512), vpmaddubsw/vpmaddwd (avx2: pair sums added in
// int16 over the per-b headroom; b = 8 widened to int16), sdot (neon), scalar. A tile's codes
// for a K-block are shifted/masked/widened once into a thread's scratch for every row.
// Every variant computes the same integers (tested against each other and against the numpy
// emulation in qcoinf_ros/core/lut/reference.py). Build with -DQLUT_EMULATE on x86 to run the
// AVX2/AVX-512 code on SIMDe's portable implementation of the intrinsics (tests only).

#include "qlut.h"

// GCC 12 warns about its own _mm512_undefined_* inside the AVX-512 headers.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <initializer_list>
#include <mutex>
#include <new>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#define QLUT_X86 1
#if defined(QLUT_EMULATE)
#define SIMDE_ENABLE_NATIVE_ALIASES
#include <simde/x86/avx512.h>
// Intrinsics SIMDe 0.7 lacks, with their documented semantics (emulation builds only).
#ifndef _MM_FROUND_NO_EXC
#define _MM_FROUND_NO_EXC SIMDE_MM_FROUND_NO_EXC
#endif
static inline __m512i qlut_cvtepu16_epi32(__m256i a) {
  uint16_t in[16];
  int32_t out[16];
  _mm256_storeu_si256((__m256i *)in, a);
  for (int i = 0; i < 16; ++i) out[i] = in[i];
  return _mm512_loadu_si512(out);
}
static inline __m512 qlut_cvtepi32_ps(__m512i a) {
  int32_t in[16];
  float out[16];
  _mm512_storeu_si512(in, a);
  for (int i = 0; i < 16; ++i) out[i] = (float)in[i];
  return _mm512_loadu_ps(out);
}
#define _mm512_cvtepu16_epi32 qlut_cvtepu16_epi32
#define _mm512_cvtepi32_ps qlut_cvtepi32_ps
#define QLUT_AVX2_FN
#define QLUT_AVX512_FN
#define QLUT_AVX2_STEP(acc, table, idx, sg)                                                     \
  acc = _mm256_add_epi16(                                                                       \
      acc, _mm256_maddubs_epi16(                                                                \
               _mm256_shuffle_epi8(                                                             \
                   _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(table))), idx), \
               sg))
#else
#include <immintrin.h>
#define QLUT_AVX2_FN __attribute__((target("avx2,fma")))
// One row step of the AVX2 kernel: acc += maddubs(pshufb(broadcast(table), idx), sg). Written
// as one asm statement so that each step needs one scratch register and the accumulator stays
// in place (GCC's allocator otherwise spills accumulators or copies them every iteration,
// 40 % slower). The intrinsic form below (QLUT_EMULATE) computes the same thing.
#define QLUT_AVX2_STEP(acc, table, idx, sg)                                                    \
  do {                                                                                         \
    __m256i step_;                                                                             \
    __asm__("vbroadcasti128 %[tb], %[t]\n\t"                                                   \
            "vpshufb %[ix], %[t], %[t]\n\t"                                                    \
            "vpmaddubsw %[sg], %[t], %[t]\n\t"                                                 \
            "vpaddw %[t], %[a], %[a]"                                                           \
            : [a] "+x"(acc), [t] "=&x"(step_)                                                   \
            : [tb] "m"(*(const __m128i *)(table)), [ix] "x"(idx), [sg] "x"(sg));               \
  } while (0)
#define QLUT_AVX512_FN \
  __attribute__((target("avx512f,avx512bw,avx512vl,avx512vbmi,avx512vnni,avx2,fma")))
#endif
#elif defined(__aarch64__)
#define QLUT_ARM 1
#include <arm_neon.h>
#include <sys/auxv.h>
#define QLUT_NEON_FN __attribute__((target("arch=armv8.2-a+dotprod")))
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1 << 20)
#endif
#endif

namespace {

constexpr int kTileN = 16;         // outputs per tile in the SIMD layouts
constexpr int kBlockGroups = 128;  // groups of 4 inputs per K-block (512 inputs)
constexpr int kRowBlock = 8;       // rows whose tables (one K-block) stay in L1
constexpr int kTileBlock = 16;     // tiles whose weights (one K-block) stay in L2

enum Layout { kCanonical = 0, kPair = 1, kQuad = 2 };

int layout_of(int variant) {
  switch (variant) {
    case QLUT_AVX2: return kPair;
    case QLUT_AVX512: case QLUT_NEON: return kQuad;
    default: return kCanonical;
  }
}

struct Dims {
  int n, k, kp, groups, nkb, ntiles;
  explicit Dims(int n_, int k_)
      : n(n_), k(k_), kp((k_ + 15) / 16 * 16), groups(kp / 4),
        nkb((kp / 4 + kBlockGroups - 1) / kBlockGroups), ntiles((n_ + kTileN - 1) / kTileN) {}
};

inline int nibble(const uint8_t *plane_bits, int row_bytes, int n, int j) {
  return (plane_bits[(int64_t)n * row_bytes + j / 2] >> (4 * (j & 1))) & 15;
}

// Mirror encoding of a raw 4-bit index i (bit q set: input q enters with +): the half-table
// index h of the entry with bit 3 set whose table value equals +-T[i], and that sign in bit 3.
inline int mirror_code(int i) {
  int s = (i >> 3) & 1;
  int h = s ? (i & 7) : (~i & 7);
  return (s << 3) | h;
}

int64_t pair_main_bytes(const Dims &d, int planes) {
  return (int64_t)d.ntiles * planes * (d.groups / 2) * 16;
}

int64_t packed_bytes(int layout, const Dims &d, int planes) {
  switch (layout) {
    case kPair:  // + int16 mirror-sign sums per (tile, plane, K-block, output)
      return pair_main_bytes(d, planes) + (int64_t)d.ntiles * planes * d.nkb * kTileN * 2;
    case kQuad: return (int64_t)d.ntiles * planes * (d.groups / 4) * 32;
    default: return (int64_t)planes * d.n * (d.kp / 8);
  }
}

// ---------------------------------------------------------------------------------------
// Thread pool: persistent workers, the caller runs part 0. Leaked on purpose (no join at exit).
// One run per kernel call: its two phases (tables or quantized inputs per row, then the GEMM)
// meet at a Barrier inside the job, not at a second wake-up of the workers. The caller waiting
// for the workers spins briefly (kSpinUs) before sleeping; a worker sleeps as soon as its part
// is done (a spinning worker would take the core from torch's own threads, which run the
// layers between ours).
constexpr int kSpinUs = 50;

inline void cpu_relax() {
#if defined(QLUT_X86)
  __builtin_ia32_pause();
#elif defined(QLUT_ARM)
  __asm__ __volatile__("yield");
#endif
}

// Spin until done() or kSpinUs have passed; returns done().
template <typename Done>
bool spin_until(Done done) {
  const auto start = std::chrono::steady_clock::now();
  for (;;) {
    for (int i = 0; i < 64; ++i) {
      if (done()) return true;
      cpu_relax();
    }
    if (std::chrono::steady_clock::now() - start > std::chrono::microseconds(kSpinUs))
      return done();
  }
}

// The parts of one job meet here between its phases: spin, then yield (a part may be waiting
// for a core on a busy machine).
class Barrier {
 public:
  explicit Barrier(int parts) : parts_(parts) {}
  void arrive_and_wait() {
    arrived_.fetch_add(1, std::memory_order_acq_rel);
    for (int spins = 0; arrived_.load(std::memory_order_acquire) < parts_; ++spins) {
      if (spins < 4096)
        cpu_relax();
      else
        std::this_thread::yield();
    }
  }

 private:
  const int parts_;
  std::atomic<int> arrived_{0};
};

class Pool {
 public:
  void run(int parts, const std::function<void(int)> &fn) {
    if (parts <= 1) {
      fn(0);
      return;
    }
    std::lock_guard<std::mutex> region(region_mu_);
    {
      std::unique_lock<std::mutex> lock(mu_);
      while ((int)workers_.size() < parts - 1) {
        int id = (int)workers_.size() + 1;
        workers_.emplace_back([this, id] { loop(id); });
      }
      job_ = &fn;
      parts_ = parts;
      remaining_.store(parts - 1, std::memory_order_relaxed);
      generation_.fetch_add(1, std::memory_order_release);
    }
    cv_.notify_all();
    fn(0);
    if (!spin_until([this] { return remaining_.load(std::memory_order_acquire) == 0; })) {
      std::unique_lock<std::mutex> lock(mu_);
      done_.wait(lock, [this] { return remaining_.load(std::memory_order_acquire) == 0; });
    }
    std::lock_guard<std::mutex> lock(mu_);
    job_ = nullptr;
  }

 private:
  void loop(int id) {
    uint64_t seen = 0;
    for (;;) {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return generation_.load(std::memory_order_relaxed) != seen; });
      seen = generation_.load(std::memory_order_relaxed);
      if (id >= parts_) continue;
      const std::function<void(int)> *job = job_;
      lock.unlock();
      (*job)(id);
      // the last one to finish wakes the caller (if it went to sleep: the notify is under the
      // lock so that it cannot fall between the caller's check and its wait)
      if (remaining_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        std::lock_guard<std::mutex> done_lock(mu_);
        done_.notify_one();
      }
    }
  }
  std::mutex region_mu_, mu_;
  std::condition_variable cv_, done_;
  std::vector<std::thread> workers_;
  const std::function<void(int)> *job_ = nullptr;
  int parts_ = 0;
  std::atomic<int> remaining_{0};
  std::atomic<uint64_t> generation_{0};
};

Pool &pool() {
  static Pool *p = new Pool();
  return *p;
}

// Per-thread scratch that grows and is reused (a fresh multi-MB buffer per call costs page
// faults every call).
struct Scratch {
  void *ptr = nullptr;
  size_t size = 0;
  ~Scratch() { std::free(ptr); }
  void *get(size_t bytes) {
    if (bytes > size) {
      std::free(ptr);
      ptr = std::aligned_alloc(64, (bytes + 63) / 64 * 64);
      size = ptr ? bytes : 0;
    }
    return ptr;
  }
};

// ---------------------------------------------------------------------------------------
// Tables (portable). full: int8 [groups][16]; half: uint8 [groups/2][16], for pair r the
// entries 8..15 of group 2r then of group 2r+1, offset by +128. scale: [nkb].
inline int8_t quantize_entry(float v) {
  float r = std::nearbyint(v);
  if (!(r <= 127.0f)) r = 127.0f;  // also catches NaN
  if (!(r >= -127.0f)) r = -127.0f;
  return (int8_t)r;
}

inline float entry(const float *x4, int i) {
  float t = (i & 1) ? x4[0] : -x4[0];
  t = t + ((i & 2) ? x4[1] : -x4[1]);
  t = t + ((i & 4) ? x4[2] : -x4[2]);
  return t + ((i & 8) ? x4[3] : -x4[3]);
}

float block_inverse(const float *x, int j0, int j1, float *scale) {
  float amax = 0.0f;
  for (int j = j0; j < j1; ++j) {
    const float *g = x + 4 * j;
    float a = ((std::fabs(g[0]) + std::fabs(g[1])) + std::fabs(g[2])) + std::fabs(g[3]);
    amax = a > amax ? a : amax;
  }
  *scale = amax / 127.0f;
  return amax > 0.0f ? 127.0f / amax : 0.0f;
}

void build_row_scalar(const float *x, const Dims &d, bool half, uint8_t *tab, float *scale) {
  for (int kb = 0; kb < d.nkb; ++kb) {
    int j0 = kb * kBlockGroups, j1 = std::min(j0 + kBlockGroups, d.groups);
    float inv = block_inverse(x, j0, j1, &scale[kb]);
    for (int j = j0; j < j1; ++j) {
      const float *g = x + 4 * j;
      if (half) {
        uint8_t *out = tab + (j / 2) * 16 + (j & 1) * 8;
        for (int h = 0; h < 8; ++h) out[h] = (uint8_t)(quantize_entry(entry(g, 8 + h) * inv) + 128);
      } else {
        int8_t *out = (int8_t *)tab + j * 16;
        for (int i = 0; i < 16; ++i) out[i] = quantize_entry(entry(g, i) * inv);
      }
    }
  }
}

#ifdef QLUT_X86
// AVX2 table builder: 8 groups at a time, the same float operations in the same order.
QLUT_AVX2_FN inline void avx2_transpose8(const float *g, __m256 xs[4]) {
  __m256 a0 = _mm256_loadu_ps(g), a1 = _mm256_loadu_ps(g + 8);
  __m256 a2 = _mm256_loadu_ps(g + 16), a3 = _mm256_loadu_ps(g + 24);
  __m256 t0 = _mm256_unpacklo_ps(a0, a1), t1 = _mm256_unpackhi_ps(a0, a1);
  __m256 t2 = _mm256_unpacklo_ps(a2, a3), t3 = _mm256_unpackhi_ps(a2, a3);
  // lanes hold groups (0, 2, 4, 6 | 1, 3, 5, 7)
  xs[0] = _mm256_shuffle_ps(t0, t2, 0x44);
  xs[1] = _mm256_shuffle_ps(t0, t2, 0xEE);
  xs[2] = _mm256_shuffle_ps(t1, t3, 0x44);
  xs[3] = _mm256_shuffle_ps(t1, t3, 0xEE);
}

QLUT_AVX2_FN inline __m256i avx2_quantize(__m256 xs[4], int i, __m256 inv) {
  __m256 t = (i & 1) ? xs[0] : _mm256_sub_ps(_mm256_setzero_ps(), xs[0]);
  t = (i & 2) ? _mm256_add_ps(t, xs[1]) : _mm256_sub_ps(t, xs[1]);
  t = (i & 4) ? _mm256_add_ps(t, xs[2]) : _mm256_sub_ps(t, xs[2]);
  t = (i & 8) ? _mm256_add_ps(t, xs[3]) : _mm256_sub_ps(t, xs[3]);
  __m256 r = _mm256_round_ps(_mm256_mul_ps(t, inv), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  r = _mm256_min_ps(_mm256_max_ps(r, _mm256_set1_ps(-127.0f)), _mm256_set1_ps(127.0f));
  return _mm256_cvtps_epi32(r);
}

// Four entries (e..e+3) of 8 groups -> per 128-bit lane [group][entry] 4x4 bytes for the
// groups (0, 2, 4, 6) in lane 0 and (1, 3, 5, 7) in lane 1.
QLUT_AVX2_FN inline __m256i avx2_entries4(__m256 xs[4], int e, __m256 inv) {
  __m256i a = _mm256_packs_epi32(avx2_quantize(xs, e, inv), avx2_quantize(xs, e + 1, inv));
  __m256i b = _mm256_packs_epi32(avx2_quantize(xs, e + 2, inv), avx2_quantize(xs, e + 3, inv));
  __m256i bytes = _mm256_packs_epi16(a, b);  // lane: [entry][group] 4 x 4
  const __m256i tr = _mm256_setr_epi8(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15,
                                      0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
  return _mm256_shuffle_epi8(bytes, tr);
}

QLUT_AVX2_FN void build_row_avx2(const float *x, const Dims &d, bool half, uint8_t *tab,
                                  float *scale) {
  for (int kb = 0; kb < d.nkb; ++kb) {
    int j0 = kb * kBlockGroups, j1 = std::min(j0 + kBlockGroups, d.groups);
    __m256 amax8 = _mm256_setzero_ps();
    int j = j0;
    const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    for (; j + 8 <= j1; j += 8) {
      __m256 xs[4];
      avx2_transpose8(x + 4 * j, xs);
      __m256 a = _mm256_add_ps(_mm256_and_ps(xs[0], absmask), _mm256_and_ps(xs[1], absmask));
      a = _mm256_add_ps(a, _mm256_and_ps(xs[2], absmask));
      a = _mm256_add_ps(a, _mm256_and_ps(xs[3], absmask));
      amax8 = _mm256_max_ps(amax8, a);
    }
    alignas(32) float lanes[8];
    _mm256_store_ps(lanes, amax8);
    float amax = 0.0f;
    for (float v : lanes) amax = v > amax ? v : amax;
    for (; j < j1; ++j) {  // a tail of 4 groups
      const float *g = x + 4 * j;
      float a = ((std::fabs(g[0]) + std::fabs(g[1])) + std::fabs(g[2])) + std::fabs(g[3]);
      amax = a > amax ? a : amax;
    }
    scale[kb] = amax / 127.0f;
    float inv_s = amax > 0.0f ? 127.0f / amax : 0.0f;
    __m256 inv = _mm256_set1_ps(inv_s);
    j = j0;
    for (; j + 8 <= j1; j += 8) {
      __m256 xs[4];
      avx2_transpose8(x + 4 * j, xs);
      if (half) {
        // entries 8..15 -> 8 bytes per group, offset by 128 (xor 0x80)
        __m256i lo = avx2_entries4(xs, 8, inv), hi = avx2_entries4(xs, 12, inv);
        __m256i flip = _mm256_set1_epi8((char)0x80);
        __m256i g02 = _mm256_xor_si256(_mm256_unpacklo_epi32(lo, hi), flip);  // groups 0,2 | 1,3
        __m256i g46 = _mm256_xor_si256(_mm256_unpackhi_epi32(lo, hi), flip);  // groups 4,6 | 5,7
        __m128i a = _mm256_castsi256_si128(g02), b = _mm256_extracti128_si256(g02, 1);
        __m128i c = _mm256_castsi256_si128(g46), e = _mm256_extracti128_si256(g46, 1);
        uint8_t *out = tab + (j / 2) * 16;
        _mm_storeu_si128((__m128i *)(out + 0), _mm_unpacklo_epi64(a, b));   // groups 0, 1
        _mm_storeu_si128((__m128i *)(out + 16), _mm_unpackhi_epi64(a, b));  // groups 2, 3
        _mm_storeu_si128((__m128i *)(out + 32), _mm_unpacklo_epi64(c, e));  // groups 4, 5
        _mm_storeu_si128((__m128i *)(out + 48), _mm_unpackhi_epi64(c, e));  // groups 6, 7
      } else {
        __m256i e0 = avx2_entries4(xs, 0, inv), e4 = avx2_entries4(xs, 4, inv);
        __m256i e8 = avx2_entries4(xs, 8, inv), e12 = avx2_entries4(xs, 12, inv);
        __m256i ab_lo = _mm256_unpacklo_epi32(e0, e4), ab_hi = _mm256_unpackhi_epi32(e0, e4);
        __m256i cd_lo = _mm256_unpacklo_epi32(e8, e12), cd_hi = _mm256_unpackhi_epi32(e8, e12);
        __m256i g0 = _mm256_unpacklo_epi64(ab_lo, cd_lo);  // groups 0 | 1
        __m256i g2 = _mm256_unpackhi_epi64(ab_lo, cd_lo);  // groups 2 | 3
        __m256i g4 = _mm256_unpacklo_epi64(ab_hi, cd_hi);  // groups 4 | 5
        __m256i g6 = _mm256_unpackhi_epi64(ab_hi, cd_hi);  // groups 6 | 7
        uint8_t *out = tab + j * 16;
        _mm256_storeu_si256((__m256i *)(out + 0), g0);
        _mm256_storeu_si256((__m256i *)(out + 32), g2);
        _mm256_storeu_si256((__m256i *)(out + 64), g4);
        _mm256_storeu_si256((__m256i *)(out + 96), g6);
      }
    }
    for (; j < j1; ++j) {
      const float *g = x + 4 * j;
      if (half) {
        uint8_t *out = tab + (j / 2) * 16 + (j & 1) * 8;
        for (int h = 0; h < 8; ++h)
          out[h] = (uint8_t)(quantize_entry(entry(g, 8 + h) * inv_s) + 128);
      } else {
        int8_t *out = (int8_t *)tab + j * 16;
        for (int i = 0; i < 16; ++i) out[i] = quantize_entry(entry(g, i) * inv_s);
      }
    }
  }
}
#endif

#ifdef QLUT_ARM
// NEON table builder (full tables): 4 groups at a time, the same float operations in order.
QLUT_NEON_FN inline float32x4_t neon_entry(const float32x4x4_t &g, int i) {
  float32x4_t t = (i & 1) ? g.val[0] : vnegq_f32(g.val[0]);
  t = (i & 2) ? vaddq_f32(t, g.val[1]) : vsubq_f32(t, g.val[1]);
  t = (i & 4) ? vaddq_f32(t, g.val[2]) : vsubq_f32(t, g.val[2]);
  return (i & 8) ? vaddq_f32(t, g.val[3]) : vsubq_f32(t, g.val[3]);
}

// entries e..e+3 of 4 groups -> [group][entry] 4 x 4 bytes
QLUT_NEON_FN inline uint8x16_t neon_entries4(const float32x4x4_t &g, int e, float32x4_t inv) {
  const int32x4_t lo = vdupq_n_s32(-127), hi = vdupq_n_s32(127);
  int32x4_t q[4];
  for (int i = 0; i < 4; ++i)
    q[i] = vminq_s32(vmaxq_s32(vcvtnq_s32_f32(vmulq_f32(neon_entry(g, e + i), inv)), lo), hi);
  int16x8_t a = vcombine_s16(vmovn_s32(q[0]), vmovn_s32(q[1]));
  int16x8_t b = vcombine_s16(vmovn_s32(q[2]), vmovn_s32(q[3]));
  uint8x16_t bytes = vreinterpretq_u8_s8(vcombine_s8(vmovn_s16(a), vmovn_s16(b)));  // [entry][group]
  const uint8_t tr[16] = {0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15};
  return vqtbl1q_u8(bytes, vld1q_u8(tr));
}

QLUT_NEON_FN void build_row_neon(const float *x, const Dims &d, uint8_t *tab, float *scale) {
  for (int kb = 0; kb < d.nkb; ++kb) {
    const int j0 = kb * kBlockGroups, j1 = std::min(j0 + kBlockGroups, d.groups);
    float32x4_t amax4 = vdupq_n_f32(0.0f);
    for (int j = j0; j < j1; j += 4) {  // groups come in fours (Kp is a multiple of 16)
      float32x4x4_t g = vld4q_f32(x + 4 * j);
      float32x4_t a = vaddq_f32(vabsq_f32(g.val[0]), vabsq_f32(g.val[1]));
      a = vaddq_f32(vaddq_f32(a, vabsq_f32(g.val[2])), vabsq_f32(g.val[3]));
      amax4 = vmaxq_f32(amax4, a);
    }
    const float amax = vmaxvq_f32(amax4);
    scale[kb] = amax / 127.0f;
    const float32x4_t inv = vdupq_n_f32(amax > 0.0f ? 127.0f / amax : 0.0f);
    for (int j = j0; j < j1; j += 4) {
      float32x4x4_t g = vld4q_f32(x + 4 * j);
      uint32x4_t e0 = vreinterpretq_u32_u8(neon_entries4(g, 0, inv));
      uint32x4_t e4 = vreinterpretq_u32_u8(neon_entries4(g, 4, inv));
      uint32x4_t e8 = vreinterpretq_u32_u8(neon_entries4(g, 8, inv));
      uint32x4_t e12 = vreinterpretq_u32_u8(neon_entries4(g, 12, inv));
      uint64x2_t ab0 = vreinterpretq_u64_u32(vzip1q_u32(e0, e4));   // g0 e0-7, g1 e0-7
      uint64x2_t ab1 = vreinterpretq_u64_u32(vzip2q_u32(e0, e4));   // g2, g3
      uint64x2_t cd0 = vreinterpretq_u64_u32(vzip1q_u32(e8, e12));  // g0 e8-15, g1 e8-15
      uint64x2_t cd1 = vreinterpretq_u64_u32(vzip2q_u32(e8, e12));
      uint8_t *out = tab + j * 16;
      vst1q_u8(out, vreinterpretq_u8_u64(vzip1q_u64(ab0, cd0)));
      vst1q_u8(out + 16, vreinterpretq_u8_u64(vzip2q_u64(ab0, cd0)));
      vst1q_u8(out + 32, vreinterpretq_u8_u64(vzip1q_u64(ab1, cd1)));
      vst1q_u8(out + 48, vreinterpretq_u8_u64(vzip2q_u64(ab1, cd1)));
    }
  }
}
#endif

// ---------------------------------------------------------------------------------------
struct Job {
  int variant, planes, bits;
  Dims d;
  const uint8_t *packed;
  const uint8_t *tab;   // [m][tab_row]
  int64_t tab_row;      // bytes of one row's tables
  const float *scale;   // [m][nkb]
  const float *wscale, *bias;
  float *y;             // holds yacc (the K-block sum) until the last block, then y
  int64_t m;
  float pow2;           // 2^-bits
  const int32_t *qsum = nullptr;  // int8 kernels: sum of the quantized inputs [m][nkb]
  const int16_t *q16 = nullptr;   // int8 kernels, avx2 at b = 8: the inputs as int16 [m][kp]
  uint8_t *expanded = nullptr;    // x86 lookup kernels: per part, expanded indices
  size_t expanded_part = 0;       // bytes per part
};

// Output finishing in place: y = yacc * (wscale * 2^-bits) + bias for columns [n0, n1).
inline void finish(const Job &J, int64_t row, int n0, int n1) {
  float *out = J.y + row * J.d.n;
  for (int n = n0; n < n1; ++n) {
    float v = out[n] * (J.wscale[n] * J.pow2);
    out[n] = J.bias ? v + J.bias[n] : v;
  }
}

// yacc = fma(acc, scale, yacc) for one row and the columns [n0, n1) of a tile (yacc = 0 in
// the first K-block), and the finishing step after the last one.
inline void accumulate(const Job &J, int64_t row, int kb, int n0, int n1, const float *acc) {
  float *out = J.y + row * J.d.n;
  const float s = J.scale[row * J.d.nkb + kb];
  for (int n = n0; n < n1; ++n) out[n] = std::fma(acc[n - n0], s, kb ? out[n] : 0.0f);
  if (kb == J.d.nkb - 1) finish(J, row, n0, n1);
}

void scalar_block(const Job &J, int t, int64_t m0, int64_t m1, int kb) {
  const Dims &d = J.d;
  const int row_bytes = d.kp / 8;
  const int n0 = t * kTileN, n1 = std::min(n0 + kTileN, d.n);
  const int j0 = kb * kBlockGroups, j1 = std::min(j0 + kBlockGroups, d.groups);
  float acc[kTileN];
  for (int64_t m = m0; m < m1; ++m) {
    const int8_t *tab = (const int8_t *)(J.tab + m * J.tab_row);
    for (int n = n0; n < n1; ++n) {
      int32_t a = 0;
      for (int p = 0; p < J.bits; ++p) {
        const uint8_t *bits = J.packed + (int64_t)p * d.n * row_bytes;
        int32_t sum = 0;
        for (int j = j0; j < j1; ++j) sum += tab[j * 16 + nibble(bits, row_bytes, n, j)];
        a = 2 * a + sum;
      }
      acc[n - n0] = (float)a;
    }
    accumulate(J, m, kb, n0, n1, acc);
  }
}

#ifdef QLUT_X86
QLUT_AVX2_FN inline void avx2_store(const Job &J, int64_t row, int kb, int n0, __m256 lo,
                                    __m256 hi) {
  if (n0 + kTileN > J.d.n) {  // the last, partial tile
    alignas(32) float acc[kTileN];
    _mm256_store_ps(acc, lo);
    _mm256_store_ps(acc + 8, hi);
    accumulate(J, row, kb, n0, J.d.n, acc);
    return;
  }
  float *out = J.y + row * J.d.n + n0;
  const __m256 s = _mm256_set1_ps(J.scale[row * J.d.nkb + kb]);
  __m256 ylo = kb ? _mm256_loadu_ps(out) : _mm256_setzero_ps();
  __m256 yhi = kb ? _mm256_loadu_ps(out + 8) : _mm256_setzero_ps();
  ylo = _mm256_fmadd_ps(lo, s, ylo);
  yhi = _mm256_fmadd_ps(hi, s, yhi);
  if (kb == J.d.nkb - 1) {
    const __m256 pow2 = _mm256_set1_ps(J.pow2);
    ylo = _mm256_mul_ps(ylo, _mm256_mul_ps(_mm256_loadu_ps(J.wscale + n0), pow2));
    yhi = _mm256_mul_ps(yhi, _mm256_mul_ps(_mm256_loadu_ps(J.wscale + n0 + 8), pow2));
    if (J.bias) {
      ylo = _mm256_add_ps(ylo, _mm256_loadu_ps(J.bias + n0));
      yhi = _mm256_add_ps(yhi, _mm256_loadu_ps(J.bias + n0 + 8));
    }
  }
  _mm256_storeu_ps(out, ylo);
  _mm256_storeu_ps(out + 8, yhi);
}

// The table indices and mirror signs of one tile's planes for one K-block, expanded once per
// (tile, K-block) into a thread's scratch and reused by every row: [plane][pair][idx 32 | sg 32].
// From the packed word A | B << 4 per output: bytes (A, B), the index clears bit 3 of A and
// sets it in B (the half table of group 2r, then of 2r + 1), the sign is +-1 from bit 3.
constexpr int kPairExpanded = 64;

// Index and mirror signs of one group pair of 16 outputs from the packed words A | B << 4.
QLUT_AVX2_FN inline void avx2_pair_index(const uint8_t *w, __m256i *idx, __m256i *sg) {
  const __m256i c0f0f = _mm256_set1_epi16(0x0F0F), c0f07 = _mm256_set1_epi16(0x0F07);
  const __m256i c0800 = _mm256_set1_epi16(0x0800);
  const __m256i signs = _mm256_setr_epi8(-1, -1, -1, -1, -1, -1, -1, -1, 1, 1, 1, 1, 1, 1, 1, 1,
                                         -1, -1, -1, -1, -1, -1, -1, -1, 1, 1, 1, 1, 1, 1, 1, 1);
  __m256i wv = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)w));
  __m256i x = _mm256_and_si256(_mm256_or_si256(wv, _mm256_slli_epi16(wv, 4)), c0f0f);
  *idx = _mm256_and_si256(_mm256_or_si256(x, c0800), c0f07);
  *sg = _mm256_shuffle_epi8(signs, x);
}

QLUT_AVX2_FN void avx2_expand(const Job &J, int t, int kb, uint8_t *out) {
  const Dims &d = J.d;
  const int npairs = d.groups / 2;
  const int pa = kb * (kBlockGroups / 2), pb = std::min(pa + kBlockGroups / 2, npairs);
  for (int p = 0; p < J.bits; ++p) {
    const uint8_t *w = J.packed + (((int64_t)t * J.planes + p) * npairs + pa) * 16;
    for (int pr = pa; pr < pb; ++pr, w += 16, out += kPairExpanded) {
      __m256i idx, sg;
      avx2_pair_index(w, &idx, &sg);
      _mm256_store_si256((__m256i *)out, idx);
      _mm256_store_si256((__m256i *)(out + 32), sg);
    }
  }
}

// R rows x 16 outputs x one K-block on the expanded indices: for each plane, int16 sums over
// the block's group pairs (acc += sg * (H[idx] + 128)), then int32 Horner, minus 128 x the
// mirror-sign sums.
// Direct: the indices computed here from the packed words (few rows: expanding would cost more).
template <int R, bool Direct = false>
QLUT_AVX2_FN void avx2_rows(const Job &J, int t, int64_t m0, int kb, const uint8_t *ex) {
  static_assert(R >= 1 && R <= 12, "named accumulators acc0..acc11");
  const Dims &d = J.d;
  const int npairs = d.groups / 2;
  const int pa = kb * (kBlockGroups / 2), pb = std::min(pa + kBlockGroups / 2, npairs);
  const uint8_t *tab[12];
  for (int r = 0; r < R; ++r) tab[r] = J.tab + (m0 + r) * J.tab_row;
  __m256i alo[R], ahi[R];  // int32 Horner sums (assigned at p = 0)
  __m256i clo = _mm256_setzero_si256(), chi = _mm256_setzero_si256();
  const int16_t *c16 = (const int16_t *)(J.packed + pair_main_bytes(d, J.planes)) +
                       ((int64_t)t * J.planes * d.nkb + kb) * kTileN;
  for (int p = 0; p < J.bits; ++p) {
    // Horner of the mirror-sign sums, the correction of the +128 offset
    const __m256i c = _mm256_cvtepi16_epi32(_mm_loadu_si128((const __m128i *)(c16)));
    const __m256i c2 = _mm256_cvtepi16_epi32(_mm_loadu_si128((const __m128i *)(c16 + 8)));
    clo = _mm256_add_epi32(_mm256_slli_epi32(clo, 1), c);
    chi = _mm256_add_epi32(_mm256_slli_epi32(chi, 1), c2);
    c16 += (int64_t)d.nkb * kTileN;
    // named accumulators (an array would live in memory across the asm steps)
    __m256i acc0, acc1, acc2, acc3, acc4, acc5, acc6, acc7, acc8, acc9, acc10, acc11;
    acc0 = acc1 = acc2 = acc3 = acc4 = acc5 = acc6 = acc7 = _mm256_setzero_si256();
    acc8 = acc9 = acc10 = acc11 = _mm256_setzero_si256();
    const uint8_t *e = ex + (int64_t)p * (pb - pa) * kPairExpanded;
    const uint8_t *w = J.packed + (((int64_t)t * J.planes + p) * npairs + pa) * 16;
    for (int pr = pa; pr < pb; ++pr, e += kPairExpanded, w += 16) {
      __m256i idx, sg;
      if (Direct) {
        avx2_pair_index(w, &idx, &sg);
      } else {
        idx = _mm256_load_si256((const __m256i *)e);
        sg = _mm256_load_si256((const __m256i *)(e + 32));
      }
#define QLUT_ROW(i) \
  if (i < R) QLUT_AVX2_STEP(acc##i, tab[i] + pr * 16, idx, sg);
      QLUT_ROW(0) QLUT_ROW(1) QLUT_ROW(2) QLUT_ROW(3) QLUT_ROW(4) QLUT_ROW(5)
      QLUT_ROW(6) QLUT_ROW(7) QLUT_ROW(8) QLUT_ROW(9) QLUT_ROW(10) QLUT_ROW(11)
#undef QLUT_ROW
    }
    const __m256i acc[12] = {acc0, acc1, acc2, acc3, acc4, acc5, acc6, acc7, acc8, acc9, acc10, acc11};
    for (int r = 0; r < R; ++r) {
      const __m256i lo = _mm256_cvtepi16_epi32(_mm256_castsi256_si128(acc[r]));
      const __m256i hi = _mm256_cvtepi16_epi32(_mm256_extracti128_si256(acc[r], 1));
      alo[r] = p ? _mm256_add_epi32(_mm256_slli_epi32(alo[r], 1), lo) : lo;
      ahi[r] = p ? _mm256_add_epi32(_mm256_slli_epi32(ahi[r], 1), hi) : hi;
    }
  }
  clo = _mm256_slli_epi32(clo, 7);
  chi = _mm256_slli_epi32(chi, 7);
  for (int r = 0; r < R; ++r)
    avx2_store(J, m0 + r, kb, t * kTileN, _mm256_cvtepi32_ps(_mm256_sub_epi32(alo[r], clo)),
               _mm256_cvtepi32_ps(_mm256_sub_epi32(ahi[r], chi)));
}

// One group of tiles [tg, te) x every row x one K-block: expand the group's indices once
// (G x b x 4 KB), then the rows in blocks of 12, each block's tables
// (12 KB) staying in L1 while the group's tiles pass. The order of groups and K-blocks is
// lut_tiles'.
constexpr int kExpandTiles = 4;  // tiles per group, at least
constexpr int kDirectRows = 8;   // up to this many rows, no expansion (one row block)

void avx2_group(const Job &J, int tg, int te, int64_t m, int kb, uint8_t *ex) {
  if (m <= kDirectRows) {  // one block of rows: the indices computed in place
    int64_t r = 0;
    for (; r + 8 <= m; r += 8)
      for (int t = tg; t < te; ++t) avx2_rows<8, true>(J, t, r, kb, ex);
    for (; r + 4 <= m; r += 4)
      for (int t = tg; t < te; ++t) avx2_rows<4, true>(J, t, r, kb, ex);
    for (; r + 2 <= m; r += 2)
      for (int t = tg; t < te; ++t) avx2_rows<2, true>(J, t, r, kb, ex);
    for (; r < m; ++r)
      for (int t = tg; t < te; ++t) avx2_rows<1, true>(J, t, r, kb, ex);
    return;
  }
  const size_t per_tile = (size_t)J.bits * (kBlockGroups / 2) * kPairExpanded;
  for (int t = tg; t < te; ++t) avx2_expand(J, t, kb, ex + (t - tg) * per_tile);
  int64_t r = 0;
  for (; r + 12 <= m; r += 12)
    for (int t = tg; t < te; ++t) avx2_rows<12>(J, t, r, kb, ex + (t - tg) * per_tile);
  for (; r + 8 <= m; r += 8)
    for (int t = tg; t < te; ++t) avx2_rows<8>(J, t, r, kb, ex + (t - tg) * per_tile);
  for (; r + 4 <= m; r += 4)
    for (int t = tg; t < te; ++t) avx2_rows<4>(J, t, r, kb, ex + (t - tg) * per_tile);
  for (; r + 2 <= m; r += 2)
    for (int t = tg; t < te; ++t) avx2_rows<2>(J, t, r, kb, ex + (t - tg) * per_tile);
  for (; r < m; ++r)
    for (int t = tg; t < te; ++t) avx2_rows<1>(J, t, r, kb, ex + (t - tg) * per_tile);
}

// The vpermb indices of one tile's planes for one K-block, expanded once per (tile group,
// K-block) into a thread's scratch and reused by every row: [plane][quad][64 bytes].
constexpr int kQuadExpanded = 64;

QLUT_AVX512_FN inline __m512i avx512_quad_index(const uint8_t *w) {
  const __m512i low = _mm512_set1_epi8(0x0F);
  const __m512i sel = _mm512_set1_epi32(0x30201000);
  const __m512i shifts = _mm512_set1_epi64(0x2C2824200C080400LL);  // bits 0,4,8,12,32,...,44
  __m512i wd = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)w));
  return _mm512_ternarylogic_epi32(_mm512_multishift_epi64_epi8(shifts, wd), low, sel, 0xEA);
}

QLUT_AVX512_FN void avx512_expand(const Job &J, int t, int kb, uint8_t *out) {
  const int nquads = J.d.groups / 4;
  const int qa = kb * (kBlockGroups / 4), qb = std::min(qa + kBlockGroups / 4, nquads);
  for (int p = 0; p < J.bits; ++p) {
    const uint8_t *w = J.packed + (((int64_t)t * J.planes + p) * nquads + qa) * 32;
    for (int q = qa; q < qb; ++q, w += 32, out += kQuadExpanded)
      _mm512_store_si512((void *)out, avx512_quad_index(w));
  }
}

// R rows x 16 outputs x one K-block on the expanded indices: vpermb over four groups' tables,
// vpdpbusd into int32, Horner over planes in the accumulator itself.
template <int R, bool Direct = false>
QLUT_AVX512_FN void avx512_rows(const Job &J, int t, int64_t m0, int kb, const uint8_t *ex) {
  const Dims &d = J.d;
  const int nquads = d.groups / 4;
  const int qa = kb * (kBlockGroups / 4), qb = std::min(qa + kBlockGroups / 4, nquads);
  const uint8_t *tab[R];
  for (int r = 0; r < R; ++r) tab[r] = J.tab + (m0 + r) * J.tab_row;
  const __m512i ones = _mm512_set1_epi8(1);
  __m512i acc[R];
  for (int r = 0; r < R; ++r) acc[r] = _mm512_setzero_si512();
  for (int p = 0; p < J.bits; ++p) {
    for (int r = 0; r < R; ++r) acc[r] = _mm512_slli_epi32(acc[r], 1);
    const uint8_t *e = ex + (int64_t)p * (qb - qa) * kQuadExpanded;
    const uint8_t *w = J.packed + (((int64_t)t * J.planes + p) * nquads + qa) * 32;
    for (int q = qa; q < qb; ++q, e += kQuadExpanded, w += 32) {
      const __m512i idx = Direct ? avx512_quad_index(w) : _mm512_load_si512((const void *)e);
      for (int r = 0; r < R; ++r) {
        __m512i tb = _mm512_loadu_si512((const void *)(tab[r] + q * 64));
        acc[r] = _mm512_dpbusd_epi32(acc[r], ones, _mm512_permutexvar_epi8(idx, tb));
      }
    }
  }
  const int n0 = t * kTileN;
  for (int r = 0; r < R; ++r) {
    const int64_t row = m0 + r;
    if (n0 + kTileN > d.n) {  // the last, partial tile
      alignas(64) float a[kTileN];
      _mm512_store_ps(a, _mm512_cvtepi32_ps(acc[r]));
      accumulate(J, row, kb, n0, d.n, a);
      continue;
    }
    float *out = J.y + row * d.n + n0;
    __m512 y = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc[r]), _mm512_set1_ps(J.scale[row * d.nkb + kb]),
                               kb ? _mm512_loadu_ps(out) : _mm512_setzero_ps());
    if (kb == d.nkb - 1) {
      y = _mm512_mul_ps(y, _mm512_mul_ps(_mm512_loadu_ps(J.wscale + n0),
                                         _mm512_set1_ps(J.pow2)));
      if (J.bias) y = _mm512_add_ps(y, _mm512_loadu_ps(J.bias + n0));
    }
    _mm512_storeu_ps(out, y);
  }
}

// As avx2_group: rows in blocks of 8 (8 rows' tables for a K-block, 16 KB; 16 rows measured
// no faster).
void avx512_group(const Job &J, int tg, int te, int64_t m, int kb, uint8_t *ex) {
  if (m <= kDirectRows) {  // one block of rows: the indices computed in place
    int64_t r = 0;
    for (; r + 8 <= m; r += 8)
      for (int t = tg; t < te; ++t) avx512_rows<8, true>(J, t, r, kb, ex);
    for (; r + 4 <= m; r += 4)
      for (int t = tg; t < te; ++t) avx512_rows<4, true>(J, t, r, kb, ex);
    for (; r < m; ++r)
      for (int t = tg; t < te; ++t) avx512_rows<1, true>(J, t, r, kb, ex);
    return;
  }
  const size_t per_tile = (size_t)J.bits * (kBlockGroups / 4) * kQuadExpanded;
  for (int t = tg; t < te; ++t) avx512_expand(J, t, kb, ex + (t - tg) * per_tile);
  int64_t r = 0;
  for (; r + 8 <= m; r += 8)
    for (int t = tg; t < te; ++t) avx512_rows<8>(J, t, r, kb, ex + (t - tg) * per_tile);
  for (; r + 4 <= m; r += 4)
    for (int t = tg; t < te; ++t) avx512_rows<4>(J, t, r, kb, ex + (t - tg) * per_tile);
  for (; r < m; ++r)
    for (int t = tg; t < te; ++t) avx512_rows<1>(J, t, r, kb, ex + (t - tg) * per_tile);
}

// The x86 lookup kernels over tile groups and every row: K-blocks inside tile groups, so that a
// group's outputs (yacc, M x 16 G floats) stay in cache between K-blocks instead of a round trip
// to memory per K-block (197 x 3072 outputs: 2.4 MB), and the groups handed out to the threads
// one at a time from a shared counter (qlut_linear). Every row's tables are read once per
// group and K-block: G = M x table row / 256 KB tiles per group (4..16) keeps that stream below
// ~1 byte per lookup cycle when the tables outgrow L2 (197 x 3072 inputs: 1.2 MB for avx2,
// 2.4 MB for avx512).
int lut_group_tiles(int64_t m, int64_t tab_row) {
  const int64_t g = (m * tab_row + (256 << 10) - 1) / (256 << 10);
  return (int)std::min<int64_t>(16, std::max<int64_t>(kExpandTiles, g));
}

size_t lut_expanded_bytes(int variant, int bits, int group_tiles) {
  const size_t per_tile = (size_t)bits * kBlockGroups *
                          (variant == QLUT_AVX2 ? kPairExpanded / 2 : kQuadExpanded / 4);
  return (per_tile * group_tiles + 63) / 64 * 64;
}

void lut_group_all_blocks(const Job &J, int part, int tg, int te, int64_t m) {
  uint8_t *ex = J.expanded + part * J.expanded_part;
  auto group = J.variant == QLUT_AVX2 ? avx2_group : avx512_group;
  for (int kb = 0; kb < J.d.nkb; ++kb) group(J, tg, te, m, kb, ex);
}
#endif

#ifdef QLUT_ARM
// R rows x 16 outputs x one K-block: tbl over four groups' tables (64 bytes), sdot into int32.
template <int R>
QLUT_NEON_FN void neon_rows(const Job &J, int t, int64_t m0, int kb) {
  const Dims &d = J.d;
  const int nquads = d.groups / 4;
  const int qa = kb * (kBlockGroups / 4), qb = std::min(qa + kBlockGroups / 4, nquads);
  const uint8_t *tab[R];
  for (int r = 0; r < R; ++r) tab[r] = J.tab + (m0 + r) * J.tab_row;
  const int8x16_t ones = vdupq_n_s8(1);
  const uint8x16_t low = vdupq_n_u8(0x0F);
  const uint8x16_t sel = vreinterpretq_u8_u32(vdupq_n_u32(0x30201000u));
  int32x4_t acc[R][4];
  for (int r = 0; r < R; ++r)
    for (int k = 0; k < 4; ++k) acc[r][k] = vdupq_n_s32(0);
  for (int p = 0; p < J.bits; ++p) {
    for (int r = 0; r < R; ++r)
      for (int k = 0; k < 4; ++k) acc[r][k] = vshlq_n_s32(acc[r][k], 1);
    const uint8_t *w = J.packed + (((int64_t)t * J.planes + p) * nquads + qa) * 32;
    for (int q = qa; q < qb; ++q, w += 32) {
      uint8x16_t idx[4];
      for (int h = 0; h < 2; ++h) {
        uint8x16_t raw = vld1q_u8(w + 16 * h);  // 8 outputs x (g0|g1<<4, g2|g3<<4)
        uint8x16_t lo = vandq_u8(raw, low), hi = vshrq_n_u8(raw, 4);
        idx[2 * h] = vorrq_u8(vzip1q_u8(lo, hi), sel);
        idx[2 * h + 1] = vorrq_u8(vzip2q_u8(lo, hi), sel);
      }
      for (int r = 0; r < R; ++r) {
        uint8x16x4_t tb = vld1q_u8_x4(tab[r] + q * 64);
        for (int k = 0; k < 4; ++k)
          acc[r][k] = vdotq_s32(acc[r][k], vreinterpretq_s8_u8(vqtbl4q_u8(tb, idx[k])), ones);
      }
    }
  }
  const int n0 = t * kTileN;
  for (int r = 0; r < R; ++r) {
    float a[kTileN];
    for (int k = 0; k < 4; ++k) vst1q_f32(a + 4 * k, vcvtq_f32_s32(acc[r][k]));
    accumulate(J, m0 + r, kb, n0, std::min(n0 + kTileN, d.n), a);
  }
}

void neon_block(const Job &J, int t, int64_t m0, int64_t m1, int kb) {
  int64_t m = m0;
  for (; m + 4 <= m1; m += 4) neon_rows<4>(J, t, m, kb);
  for (; m < m1; ++m) neon_rows<1>(J, t, m, kb);
}
#endif

// ---------------------------------------------------------------------------------------
// int8 kernels (qlut_int8_*): y = x . w_b^T as one u8 x s8 integer GEMM on the stored unsigned
// B-bit codes, u_b = u_B >> (B - b), plus a row-sum correction: per row and K-block of 512
// inputs, acc = 2 sum_k q_k u_b[n][k] - (2^b - 1) sum_k q_k (|acc| < 512 * 127 * 255 < 2^24,
// so float(acc) is exact), then the lookup kernels' finish (accumulate, finish). Activations:
// q_k = clamp(rne(x_k * 127/amax), -127, 127), amax = max |x_k| over the row's K-block (see
// qcoinf_ros/core/lut/int8_reference.py). Every variant computes the same integers.
// Weight layout, one for every variant: [tile][Kp/4][16 outputs][4 codes], 64 bytes per
// K-quad of a tile (one zmm, two ymm, four q registers), zero codes past N and K.
constexpr int kBlockInputs = 4 * kBlockGroups;  // 512
constexpr int kQuadBytes = 4 * kTileN;

int64_t int8_packed_bytes(const Dims &d) { return (int64_t)d.ntiles * (d.kp / 4) * kQuadBytes; }

inline int32_t load32(const uint8_t *p) {
  int32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// One row: q int8 [kp] (zeros past k), and per K-block the scale and the sum of the q.
void int8_quantize_row_scalar(const float *x, const Dims &d, int8_t *q, float *scale,
                              int32_t *sum) {
  for (int kb = 0; kb < d.nkb; ++kb) {
    const int i0 = kb * kBlockInputs, i1 = std::min(i0 + kBlockInputs, d.kp);
    const int e = std::min(i1, d.k);
    float amax = 0.0f;
    for (int i = i0; i < e; ++i) {
      const float a = std::fabs(x[i]);
      amax = a > amax ? a : amax;
    }
    scale[kb] = amax / 127.0f;
    const float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
    int32_t s = 0;
    for (int i = i0; i < i1; ++i) {
      const int8_t v = i < e ? quantize_entry(x[i] * inv) : 0;
      q[i] = v;
      s += v;
    }
    sum[kb] = s;
  }
}

#ifdef QLUT_X86
// The same operations 8 and 32 inputs at a time (max is exact in any order; x * inv is one
// rounded product; cvtps rounds to nearest even under the default MXCSR, as nearbyint does).
QLUT_AVX2_FN void int8_quantize_row_avx2(const float *x, const Dims &d, int8_t *q, float *scale,
                                         int32_t *sum) {
  const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  const __m256i lo = _mm256_set1_epi32(-127), hi = _mm256_set1_epi32(127);
  const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  for (int kb = 0; kb < d.nkb; ++kb) {
    const int i0 = kb * kBlockInputs, i1 = std::min(i0 + kBlockInputs, d.kp);
    const int e = std::min(i1, d.k);
    __m256 m8 = _mm256_setzero_ps();
    int i = i0;
    for (; i + 8 <= e; i += 8) m8 = _mm256_max_ps(m8, _mm256_and_ps(_mm256_loadu_ps(x + i), absmask));
    alignas(32) float lanes[8];
    _mm256_store_ps(lanes, m8);
    float amax = 0.0f;
    for (float v : lanes) amax = v > amax ? v : amax;
    for (; i < e; ++i) {
      const float a = std::fabs(x[i]);
      amax = a > amax ? a : amax;
    }
    scale[kb] = amax / 127.0f;
    const float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
    const __m256 vinv = _mm256_set1_ps(inv);
    __m256i s8 = _mm256_setzero_si256();
    i = i0;
    for (; i + 32 <= e; i += 32) {
      __m256i v[4];
      for (int h = 0; h < 4; ++h) {
        v[h] = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + i + 8 * h), vinv));
        v[h] = _mm256_min_epi32(_mm256_max_epi32(v[h], lo), hi);
        s8 = _mm256_add_epi32(s8, v[h]);
      }
      const __m256i bytes = _mm256_packs_epi16(_mm256_packs_epi32(v[0], v[1]),
                                               _mm256_packs_epi32(v[2], v[3]));
      _mm256_storeu_si256((__m256i *)(q + i), _mm256_permutevar8x32_epi32(bytes, order));
    }
    alignas(32) int32_t parts[8];
    _mm256_store_si256((__m256i *)parts, s8);
    int32_t s = 0;
    for (int32_t v : parts) s += v;
    for (; i < i1; ++i) {
      const int8_t v = i < e ? quantize_entry(x[i] * inv) : 0;
      q[i] = v;
      s += v;
    }
    sum[kb] = s;
  }
}
#endif

// acc = 2 dot - (2^b - 1) sum_k q_k for one row and K-block.
inline int32_t int8_correction(const Job &J, int64_t row, int kb) {
  return ((1 << J.bits) - 1) * J.qsum[row * J.d.nkb + kb];
}

void scalar_i8_block(const Job &J, int t, int64_t m0, int64_t m1, int kb) {
  const Dims &d = J.d;
  const int quads = d.kp / 4;
  const int qa = kb * (kBlockInputs / 4), qb = std::min(qa + kBlockInputs / 4, quads);
  const int s = J.planes - J.bits;
  const int n0 = t * kTileN, n1 = std::min(n0 + kTileN, d.n);
  float acc[kTileN];
  for (int64_t m = m0; m < m1; ++m) {
    const int8_t *xq = (const int8_t *)(J.tab + m * J.tab_row);
    const int32_t c = int8_correction(J, m, kb);
    for (int i = 0; i < n1 - n0; ++i) {
      int32_t dot = 0;
      for (int q = qa; q < qb; ++q) {
        const uint8_t *w = J.packed + ((int64_t)t * quads + q) * kQuadBytes + 4 * i;
        for (int j = 0; j < 4; ++j) dot += xq[4 * q + j] * (int32_t)(w[j] >> s);
      }
      acc[i] = (float)(2 * dot - c);
    }
    accumulate(J, m, kb, n0, n1, acc);
  }
}

void scalar_i8_block_all(const Job &J, int t0, int t1, int64_t m, int kb) {
  for (int t = t0; t < t1; ++t) scalar_i8_block(J, t, 0, m, kb);
}

#ifdef QLUT_X86
// AVX2 (no VNNI): vpmaddubsw multiplies u8 x s8 and adds each pair into int16, saturating.
// For b <= 7, u_b <= 2^b - 1 <= 127 and |q| <= 127, so a pair is at most 254 (2^b - 1) <= 32258:
// exact. Those int16 pair sums are then added in int16 (vpaddw) over a run of
// H(b) = floor(32767 / (254 (2^b - 1))) quads (129, 43, 18, 8, 4, 2, 1 for b = 1..7): every
// partial sum stays within +-32767, so nothing wraps, and only then widened into int32 by
// vpmaddwd with ones. Fewer widenings, fewer multiply-port uops per product: the per-b headroom
// (b <= 4: ~1.1 multiply uops per 32 products instead of 2).
// b = 8 (u up to 255: a pair could reach 64770) widens instead of splitting: the codes are
// zero-extended to int16, the activations kept as int16 too, and vpmaddwd multiplies and adds
// pairs into int32 exactly (16 products per uop: the same multiply-port cost as b = 7, no
// second pass). 8 uops per 64 products against 6 for b <= 7 (fbgemm's AVX2 path has 6 at every
// width because it quantizes activations to 7 bits). 7-bit activations at b = 8 only were
// measured and rejected: on a ViT-B-like layer with outlier inputs the output error of b = 8
// with 7-bit activations (6.2 %) exceeds that of b = 7 with 8-bit ones (3.8 %), so b = 8 would
// cost as much as b = 7 and be worse, and the planner's "more bits, less error" would break.
// A tile's codes for one K-block are converted once (shifted, u_b = u >> (B - b), or widened)
// into a thread's scratch and reused by every row: the per-row loop is loads and multiply-adds.
constexpr int kI8BlockQuads = kBlockInputs / 4;  // 128
constexpr int kI8ConvertRows = 16;  // avx512: from this many rows, convert a pair's codes once

inline int int8_headroom(int bits) { return 32767 / (254 * ((1 << bits) - 1)); }

QLUT_AVX2_FN void avx2_i8_convert(const Job &J, int t, int kb, int nq, bool wide, void *dst) {
  const int quads = J.d.kp / 4;
  const uint8_t *w = J.packed + ((int64_t)t * quads + kb * kI8BlockQuads) * kQuadBytes;
  if (wide) {
    int16_t *out = (int16_t *)dst;
    for (int i = 0; i < nq * kQuadBytes; i += 16)
      _mm256_store_si256((__m256i *)(out + i),
                         _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(w + i))));
    return;
  }
  const int s = J.planes - J.bits;
  const __m128i count = _mm_cvtsi32_si128(s);
  const __m256i mask = _mm256_set1_epi8((char)(0xFF >> s));
  uint8_t *out = (uint8_t *)dst;
  for (int i = 0; i < nq * kQuadBytes; i += 32)
    _mm256_store_si256((__m256i *)(out + i),
                       _mm256_and_si256(_mm256_srl_epi16(
                           _mm256_loadu_si256((const __m256i *)(w + i)), count), mask));
}

QLUT_AVX2_FN inline void avx2_i8_finish(const Job &J, int t, int64_t row, int kb, __m256i d0,
                                        __m256i d1) {
  const __m256i c = _mm256_set1_epi32(int8_correction(J, row, kb));
  const __m256i a0 = _mm256_sub_epi32(_mm256_add_epi32(d0, d0), c);
  const __m256i a1 = _mm256_sub_epi32(_mm256_add_epi32(d1, d1), c);
  avx2_store(J, row, kb, t * kTileN, _mm256_cvtepi32_ps(a0), _mm256_cvtepi32_ps(a1));
}

// One row's steps of the AVX2 int8 kernels, written in asm with named accumulators (GCC's
// allocator otherwise spills or copies the accumulators every step, as for the lookup kernels);
// the intrinsic forms (QLUT_EMULATE) compute the same thing.
//   I8_RUN:  s0 += maddubs(w0, x4), s1 += maddubs(w1, x4)           (int16, inside a run)
//   I8_ONE:  a0 += madd(maddubs(w0, x4), 1), a1 += ...              (int32, runs of one quad)
//   I8_WIDE: a_j += madd(w[j], x4 as int16) for the four ymm of a quad (b = 8)
#if defined(QLUT_EMULATE)
#define QLUT_I8_RUN(s0, s1, xp, w0, w1)                                   \
  do {                                                                    \
    const __m256i xb_ = _mm256_set1_epi32(load32(xp));                    \
    s0 = _mm256_add_epi16(s0, _mm256_maddubs_epi16(w0, xb_));             \
    s1 = _mm256_add_epi16(s1, _mm256_maddubs_epi16(w1, xb_));             \
  } while (0)
#define QLUT_I8_ONE(a0, a1, xp, w0, w1, ones)                                                  \
  do {                                                                                         \
    const __m256i xb_ = _mm256_set1_epi32(load32(xp));                                         \
    a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(_mm256_maddubs_epi16(w0, xb_), ones));         \
    a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(_mm256_maddubs_epi16(w1, xb_), ones));         \
  } while (0)
#define QLUT_I8_FOLD(a0, a1, s0, s1, ones)                                          \
  do {                                                                              \
    const __m256i one_ = _mm256_load_si256((const __m256i *)(ones));                \
    a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(s0, one_));                         \
    a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(s1, one_));                         \
  } while (0)
#define QLUT_I8_WIDE(a0, a1, a2, a3, xp, w)                                                    \
  do {                                                                                         \
    int64_t x4_;                                                                               \
    std::memcpy(&x4_, xp, sizeof x4_);                                                         \
    const __m256i xb_ = _mm256_set1_epi64x(x4_);                                               \
    a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(_mm256_load_si256((const __m256i *)(w)), xb_)); \
    a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(_mm256_load_si256((const __m256i *)(w) + 1), xb_)); \
    a2 = _mm256_add_epi32(a2, _mm256_madd_epi16(_mm256_load_si256((const __m256i *)(w) + 2), xb_)); \
    a3 = _mm256_add_epi32(a3, _mm256_madd_epi16(_mm256_load_si256((const __m256i *)(w) + 3), xb_)); \
  } while (0)
#else
#define QLUT_I8_RUN(s0, s1, xp, w0, w1)                                        \
  do {                                                                         \
    __m256i xb_, t_;                                                           \
    __asm__("vpbroadcastd %[x], %[xb]\n\t"                                     \
            "vpmaddubsw %[xb], %[u0], %[t]\n\t"                                \
            "vpaddw %[t], %[c0], %[c0]\n\t"                                    \
            "vpmaddubsw %[xb], %[u1], %[t]\n\t"                                \
            "vpaddw %[t], %[c1], %[c1]"                                        \
            : [c0] "+x"(s0), [c1] "+x"(s1), [xb] "=&x"(xb_), [t] "=&x"(t_)     \
            : [x] "m"(*(const int32_t *)(xp)), [u0] "x"(w0), [u1] "x"(w1));    \
  } while (0)
#define QLUT_I8_ONE(a0, a1, xp, w0, w1, ones)                                            \
  do {                                                                                   \
    __m256i xb_, t_;                                                                     \
    __asm__("vpbroadcastd %[x], %[xb]\n\t"                                               \
            "vpmaddubsw %[xb], %[u0], %[t]\n\t"                                          \
            "vpmaddwd %[one], %[t], %[t]\n\t"                                            \
            "vpaddd %[t], %[c0], %[c0]\n\t"                                              \
            "vpmaddubsw %[xb], %[u1], %[t]\n\t"                                          \
            "vpmaddwd %[one], %[t], %[t]\n\t"                                            \
            "vpaddd %[t], %[c1], %[c1]"                                                  \
            : [c0] "+x"(a0), [c1] "+x"(a1), [xb] "=&x"(xb_), [t] "=&x"(t_)               \
            : [x] "m"(*(const int32_t *)(xp)), [u0] "x"(w0), [u1] "x"(w1), [one] "x"(ones)); \
  } while (0)
#define QLUT_I8_FOLD(a0, a1, s0, s1, ones)                                     \
  __asm__("vpmaddwd %[one], %[u0], %[u0]\n\t"                                  \
          "vpaddd %[u0], %[c0], %[c0]\n\t"                                     \
          "vpmaddwd %[one], %[u1], %[u1]\n\t"                                  \
          "vpaddd %[u1], %[c1], %[c1]"                                          \
          : [c0] "+x"(a0), [c1] "+x"(a1), [u0] "+x"(s0), [u1] "+x"(s1)          \
          : [one] "m"(*(const __m256i *)(ones)))
#define QLUT_I8_WIDE(a0, a1, a2, a3, xp, w)                                                \
  do {                                                                                     \
    __m256i xb_, t_;                                                                       \
    __asm__("vpbroadcastq %[x], %[xb]\n\t"                                                 \
            "vpmaddwd %[w0], %[xb], %[t]\n\t"                                              \
            "vpaddd %[t], %[c0], %[c0]\n\t"                                                \
            "vpmaddwd %[w1], %[xb], %[t]\n\t"                                              \
            "vpaddd %[t], %[c1], %[c1]\n\t"                                                \
            "vpmaddwd %[w2], %[xb], %[t]\n\t"                                              \
            "vpaddd %[t], %[c2], %[c2]\n\t"                                                \
            "vpmaddwd %[w3], %[xb], %[t]\n\t"                                              \
            "vpaddd %[t], %[c3], %[c3]"                                                    \
            : [c0] "+x"(a0), [c1] "+x"(a1), [c2] "+x"(a2), [c3] "+x"(a3), [xb] "=&x"(xb_), \
              [t] "=&x"(t_)                                                                \
            : [x] "m"(*(const int64_t *)(xp)), [w0] "m"(*(const __m256i *)(w)),            \
              [w1] "m"(*((const __m256i *)(w) + 1)), [w2] "m"(*((const __m256i *)(w) + 2)), \
              [w3] "m"(*((const __m256i *)(w) + 3)));                                      \
  } while (0)
#endif

// R <= 4 rows x 16 outputs x one K-block (b = 6, 7) on the shifted codes wb [nq][64]: every
// quad's pair sums widened into int32 at once.
template <int R>
QLUT_AVX2_FN void avx2_i8_rows1(const Job &J, const uint8_t *wb, int t, int64_t m0, int kb,
                                int nq) {
  static_assert(R >= 1 && R <= 4, "named accumulators c0..c3");
  const __m256i ones = _mm256_set1_epi16(1);
  const uint8_t *xr[4];
  for (int r = 0; r < R; ++r) xr[r] = J.tab + (m0 + r) * J.tab_row + 4 * kb * kI8BlockQuads;
  __m256i c0_0, c0_1, c1_0, c1_1, c2_0, c2_1, c3_0, c3_1;
  c0_0 = c0_1 = c1_0 = c1_1 = c2_0 = c2_1 = c3_0 = c3_1 = _mm256_setzero_si256();
  for (int q = 0; q < nq; ++q) {
    const __m256i w0 = _mm256_load_si256((const __m256i *)(wb + q * kQuadBytes));
    const __m256i w1 = _mm256_load_si256((const __m256i *)(wb + q * kQuadBytes + 32));
#define QLUT_ROW(i) \
  if (i < R) QLUT_I8_ONE(c##i##_0, c##i##_1, xr[i] + 4 * q, w0, w1, ones);
    QLUT_ROW(0) QLUT_ROW(1) QLUT_ROW(2) QLUT_ROW(3)
#undef QLUT_ROW
  }
  const __m256i c[4][2] = {{c0_0, c0_1}, {c1_0, c1_1}, {c2_0, c2_1}, {c3_0, c3_1}};
  for (int r = 0; r < R; ++r) avx2_i8_finish(J, t, m0 + r, kb, c[r][0], c[r][1]);
}

// R <= 3 rows x 16 outputs x one K-block (b <= 5) on the shifted codes wb [nq][64]: runs of h
// quads summed in int16, then widened into int32.
template <int R>
QLUT_AVX2_FN void avx2_i8_runs(const Job &J, const uint8_t *wb, int t, int64_t m0, int kb,
                               int nq, int h) {
  static_assert(R >= 1 && R <= 3, "named accumulators s0..s2, c0..c2");
  const uint8_t *xr[3];
  for (int r = 0; r < R; ++r) xr[r] = J.tab + (m0 + r) * J.tab_row + 4 * kb * kI8BlockQuads;
  // runs: int16 sums s<r>_<half> and int32 sums c<r>_<half> all in registers (R <= 3)
  __m256i c0_0, c0_1, c1_0, c1_1, c2_0, c2_1;
  c0_0 = c0_1 = c1_0 = c1_1 = c2_0 = c2_1 = _mm256_setzero_si256();
  alignas(32) static const int16_t kOnes[16] = {1, 1, 1, 1, 1, 1, 1, 1,
                                                1, 1, 1, 1, 1, 1, 1, 1};
  for (int q0 = 0; q0 < nq; q0 += h) {
    const int q1 = std::min(q0 + h, nq);
    __m256i s0_0, s0_1, s1_0, s1_1, s2_0, s2_1;
    s0_0 = s0_1 = s1_0 = s1_1 = s2_0 = s2_1 = _mm256_setzero_si256();
    for (int q = q0; q < q1; ++q) {
      const __m256i w0 = _mm256_load_si256((const __m256i *)(wb + q * kQuadBytes));
      const __m256i w1 = _mm256_load_si256((const __m256i *)(wb + q * kQuadBytes + 32));
#define QLUT_ROW(i) \
  if (i < R) QLUT_I8_RUN(s##i##_0, s##i##_1, xr[i] + 4 * q, w0, w1);
      QLUT_ROW(0) QLUT_ROW(1) QLUT_ROW(2)
#undef QLUT_ROW
    }
#define QLUT_ROW(i) \
  if (i < R) QLUT_I8_FOLD(c##i##_0, c##i##_1, s##i##_0, s##i##_1, kOnes);
    QLUT_ROW(0) QLUT_ROW(1) QLUT_ROW(2)
#undef QLUT_ROW
  }
  const __m256i c[3][2] = {{c0_0, c0_1}, {c1_0, c1_1}, {c2_0, c2_1}};
  for (int r = 0; r < R; ++r) avx2_i8_finish(J, t, m0 + r, kb, c[r][0], c[r][1]);
}

// R <= 3 rows x 16 outputs x one K-block for b = 8 on the widened codes wb [nq][64] int16 (four
// ymm of 4 outputs x 4 inputs) and int16 activations: vpmaddwd sums input pairs into int32
// lanes (output, pair), added pairwise at the end.
template <int R>
QLUT_AVX2_FN void avx2_i8w_rows(const Job &J, const int16_t *wb, int t, int64_t m0, int kb,
                                int nq) {
  static_assert(R >= 1 && R <= 3, "named accumulators c0..c2");
  const int16_t *xr[3];
  for (int r = 0; r < R; ++r) xr[r] = J.q16 + (m0 + r) * J.tab_row + 4 * kb * kI8BlockQuads;
  __m256i c0_0, c0_1, c0_2, c0_3, c1_0, c1_1, c1_2, c1_3, c2_0, c2_1, c2_2, c2_3;
  c0_0 = c0_1 = c0_2 = c0_3 = c1_0 = c1_1 = c1_2 = c1_3 = _mm256_setzero_si256();
  c2_0 = c2_1 = c2_2 = c2_3 = _mm256_setzero_si256();
  for (int q = 0; q < nq; ++q) {
    const int16_t *w = wb + q * kQuadBytes;
#define QLUT_ROW(i) \
  if (i < R) QLUT_I8_WIDE(c##i##_0, c##i##_1, c##i##_2, c##i##_3, xr[i] + 4 * q, w);
    QLUT_ROW(0) QLUT_ROW(1) QLUT_ROW(2)
#undef QLUT_ROW
  }
  const __m256i a[3][4] = {{c0_0, c0_1, c0_2, c0_3}, {c1_0, c1_1, c1_2, c1_3},
                           {c2_0, c2_1, c2_2, c2_3}};
  for (int r = 0; r < R; ++r) {
    // lanes (o, pair 0), (o, pair 1), (o + 1, pair 0)...: hadd gives (o0 o1 o4 o5 | o2 o3 o6 o7)
    const __m256i d0 = _mm256_permute4x64_epi64(_mm256_hadd_epi32(a[r][0], a[r][1]), 0xD8);
    const __m256i d1 = _mm256_permute4x64_epi64(_mm256_hadd_epi32(a[r][2], a[r][3]), 0xD8);
    avx2_i8_finish(J, t, m0 + r, kb, d0, d1);
  }
}

// One row (M = 1: converting a tile's codes would cost more than using them once): the codes
// shifted or widened in place, then the same integers as the row kernels.
QLUT_AVX2_FN void avx2_i8_one_row(const Job &J, int t, int kb, int nq) {
  const int quads = J.d.kp / 4;
  const uint8_t *w = J.packed + ((int64_t)t * quads + kb * kI8BlockQuads) * kQuadBytes;
  __m256i d0, d1;
  if (J.bits == 8) {
    const int16_t *x = J.q16 + 4 * kb * kI8BlockQuads;
    __m256i a[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(),
                    _mm256_setzero_si256()};
    for (int q = 0; q < nq; ++q) {
      int64_t x4;
      std::memcpy(&x4, x + 4 * q, sizeof x4);
      const __m256i xb = _mm256_set1_epi64x(x4);
      for (int j = 0; j < 4; ++j)
        a[j] = _mm256_add_epi32(a[j], _mm256_madd_epi16(_mm256_cvtepu8_epi16(_mm_loadu_si128(
                                          (const __m128i *)(w + q * kQuadBytes + 16 * j))), xb));
    }
    d0 = _mm256_permute4x64_epi64(_mm256_hadd_epi32(a[0], a[1]), 0xD8);
    d1 = _mm256_permute4x64_epi64(_mm256_hadd_epi32(a[2], a[3]), 0xD8);
  } else {
    const int s = J.planes - J.bits;
    const __m128i count = _mm_cvtsi32_si128(s);
    const __m256i mask = _mm256_set1_epi8((char)(0xFF >> s)), ones = _mm256_set1_epi16(1);
    const uint8_t *x = J.tab + 4 * kb * kI8BlockQuads;
    d0 = d1 = _mm256_setzero_si256();
    for (int q = 0; q < nq; ++q) {
      const __m256i xb = _mm256_set1_epi32(load32(x + 4 * q));
      const __m256i u0 = _mm256_and_si256(
          _mm256_srl_epi16(_mm256_loadu_si256((const __m256i *)(w + q * kQuadBytes)), count),
          mask);
      const __m256i u1 = _mm256_and_si256(
          _mm256_srl_epi16(_mm256_loadu_si256((const __m256i *)(w + q * kQuadBytes + 32)),
                           count),
          mask);
      d0 = _mm256_add_epi32(d0, _mm256_madd_epi16(_mm256_maddubs_epi16(u0, xb), ones));
      d1 = _mm256_add_epi32(d1, _mm256_madd_epi16(_mm256_maddubs_epi16(u1, xb), ones));
    }
  }
  avx2_i8_finish(J, t, 0, kb, d0, d1);
}

void avx2_i8_block_all(const Job &J, int t0, int t1, int64_t m, int kb) {
  thread_local Scratch buffer;  // one tile's converted codes (<= 16 KB, stays in L1)
  int16_t *scratch = (int16_t *)buffer.get(sizeof(int16_t) * kI8BlockQuads * kQuadBytes);
  if (!scratch) {  // a few KB per thread: cannot fail in practice; the scalar path needs none
    scalar_i8_block_all(J, t0, t1, m, kb);
    return;
  }
  const int nq = std::min(kI8BlockQuads, J.d.kp / 4 - kb * kI8BlockQuads);
  if (m == 1) {
    for (int t = t0; t < t1; ++t) avx2_i8_one_row(J, t, kb, nq);
    return;
  }
  const bool wide = J.bits == 8;
  // a run of 2 (b = 6) costs more in bookkeeping than the one widening it saves: runs of 1
  const int h = wide || int8_headroom(J.bits) < 4 ? 1 : int8_headroom(J.bits);
  for (int t = t0; t < t1; ++t) {
    avx2_i8_convert(J, t, kb, nq, wide, scratch);
    int64_t r = 0;
    if (wide) {
      for (; r + 3 <= m; r += 3) avx2_i8w_rows<3>(J, scratch, t, r, kb, nq);
      for (; r < m; ++r) avx2_i8w_rows<1>(J, scratch, t, r, kb, nq);
    } else {
      const uint8_t *wb = (const uint8_t *)scratch;
      if (h == 1) {
        for (; r + 4 <= m; r += 4) avx2_i8_rows1<4>(J, wb, t, r, kb, nq);
        for (; r < m; ++r) avx2_i8_rows1<1>(J, wb, t, r, kb, nq);
      } else {
        for (; r + 3 <= m; r += 3) avx2_i8_runs<3>(J, wb, t, r, kb, nq, h);
        for (; r < m; ++r) avx2_i8_runs<1>(J, wb, t, r, kb, nq, h);
      }
    }
  }
}

// AVX-512 VNNI: vpdpbusd multiplies u8 (the codes) x s8 (the activations) four at a time into
// int32, exact for every b (4 * 255 * 127 per step). The shift u >> s costs a shift and a mask
// per load; instead the low s bits are masked off, u & ~(2^s - 1) = 2^s u_b (still a u8), and
// the int32 sum, a multiple of 2^s, is shifted back exactly once per K-block (|sum| < 2^31:
// 512 * 255 * 127).
QLUT_AVX512_FN inline void avx512_i8_store(const Job &J, int64_t row, int kb, int n0,
                                           __m512i acc) {
  const Dims &d = J.d;
  if (n0 + kTileN > d.n) {  // the last, partial tile
    alignas(64) float a[kTileN];
    _mm512_store_ps(a, _mm512_cvtepi32_ps(acc));
    accumulate(J, row, kb, n0, d.n, a);
    return;
  }
  float *out = J.y + row * d.n + n0;
  __m512 y = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc), _mm512_set1_ps(J.scale[row * d.nkb + kb]),
                             kb ? _mm512_loadu_ps(out) : _mm512_setzero_ps());
  if (kb == d.nkb - 1) {
    y = _mm512_mul_ps(y, _mm512_mul_ps(_mm512_loadu_ps(J.wscale + n0), _mm512_set1_ps(J.pow2)));
    if (J.bias) y = _mm512_add_ps(y, _mm512_loadu_ps(J.bias + n0));
  }
  _mm512_storeu_ps(out, y);
}

// One row's step over two tiles: acc_u += dpbusd(codes_u, broadcast(4 activation bytes)).
// Written in asm with the broadcast as a memory operand and named accumulators: the
// intrinsic form (kept for QLUT_EMULATE) makes GCC copy every accumulator every step.
#if defined(QLUT_EMULATE)
#define QLUT_DPBUSD2(a0, a1, xp, w0, w1)                      \
  do {                                                        \
    const __m512i xb_ = _mm512_set1_epi32(load32(xp));        \
    a0 = _mm512_dpbusd_epi32(a0, w0, xb_);                    \
    a1 = _mm512_dpbusd_epi32(a1, w1, xb_);                    \
  } while (0)
#else
#define QLUT_DPBUSD2(a0, a1, xp, w0, w1)                                              \
  __asm__("vpdpbusd %[x]%{1to16%}, %[u0], %[c0]\n\t"                                  \
          "vpdpbusd %[x]%{1to16%}, %[u1], %[c1]"                                      \
          : [c0] "+v"(a0), [c1] "+v"(a1)                                              \
          : [x] "m"(*(const int32_t *)(xp)), [u0] "v"(w0), [u1] "v"(w1))
#endif

// a >> s (arithmetic) in each int32 lane; SIMDe 0.7 has no _mm512_sra_epi32.
QLUT_AVX512_FN inline __m512i avx512_sra(__m512i a, int s) {
#if defined(QLUT_EMULATE)
  alignas(64) int32_t v[16];
  _mm512_store_si512(v, a);
  for (int32_t &e : v) e >>= s;
  return _mm512_load_si512(v);
#else
  return _mm512_sra_epi32(a, _mm_cvtsi32_si128(s));
#endif
}

// R rows x 2 tiles (32 outputs) x one K-block on the pair's masked codes wb [nq][2][64] (a
// lone last tile: its codes and zeros, the second half not stored).
// Direct (few rows): the codes read from the packed weights and masked here instead.
template <int R, bool Direct = false>
QLUT_AVX512_FN void avx512_i8_rows(const Job &J, const uint8_t *wb, int t, bool pair, int64_t m0,
                                   int kb, int nq) {
  static_assert(R >= 1 && R <= 12, "named accumulators a0..a11");
  const int s = J.planes - J.bits;
  const __m512i mask = _mm512_set1_epi8((char)(0xFF << s));
  const int quads = J.d.kp / 4;
  const uint8_t *p0 = J.packed + ((int64_t)t * quads + kb * kI8BlockQuads) * kQuadBytes;
  const uint8_t *p1 = pair ? p0 + (int64_t)quads * kQuadBytes : p0;
  const uint8_t *xr[12];
  for (int r = 0; r < R; ++r) xr[r] = J.tab + (m0 + r) * J.tab_row + 4 * kb * kI8BlockQuads;
  __m512i a0_0, a0_1, a1_0, a1_1, a2_0, a2_1, a3_0, a3_1, a4_0, a4_1, a5_0, a5_1, a6_0, a6_1,
      a7_0, a7_1, a8_0, a8_1, a9_0, a9_1, a10_0, a10_1, a11_0, a11_1;
  a0_0 = a0_1 = a1_0 = a1_1 = a2_0 = a2_1 = a3_0 = a3_1 = _mm512_setzero_si512();
  a4_0 = a4_1 = a5_0 = a5_1 = a6_0 = a6_1 = a7_0 = a7_1 = _mm512_setzero_si512();
  a8_0 = a8_1 = a9_0 = a9_1 = a10_0 = a10_1 = a11_0 = a11_1 = _mm512_setzero_si512();
  for (int q = 0; q < nq; ++q) {
    const __m512i w0 =
        Direct ? _mm512_and_si512(_mm512_loadu_si512((const void *)(p0 + q * kQuadBytes)), mask)
               : _mm512_load_si512((const void *)(wb + q * 2 * kQuadBytes));
    const __m512i w1 =
        Direct ? _mm512_and_si512(_mm512_loadu_si512((const void *)(p1 + q * kQuadBytes)), mask)
               : _mm512_load_si512((const void *)(wb + q * 2 * kQuadBytes + kQuadBytes));
#define QLUT_ROW(i) \
  if (i < R) QLUT_DPBUSD2(a##i##_0, a##i##_1, xr[i] + 4 * q, w0, w1);
    QLUT_ROW(0) QLUT_ROW(1) QLUT_ROW(2) QLUT_ROW(3) QLUT_ROW(4) QLUT_ROW(5) QLUT_ROW(6) QLUT_ROW(7)
    QLUT_ROW(8) QLUT_ROW(9) QLUT_ROW(10) QLUT_ROW(11)
#undef QLUT_ROW
  }
  const __m512i acc[12][2] = {{a0_0, a0_1}, {a1_0, a1_1}, {a2_0, a2_1}, {a3_0, a3_1},
                              {a4_0, a4_1}, {a5_0, a5_1}, {a6_0, a6_1}, {a7_0, a7_1},
                              {a8_0, a8_1}, {a9_0, a9_1}, {a10_0, a10_1}, {a11_0, a11_1}};
  for (int r = 0; r < R; ++r) {
    const __m512i c = _mm512_set1_epi32(int8_correction(J, m0 + r, kb));
    for (int u = 0; u < (pair ? 2 : 1); ++u) {
      const __m512i dot = avx512_sra(acc[r][u], s);
      avx512_i8_store(J, m0 + r, kb, (t + u) * kTileN,
                      _mm512_sub_epi32(_mm512_add_epi32(dot, dot), c));
    }
  }
}

// The pair's codes for the K-block, masked once (u & ~(2^s - 1) = 2^s u_b) and interleaved
// [quad][tile][64] into a thread's scratch for every row.
QLUT_AVX512_FN void avx512_i8_convert(const Job &J, int t, bool pair, int kb, int nq,
                                      uint8_t *out) {
  const int quads = J.d.kp / 4;
  const __m512i mask = _mm512_set1_epi8((char)(0xFF << (J.planes - J.bits)));
  const uint8_t *w0 = J.packed + ((int64_t)t * quads + kb * kI8BlockQuads) * kQuadBytes;
  const uint8_t *w1 = w0 + (int64_t)quads * kQuadBytes;
  for (int q = 0; q < nq; ++q) {
    _mm512_store_si512((void *)(out + q * 2 * kQuadBytes),
                       _mm512_and_si512(_mm512_loadu_si512((const void *)(w0 + q * kQuadBytes)),
                                        mask));
    _mm512_store_si512((void *)(out + q * 2 * kQuadBytes + kQuadBytes),
                       pair ? _mm512_and_si512(
                                  _mm512_loadu_si512((const void *)(w1 + q * kQuadBytes)), mask)
                            : _mm512_setzero_si512());
  }
}

void avx512_i8_block_all(const Job &J, int t0, int t1, int64_t m, int kb) {
  thread_local Scratch buffer;  // one pair's masked codes (16 KB)
  uint8_t *wb = (uint8_t *)buffer.get(2 * kI8BlockQuads * kQuadBytes);
  if (!wb) {  // a few KB per thread: cannot fail in practice; the scalar path needs none
    scalar_i8_block_all(J, t0, t1, m, kb);
    return;
  }
  const int nq = std::min(kI8BlockQuads, J.d.kp / 4 - kb * kI8BlockQuads);
  for (int t = t0; t < t1; t += 2) {
    const bool pair = t + 2 <= t1;
    int64_t r = 0;
    if (m < kI8ConvertRows) {  // few rows: mask the codes where they are used
      for (; r + 8 <= m; r += 8) avx512_i8_rows<8, true>(J, wb, t, pair, r, kb, nq);
      for (; r + 4 <= m; r += 4) avx512_i8_rows<4, true>(J, wb, t, pair, r, kb, nq);
      for (; r < m; ++r) avx512_i8_rows<1, true>(J, wb, t, pair, r, kb, nq);
      continue;
    }
    avx512_i8_convert(J, t, pair, kb, nq, wb);
    for (; r + 12 <= m; r += 12) avx512_i8_rows<12>(J, wb, t, pair, r, kb, nq);
    for (; r + 8 <= m; r += 8) avx512_i8_rows<8>(J, wb, t, pair, r, kb, nq);
    for (; r + 4 <= m; r += 4) avx512_i8_rows<4>(J, wb, t, pair, r, kb, nq);
    for (; r < m; ++r) avx512_i8_rows<1>(J, wb, t, pair, r, kb, nq);
  }
}
#endif

#ifdef QLUT_ARM
// NEON with the dot product (the NEON variant requires it): sdot multiplies s8 x s8. For
// b <= 7 the shifted code u_b <= 127 is a valid s8; for b = 8 the code is recentred,
// u - 128 = u ^ 0x80 in [-128, 127], and 128 sum_k q_k added back (exact in int32).
template <int R>
QLUT_NEON_FN void neon_i8_rows(const Job &J, int t, int64_t m0, int kb) {
  const Dims &d = J.d;
  const int quads = d.kp / 4;
  const int qa = kb * (kBlockInputs / 4), qb = std::min(qa + kBlockInputs / 4, quads);
  const int s = J.planes - J.bits;
  const bool recentre = J.bits == 8;
  const int8x16_t shift = vdupq_n_s8((int8_t)-s);
  const uint8x16_t flip = vdupq_n_u8(0x80);
  const uint8_t *xr[R];
  for (int r = 0; r < R; ++r) xr[r] = J.tab + (m0 + r) * J.tab_row + 4 * qa;
  const uint8_t *w = J.packed + ((int64_t)t * quads + qa) * kQuadBytes;
  int32x4_t acc[R][4];
  for (int r = 0; r < R; ++r)
    for (int i = 0; i < 4; ++i) acc[r][i] = vdupq_n_s32(0);
  for (int q = 0; q < qb - qa; ++q, w += kQuadBytes) {
    int8x16_t wv[4];
    for (int i = 0; i < 4; ++i) {
      const uint8x16_t raw = vld1q_u8(w + 16 * i);
      wv[i] = vreinterpretq_s8_u8(recentre ? veorq_u8(raw, flip) : vshlq_u8(raw, shift));
    }
    for (int r = 0; r < R; ++r) {
      const int8x16_t xb = vreinterpretq_s8_s32(vdupq_n_s32(load32(xr[r] + 4 * q)));
      for (int i = 0; i < 4; ++i) acc[r][i] = vdotq_s32(acc[r][i], wv[i], xb);
    }
  }
  const int n0 = t * kTileN;
  for (int r = 0; r < R; ++r) {
    const int32_t qs = J.qsum[(m0 + r) * d.nkb + kb];
    const int32x4_t back = vdupq_n_s32(recentre ? 128 * qs : 0);
    const int32x4_t c = vdupq_n_s32(int8_correction(J, m0 + r, kb));
    float a[kTileN];
    for (int i = 0; i < 4; ++i) {
      const int32x4_t dot = vaddq_s32(acc[r][i], back);
      vst1q_f32(a + 4 * i, vcvtq_f32_s32(vsubq_s32(vshlq_n_s32(dot, 1), c)));
    }
    accumulate(J, m0 + r, kb, n0, std::min(n0 + kTileN, d.n), a);
  }
}

void neon_i8_block_all(const Job &J, int t0, int t1, int64_t m, int kb) {
  for (int t = t0; t < t1; ++t) {
    int64_t r = 0;
    for (; r + 4 <= m; r += 4) neon_i8_rows<4>(J, t, r, kb);
    for (; r < m; ++r) neon_i8_rows<1>(J, t, r, kb);
  }
}
#endif

bool cpu_supports(int variant) {
  switch (variant) {
    case QLUT_SCALAR: return true;
#ifdef QLUT_X86
#ifdef QLUT_EMULATE
    case QLUT_AVX2: case QLUT_AVX512: return true;
#else
    case QLUT_AVX2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case QLUT_AVX512:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vbmi") &&
             __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx2") &&
             __builtin_cpu_supports("fma");
#endif
#endif
#ifdef QLUT_ARM
    case QLUT_NEON: return (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0;
#endif
    default: return false;
  }
}

const char *kNames[QLUT_NUM_VARIANTS] = {"scalar", "avx2", "avx512", "neon"};

}  // namespace

extern "C" {

int qlut_abi_version(void) { return QLUT_ABI_VERSION; }

const char *qlut_variant_name(int variant) {
  return variant >= 0 && variant < QLUT_NUM_VARIANTS ? kNames[variant] : "unknown";
}

int qlut_variant_supported(int variant) {
  return variant >= 0 && variant < QLUT_NUM_VARIANTS && cpu_supports(variant) ? 1 : 0;
}

const char *qlut_build_info(void) {
#if defined(QLUT_EMULATE)
  return "emulated (SIMDe)";
#elif defined(QLUT_X86)
  return "x86-64";
#elif defined(QLUT_ARM)
  return "aarch64";
#else
  return "portable";
#endif
}

int qlut_best_variant(void) {
  const char *forced = std::getenv("QLUT_VARIANT");
  if (forced && *forced) {
    for (int v = 0; v < QLUT_NUM_VARIANTS; ++v)
      if (std::strcmp(forced, kNames[v]) == 0) return cpu_supports(v) ? v : QLUT_EVARIANT;
    return QLUT_EVARIANT;
  }
  for (int v : {QLUT_AVX512, QLUT_AVX2, QLUT_NEON})
    if (cpu_supports(v)) return v;
  return QLUT_SCALAR;
}

int64_t qlut_packed_bytes(int variant, int planes, int n, int k) {
  if (variant < 0 || variant >= QLUT_NUM_VARIANTS || planes < 1 || planes > 16 || n < 1 || k < 1)
    return QLUT_EINVAL;
  return packed_bytes(layout_of(variant), Dims(n, k), planes);
}

int qlut_pack(int variant, const uint8_t *plane_bits, int planes, int n, int k, uint8_t *out) {
  if (variant < 0 || variant >= QLUT_NUM_VARIANTS || planes < 1 || planes > 16 || n < 1 ||
      k < 1 || !plane_bits || !out)
    return QLUT_EINVAL;
  const Dims d(n, k);
  const int row_bytes = d.kp / 8;
  const int layout = layout_of(variant);
  std::memset(out, 0, (size_t)packed_bytes(layout, d, planes));
  if (layout == kCanonical) {
    std::memcpy(out, plane_bits, (size_t)planes * n * row_bytes);
    return 0;
  }
  for (int t = 0; t < d.ntiles; ++t)
    for (int p = 0; p < planes; ++p) {
      const uint8_t *bits = plane_bits + (int64_t)p * n * row_bytes;
      for (int i = 0; i < kTileN; ++i) {
        int col = t * kTileN + i;
        if (layout == kPair) {
          uint8_t *w = out + ((int64_t)t * planes + p) * (d.groups / 2) * 16;
          int16_t *c16 = (int16_t *)(out + pair_main_bytes(d, planes));
          for (int r = 0; r < d.groups / 2; ++r) {
            int a = col < n ? nibble(bits, row_bytes, col, 2 * r) : 0;
            int b = col < n ? nibble(bits, row_bytes, col, 2 * r + 1) : 0;
            w[r * 16 + i] = (uint8_t)(mirror_code(a) | (mirror_code(b) << 4));
            int kb = (2 * r) / kBlockGroups;
            c16[(((int64_t)t * planes + p) * d.nkb + kb) * kTileN + i] +=
                (int16_t)(((a >> 3) ? 1 : -1) + ((b >> 3) ? 1 : -1));
          }
        } else {
          uint8_t *w = out + ((int64_t)t * planes + p) * (d.groups / 4) * 32;
          for (int q = 0; q < d.groups / 4; ++q) {
            int word = 0;
            for (int g = 0; g < 4; ++g)
              word |= (col < n ? nibble(bits, row_bytes, col, 4 * q + g) : 0) << (4 * g);
            w[q * 32 + 2 * i] = (uint8_t)(word & 0xFF);
            w[q * 32 + 2 * i + 1] = (uint8_t)(word >> 8);
          }
        }
      }
    }
  return 0;
}

int qlut_linear(int variant, const float *x, int64_t m, int k, const uint8_t *packed,
                int planes, int bits, int n, const float *wscale, const float *bias, float *y,
                int threads) {
  if (variant < 0 || variant >= QLUT_NUM_VARIANTS || m < 0 || k < 1 || n < 1 || planes < 1 ||
      planes > 16 || bits < 1 || bits > planes || threads < 1 || !packed || !wscale ||
      (m > 0 && (!x || !y)))
    return QLUT_EINVAL;
  if (!cpu_supports(variant)) return QLUT_EVARIANT;
  if (m == 0) return 0;
  const Dims d(n, k);
  const int layout = layout_of(variant);
  const bool half = layout == kPair;
  const int64_t tab_row = half ? (int64_t)d.groups * 8 : (int64_t)d.groups * 16;
  // Tables and scales for every row, in one scratch buffer owned by the calling thread.
  thread_local Scratch scratch;
  const size_t tab_bytes = (size_t)(m * tab_row + 63) / 64 * 64;
  const size_t sc_bytes = (size_t)(m * d.nkb * sizeof(float) + 63) / 64 * 64;
  const int tparts = std::min(threads, d.ntiles);                    // GEMM (tiles)
  const int parts = (int)std::min<int64_t>(threads, std::max<int64_t>(1, m));  // tables (rows)
  const int all = std::max(parts, tparts);
#ifdef QLUT_X86
  const int group_tiles = lut_group_tiles(m, tab_row);
  const size_t ex_part = variant == QLUT_AVX2 || variant == QLUT_AVX512
                             ? lut_expanded_bytes(variant, bits, group_tiles) : 0;
#else
  const size_t ex_part = 0;
#endif
  char *base = (char *)scratch.get(tab_bytes + sc_bytes + ex_part * all);
  if (!base) return QLUT_ENOMEM;
  uint8_t *tabs = (uint8_t *)base;
  float *scales = (float *)(base + tab_bytes);
  std::function<void(int)> build = [&](int part) {
    int64_t r0 = m * part / parts, r1 = m * (part + 1) / parts;
    std::vector<float> pad;
    if (d.kp != k) pad.assign((size_t)d.kp, 0.0f);
    for (int64_t r = r0; r < r1; ++r) {
      const float *row = x + r * k;
      if (d.kp != k) {
        std::memcpy(pad.data(), row, sizeof(float) * k);
        row = pad.data();
      }
#ifdef QLUT_X86
      if (variant == QLUT_AVX2 || variant == QLUT_AVX512) {
        build_row_avx2(row, d, half, tabs + r * tab_row, scales + r * d.nkb);
        continue;
      }
#endif
#ifdef QLUT_ARM
      if (variant == QLUT_NEON) {
        build_row_neon(row, d, tabs + r * tab_row, scales + r * d.nkb);
        continue;
      }
#endif
      build_row_scalar(row, d, half, tabs + r * tab_row, scales + r * d.nkb);
    }
  };
  Job J{variant, planes, bits, d, packed, tabs, tab_row, scales, wscale, bias, y, m,
        std::ldexp(1.0f, -bits)};
  J.expanded = (uint8_t *)(base + tab_bytes + sc_bytes);
  J.expanded_part = ex_part;
  // Loop order: K-block, block of tiles (their weights stay in L2), rows (one block's tables
  // of R rows stay in L1 while the tiles stream past), tiles.
  // Work handed out from a shared counter where the order allows: a thread that runs slower
  // (another process on its core) then takes fewer units instead of everyone waiting for it.
  std::atomic<int> next{0};
  std::function<void(int)> gemm = [&](int part) {
    const int t0 = (int)((int64_t)d.ntiles * std::min(part, tparts) / tparts);
    const int t1 = (int)((int64_t)d.ntiles * std::min(part + 1, tparts) / tparts);
#ifdef QLUT_X86
    if (variant == QLUT_AVX2 || variant == QLUT_AVX512) {
      const int units = (d.ntiles + group_tiles - 1) / group_tiles;
      for (int u; (u = next.fetch_add(1, std::memory_order_relaxed)) < units;)
        lut_group_all_blocks(J, part, u * group_tiles,
                             std::min((u + 1) * group_tiles, d.ntiles), m);
      return;
    }
#endif
    for (int kb = 0; kb < d.nkb; ++kb)
      for (int tb = t0; tb < t1; tb += kTileBlock) {
        const int te = std::min(tb + kTileBlock, t1);
        for (int64_t mb = 0; mb < m; mb += kRowBlock) {
          const int64_t me = std::min<int64_t>(mb + kRowBlock, m);
          for (int t = tb; t < te; ++t) {
            switch (variant) {
#ifdef QLUT_ARM
              case QLUT_NEON: neon_block(J, t, mb, me, kb); break;
#endif
              default: scalar_block(J, t, mb, me, kb); break;
            }
          }
        }
      }
  };
  Barrier tables_done(all);
  std::function<void(int)> job = [&](int part) {
    if (part < parts) build(part);
    tables_done.arrive_and_wait();
    gemm(part);
  };
  pool().run(all, job);
  return 0;
}

int64_t qlut_int8_packed_bytes(int n, int k) {
  if (n < 1 || k < 1) return QLUT_EINVAL;
  return int8_packed_bytes(Dims(n, k));
}

int qlut_int8_pack(const uint8_t *codes, int code_bits, int n, int k, uint8_t *out) {
  if (code_bits < 1 || code_bits > 8 || n < 1 || k < 1 || !codes || !out) return QLUT_EINVAL;
  const Dims d(n, k);
  const int quads = d.kp / 4;
  for (int64_t i = 0; i < (int64_t)n * k; ++i)
    if (codes[i] >> code_bits) return QLUT_EINVAL;
  std::memset(out, 0, (size_t)int8_packed_bytes(d));
  for (int t = 0; t < d.ntiles; ++t)
    for (int i = 0; i < kTileN && t * kTileN + i < n; ++i) {
      const uint8_t *row = codes + (int64_t)(t * kTileN + i) * k;
      for (int kk = 0; kk < k; ++kk)
        out[((int64_t)t * quads + kk / 4) * kQuadBytes + 4 * i + (kk & 3)] = row[kk];
    }
  return 0;
}

int qlut_int8_linear(int variant, const float *x, int64_t m, int k, const uint8_t *packed,
                     int code_bits, int bits, int n, const float *wscale, const float *bias,
                     float *y, int threads) {
  if (variant < 0 || variant >= QLUT_NUM_VARIANTS || m < 0 || k < 1 || n < 1 ||
      code_bits < 1 || code_bits > 8 || bits < 1 || bits > code_bits || threads < 1 ||
      !packed || !wscale || (m > 0 && (!x || !y)))
    return QLUT_EINVAL;
  if (!cpu_supports(variant)) return QLUT_EVARIANT;
  if (m == 0) return 0;
  const Dims d(n, k);
  thread_local Scratch scratch;
  const size_t q_bytes = (size_t)(m * d.kp + 63) / 64 * 64;
  const size_t sc_bytes = (size_t)m * d.nkb * sizeof(float);
  const bool widen = variant == QLUT_AVX2 && bits == 8;  // avx2_i8w_rows reads int16 inputs
  const size_t q16_bytes = widen ? (size_t)m * d.kp * sizeof(int16_t) : 0;
  char *base = (char *)scratch.get(q_bytes + q16_bytes + 2 * sc_bytes);
  if (!base) return QLUT_ENOMEM;
  int8_t *q = (int8_t *)base;
  int16_t *q16 = widen ? (int16_t *)(base + q_bytes) : nullptr;
  float *scales = (float *)(base + q_bytes + q16_bytes);
  int32_t *sums = (int32_t *)(base + q_bytes + q16_bytes + sc_bytes);
  const int parts = (int)std::min<int64_t>(threads, m);  // quantization (rows)
  std::function<void(int)> quantize = [&](int part) {
    for (int64_t r = m * part / parts; r < m * (part + 1) / parts; ++r) {
      int8_t *qr = q + r * d.kp;
#ifdef QLUT_X86
      if (variant == QLUT_AVX2 || variant == QLUT_AVX512)
        int8_quantize_row_avx2(x + r * k, d, qr, scales + r * d.nkb, sums + r * d.nkb);
      else
#endif
        int8_quantize_row_scalar(x + r * k, d, qr, scales + r * d.nkb, sums + r * d.nkb);
      if (q16)
        for (int i = 0; i < d.kp; ++i) q16[r * d.kp + i] = qr[i];
    }
  };
  Job J{variant, code_bits, bits, d, packed, (const uint8_t *)q, d.kp, scales, wscale, bias,
        y, m, std::ldexp(1.0f, -bits), sums, q16};
  const int tparts = std::min(threads, (d.ntiles + 1) / 2);
  // Loop order: tile pairs (handed out to the threads one at a time from a shared counter: a
  // thread slowed by another process takes fewer), K-blocks (the pair's outputs stay in cache
  // between them), rows (a pair's codes for one K-block, 16 KB, stay in L1 while every row's
  // quantized block streams past).
  std::atomic<int> next{0};
  const int units = (d.ntiles + 1) / 2;
  std::function<void(int)> gemm = [&](int) {
    for (int u; (u = next.fetch_add(1, std::memory_order_relaxed)) < units;) {
      const int t0 = 2 * u, t1 = std::min(t0 + 2, d.ntiles);
      for (int kb = 0; kb < d.nkb; ++kb) {
        switch (variant) {
#ifdef QLUT_X86
          case QLUT_AVX2: avx2_i8_block_all(J, t0, t1, m, kb); break;
          case QLUT_AVX512: avx512_i8_block_all(J, t0, t1, m, kb); break;
#endif
#ifdef QLUT_ARM
          case QLUT_NEON: neon_i8_block_all(J, t0, t1, m, kb); break;
#endif
          default: scalar_i8_block_all(J, t0, t1, m, kb); break;
        }
      }
    }
  };
  const int all = std::max(parts, tparts);
  Barrier inputs_done(all);
  std::function<void(int)> job = [&](int part) {
    if (part < parts) quantize(part);
    inputs_done.arrive_and_wait();
    gemm(part);
  };
  pool().run(all, job);
  return 0;
}

}  // extern "C"
