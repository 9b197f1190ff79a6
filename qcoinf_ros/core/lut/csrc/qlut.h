/*
 * qlut: bit-plane lookup-table GEMM for b-bit uniform sign-magnitude weights (C ABI).
 *
 * A b-bit uniform mid-rise weight is s 2^-b sum_{p<b} 2^(b-1-p) t_p with t_p = +-1 (the
 * "planes", most significant first), so y = x w^T is b passes of a +-1 GEMM. Each pass looks up
 * precomputed signed sums of 4 activations (16-entry int8 tables, one per row and group of 4
 * inputs) with the 4 weight bits of the group as the index (T-MAC, EuroSys 2025), so the cost
 * grows linearly with b and a bit-width switch is passing another `bits`.
 *
 * Arithmetic (identical integers in every variant; see qcoinf_ros/core/lut/reference.py):
 *   K is padded with zeros to Kp = 16 ceil(K/16); groups j = 0..Kp/4-1 of 4 inputs; K-blocks
 *   of 512 inputs (128 groups). Per row m and K-block: amax = max_j (((|x0|+|x1|)+|x2|)+|x3|),
 *   inv = 127/amax (0 if amax = 0), scale = amax/127; table entry i of group j is
 *   q = clamp(rne((((s0 x0 + s1 x1) + s2 x2) + s3 x3) * inv), -127, 127) with s_q = +1 where
 *   bit q of i is set, else -1. For output n: acc = sum_p 2^(bits-1-p) sum_j q_j[nibble_p(n,j)]
 *   (int32, Horner over planes), yacc = fmaf(acc, scale, yacc) over K-blocks in order, and
 *   y = yacc * (wscale[n] * 2^-bits) + bias[n] (two roundings).
 *
 * Plane bits (the canonical input of qlut_pack): uint8 planes[P][N][Kp/8], bit k%8 (LSB first)
 * of byte k/8 is bit (P-1-p) of the unsigned code u = (v + 2^P - 1)/2 of the odd integer
 * v = sign (2c + 1); plane 0 is the most significant.
 */
#ifndef QCOINF_QLUT_H
#define QCOINF_QLUT_H

#include <stdint.h>

#if defined(QLUT_EXPORT) && defined(__GNUC__)
#define QLUT_API __attribute__((visibility("default")))
#else
#define QLUT_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

#define QLUT_ABI_VERSION 2

/* Variants (ISA code paths). */
#define QLUT_SCALAR 0
#define QLUT_AVX2 1
#define QLUT_AVX512 2
#define QLUT_NEON 3
#define QLUT_NUM_VARIANTS 4

/* Error codes (negative). */
#define QLUT_EINVAL -1   /* bad argument */
#define QLUT_EVARIANT -2 /* variant not supported by this CPU or build */
#define QLUT_ENOMEM -3   /* allocation failed */

QLUT_API int qlut_abi_version(void);
/* Best variant this CPU supports (QLUT_VARIANT=<name> in the environment forces one). */
QLUT_API int qlut_best_variant(void);
QLUT_API int qlut_variant_supported(int variant);
QLUT_API const char *qlut_variant_name(int variant);
/* Build-time facts: "emulated" when the x86 SIMD paths run on SIMDe (tests only). */
QLUT_API const char *qlut_build_info(void);

/* Bytes of the packed weights of `planes` planes of an N x K matrix for `variant`. */
QLUT_API int64_t qlut_packed_bytes(int variant, int planes, int n, int k);
/* Repack canonical plane bits into the variant's layout; returns 0 or an error code. */
QLUT_API int qlut_pack(int variant, const uint8_t *plane_bits, int planes, int n, int k, uint8_t *out);

/*
 * y[m][n] = x[m][:] . w_bits[n][:] (+ bias[n]) with the first `bits` planes of `packed`.
 * x: m x k float32 row-major; wscale: n floats (the tensor or channel scale s);
 * bias: n floats or NULL; y: m x n float32. threads >= 1. Returns 0 or an error code.
 */
QLUT_API int qlut_linear(int variant, const float *x, int64_t m, int k, const uint8_t *packed,
                int planes, int bits, int n, const float *wscale, const float *bias, float *y,
                int threads);

/*
 * int8 kernels: the same product as one u8 x s8 integer GEMM on the stored codes, for any
 * bits <= code_bits, from one packed copy (arithmetic: qcoinf_ros/core/lut/int8_reference.py).
 * codes: the unsigned codes u = (v + 2^B - 1)/2 of B = code_bits <= 8 bits, uint8 n x k
 * row-major; the b-bit code is u >> (B - b). Activations are quantized per row and K-block of
 * 512 inputs (amax = max |x|, q = clamp(rne(x * 127/amax), -127, 127)); per K-block
 * acc = 2 sum q u_b - (2^b - 1) sum q (exact), then the same float finish as qlut_linear.
 * The packed layout is the same for every variant (one byte per weight, N and K padded).
 */
QLUT_API int64_t qlut_int8_packed_bytes(int n, int k);
/* Pack the codes (each < 2^code_bits, else QLUT_EINVAL); returns 0 or an error code. */
QLUT_API int qlut_int8_pack(const uint8_t *codes, int code_bits, int n, int k, uint8_t *out);
QLUT_API int qlut_int8_linear(int variant, const float *x, int64_t m, int k,
                              const uint8_t *packed, int code_bits, int bits, int n,
                              const float *wscale, const float *bias, float *y, int threads);

#ifdef __cplusplus
}
#endif
#endif
