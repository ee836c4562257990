// fastgumbel: Philox4x32-10 and the bits -> uniform -> Gumbel transforms of stream spec v1
// (docs/rng.md), as __host__ __device__ functions.
//
// This is the fastgumbel/_scalar/ package in CUDA C: the same constants (as hex literals of the
// float32/float64 values Python uses), the same operation order, and explicit fmaf/fma
// exactly where _scalar/ calls fma(). Integer work is bit-exact; float work matches the
// CPU bit for bit when the compiler adds no contractions of its own (nvcc -fmad=false /
// NVRTC --fmad=false; host: -ffp-contract=off), else within an ulp.
// tests/cuda/host_check.cpp compiles this header for the host and compares with the CPU.
#pragma once

#if defined(__CUDACC__) || defined(__CUDACC_RTC__)
#define FG_HD __host__ __device__ __forceinline__
#else
#define FG_HD static inline
#endif

#if defined(__CUDACC_RTC__)
typedef unsigned int fg_u32;
typedef int fg_i32;
typedef unsigned long long fg_u64;
typedef long long fg_i64;
#else
#include <stdint.h>
#include <string.h>
#include <math.h>
typedef uint32_t fg_u32;
typedef int32_t fg_i32;
typedef uint64_t fg_u64;
typedef int64_t fg_i64;
#endif

// ---------------------------------------------------------------- bit casts
// FG_BITCAST(name, To, From, intrinsic): To name(From) reinterprets the bits, with the CUDA
// intrinsic on the device and memcpy on the host.
#if defined(__CUDA_ARCH__)
#define FG_BITCAST(NAME, TO, FROM, INTRINSIC) FG_HD TO NAME(FROM v) { return INTRINSIC(v); }
#else
#define FG_BITCAST(NAME, TO, FROM, INTRINSIC) \
    FG_HD TO NAME(FROM v) { TO r; memcpy(&r, &v, sizeof(r)); return r; }
#endif
FG_BITCAST(fg_i2f, float, fg_i32, __int_as_float)
FG_BITCAST(fg_f2i, fg_i32, float, __float_as_int)
FG_BITCAST(fg_l2d, double, fg_i64, __longlong_as_double)
FG_BITCAST(fg_d2l, fg_i64, double, __double_as_longlong)
#undef FG_BITCAST

// ---------------------------------------------------------------- Philox4x32-10
struct fg_u32x4 { fg_u32 x, y, z, w; };

FG_HD fg_u32 fg_mulhi(fg_u32 a, fg_u32 b) {
#if defined(__CUDA_ARCH__)
    return __umulhi(a, b);
#else
    return (fg_u32)(((fg_u64)a * b) >> 32);
#endif
}

FG_HD fg_u32x4 fg_philox(fg_u32 c0, fg_u32 c1, fg_u32 c2, fg_u32 c3, fg_u32 k0, fg_u32 k1) {
    const fg_u32 M0 = 0xD2511F53u, M1 = 0xCD9E8D57u, W0 = 0x9E3779B9u, W1 = 0xBB67AE85u;
#if defined(__CUDA_ARCH__)
#pragma unroll
#endif
    for (int i = 0; i < 10; ++i) {
        // one 32 x 32 -> 64 multiply gives both halves (one IMAD.WIDE.U32 on the device)
        fg_u64 p0 = (fg_u64)M0 * c0, p1 = (fg_u64)M1 * c2;
        fg_u32 hi0 = (fg_u32)(p0 >> 32), lo0 = (fg_u32)p0;
        fg_u32 hi1 = (fg_u32)(p1 >> 32), lo1 = (fg_u32)p1;
        fg_u32 n0 = hi1 ^ c1 ^ k0, n2 = hi0 ^ c3 ^ k1;
        c0 = n0; c1 = lo1; c2 = n2; c3 = lo0;
        k0 += W0; k1 += W1;
    }
    fg_u32x4 r = {c0, c1, c2, c3};
    return r;
}

// ---------------------------------------------------------------- float32 log / exp
#define FG_LN2_HI_F32 0x1.63p-1f
#define FG_LN2_LO_F32 -0x1.bd0106p-13f
#define FG_LP0 0x1.204376p-4f
#define FG_LP1 -0x1.d7a37p-4f
#define FG_LP2 0x1.de4a34p-4f
#define FG_LP3 -0x1.fcba9ep-4f
#define FG_LP4 0x1.23d37ep-3f
#define FG_LP5 -0x1.555ca0p-3f
#define FG_LP6 0x1.999d58p-3f
#define FG_LP7 -0x1.fffff8p-3f
#define FG_LP8 0x1.555554p-2f
#define FG_LOG2E_F32 0x1.715476p+0f
#define FG_EXP_LO_F32 -0x1.5d589ep+6f
#define FG_EXP_HI_F32 0x1.62e42ep+6f
#define FG_EP0 0x1.a0d2cep-13f
#define FG_EP1 0x1.6e879cp-10f
#define FG_EP2 0x1.111210p-7f
#define FG_EP3 0x1.555382p-5f
#define FG_EP4 0x1.555554p-3f
#define FG_EP5 0x1.0p-1f
#define FG_ONE_MINUS_ULP_F32 0x1.fffffep-1f

// x = 2^e (1 + f), f in [sqrt(1/2) - 1, sqrt(2) - 1) exact (see _scalar._log_reduce_f32)
FG_HD void fg_log_reduce_f32(float x, fg_i32 *e, float *f) {
    fg_i32 ix = fg_f2i(x) - 0x3F3504F3;
    *e = ix >> 23;
    *f = fg_i2f((ix & 0x007FFFFF) + 0x3F3504F3) - 1.0f;
}

// log(2^e (1 + f)) (see _scalar.log_ef_f32): Estrin's scheme
FG_HD float fg_log_ef_f32(fg_i32 e, float f) {
    float z = f * f;
    float q = fmaf(fmaf(fmaf(FG_LP0, f, FG_LP1), z, fmaf(FG_LP2, f, FG_LP3)), z * z,
                   fmaf(fmaf(FG_LP4, f, FG_LP5), z, fmaf(FG_LP6, f, FG_LP7)));
    float p = fmaf(q, f, FG_LP8);
    float y = (f * z) * p;
    float ef = (float)e;
    y = fmaf(ef, FG_LN2_LO_F32, y);
    y = fmaf(-0.5f, z, y);
    return fmaf(ef, FG_LN2_HI_F32, f + y);
}

FG_HD float fg_log_f32(float x) {
    fg_i32 e;
    float f;
    fg_log_reduce_f32(x, &e, &f);
    return fg_log_ef_f32(e, f);
}

// exp(xc) = p 2**n for xc clamped to [-87.34, 88.72] (see _scalar._exp_f32_core)
FG_HD float fg_exp_core_f32(float xc, float *n_out) {
    float n = floorf(xc * FG_LOG2E_F32 + 0.5f);
    float r = fmaf(-n, FG_LN2_HI_F32, xc);
    r = fmaf(-n, FG_LN2_LO_F32, r);
    float p = fmaf(fmaf(fmaf(fmaf(fmaf(FG_EP0, r, FG_EP1), r, FG_EP2), r, FG_EP3), r, FG_EP4), r,
                   FG_EP5);
    *n_out = n;
    return fmaf(p, r * r, r) + 1.0f;
}

FG_HD float fg_exp_f32(float x) {
    float xc = x < FG_EXP_LO_F32 ? FG_EXP_LO_F32 : x;
    xc = xc > FG_EXP_HI_F32 ? FG_EXP_HI_F32 : xc;
    float n;
    float p = fg_exp_core_f32(xc, &n);
    fg_i32 ni = (fg_i32)n;
    fg_i32 h = ni >> 1;
    float y = (p * fg_i2f((h + 127) << 23)) * fg_i2f((ni - h + 127) << 23);
    y = x < FG_EXP_LO_F32 ? 0.0f : y;
    y = x > FG_EXP_HI_F32 ? fg_i2f(0x7F800000) : y;
    return x != x ? x : y;
}

// exp_f32 for x <= 64 or -inf (see _scalar.exp_nonpos_f32): the same bits there, without
// the overflow clamp, the split scale and the NaN select
FG_HD float fg_exp_nonpos_f32(float x) {
    float n;
    float p = fg_exp_core_f32(x < FG_EXP_LO_F32 ? FG_EXP_LO_F32 : x, &n);
    float y = p * fg_i2f(((fg_i32)n + 127) << 23);
    return x < FG_EXP_LO_F32 ? 0.0f : y;
}

// bfloat16 <-> float32 by bit operations (no cuda_bf16.h): the high 16 bits; stores round to
// nearest even, NaN gives the quiet NaN 0x7FC0 (as torch's float -> bfloat16 conversion)
FG_HD float fg_bf16_to_f32(unsigned short h) { return fg_i2f((fg_i32)((fg_u32)h << 16)); }
FG_HD unsigned short fg_f32_to_bf16(float v) {
    fg_u32 u = (fg_u32)fg_f2i(v);
    if ((u & 0x7FFFFFFFu) > 0x7F800000u) return (unsigned short)0x7FC0u;
    u += 0x7FFFu + ((u >> 16) & 1u);
    return (unsigned short)(u >> 16);
}

// ---------------------------------------------------------------- float64 log / exp
#define FG_SQRT2 0x1.6a09e667f3bcdp+0
#define FG_LN2_HI 0x1.62e42feep-1
#define FG_LN2_LO 0x1.a39ef35793c76p-33
#define FG_LG1 0x1.5555555555593p-1
#define FG_LG2 0x1.999999997fa04p-2
#define FG_LG3 0x1.2492494229359p-2
#define FG_LG4 0x1.c71c51d8e78afp-3
#define FG_LG5 0x1.7466496cb03dep-3
#define FG_LG6 0x1.39a09d078c69fp-3
#define FG_LG7 0x1.2f112df3e5244p-3
#define FG_LOG2E 0x1.71547652b82fep+0
#define FG_EXP_C1 0x1.62e4p-1
#define FG_EXP_C2 0x1.7f7d1cf79abcap-20
#define FG_EXP_P0 0x1.089cdd5e44be8p-13
#define FG_EXP_P1 0x1.f06d10cca2c7ep-6
#define FG_EXP_P2 0x1.0p+0
#define FG_EXP_Q0 0x1.92eb6bc365fa0p-19
#define FG_EXP_Q1 0x1.4ae39b508b6c0p-9
#define FG_EXP_Q2 0x1.d17099887e074p-3
#define FG_EXP_Q3 0x1.0p+1
#define FG_EXP_LO -0x1.6232bdd7abcd2p+9
#define FG_EXP_HI 0x1.62e42fefa39efp+9
#define FG_ONE_MINUS_ULP_F64 0x1.fffffffffffffp-1
#define FG_TWO_M33 0x1.0p-33
#define FG_TWO_M65 0x1.0p-65

// x = 2^k (1 + f), f in (sqrt(1/2) - 1, sqrt(2) - 1] exact, k as a double
// (see _scalar._log_reduce_f64)
FG_HD void fg_log_reduce_f64(double x, double *dk, double *f) {
    fg_i64 bits = fg_d2l(x);
    fg_i64 k = (bits >> 52) - 1023;
    double m = fg_l2d((bits & 0x000FFFFFFFFFFFFFLL) | 0x3FF0000000000000LL);
    bool big = m > FG_SQRT2;
    m = big ? m * 0.5 : m;
    k = big ? k + 1 : k;
    *dk = (double)(fg_i32)k;
    *f = m - 1.0;
}

// log(2^k (1 + f)) (see _scalar.log_kf_f64): fdlibm-style, s = f / (2 + f)
FG_HD double fg_log_kf_f64(double dk, double f) {
    double s = f / (2.0 + f);
    double z = s * s;
    double w = z * z;
    double t1 = w * fma(w, fma(w, FG_LG6, FG_LG4), FG_LG2);
    double t2 = z * fma(w, fma(w, fma(w, FG_LG7, FG_LG5), FG_LG3), FG_LG1);
    double r = t2 + t1;
    double hfsq = (0.5 * f) * f;
    double y = hfsq - (s * (hfsq + r) + dk * FG_LN2_LO);
    return dk * FG_LN2_HI - (y - f);
}

FG_HD double fg_log_f64(double x) {
    double dk, f;
    fg_log_reduce_f64(x, &dk, &f);
    return fg_log_kf_f64(dk, f);
}

FG_HD double fg_exp_f64(double x) {
    double xc = x < FG_EXP_LO ? FG_EXP_LO : x;
    xc = xc > FG_EXP_HI ? FG_EXP_HI : xc;
    double n = floor(xc * FG_LOG2E + 0.5);
    double r = fma(-n, FG_EXP_C1, xc);
    r = fma(-n, FG_EXP_C2, r);
    double rr = r * r;
    double px = r * fma(fma(FG_EXP_P0, rr, FG_EXP_P1), rr, FG_EXP_P2);
    double q = fma(fma(fma(FG_EXP_Q0, rr, FG_EXP_Q1), rr, FG_EXP_Q2), rr, FG_EXP_Q3);
    double e = 1.0 + 2.0 * (px / (q - px));
    fg_i64 ni = (fg_i64)(fg_i32)n;
    fg_i64 h = ni >> 1;
    double y = (e * fg_l2d((h + 1023) << 52)) * fg_l2d((ni - h + 1023) << 52);
    y = x < FG_EXP_LO ? 0.0 : y;
    y = x > FG_EXP_HI ? fg_l2d(0x7FF0000000000000LL) : y;
    return x != x ? x : y;
}

FG_HD float fg_log(float x) { return fg_log_f32(x); }
FG_HD double fg_log(double x) { return fg_log_f64(x); }
FG_HD float fg_exp(float x) { return fg_exp_f32(x); }
FG_HD double fg_exp(double x) { return fg_exp_f64(x); }

// ---------------------------------------------------------------- bits -> uniform -> Gumbel
// A w-bit word W: s = top bit, M = W or ~W (< 2**(w-1)), t = RN((2M + 1) 2**-(w+1)) in
// (0, 1/2); U = t (s = 0) or min(1 - t, 1 - ulp) (s = 1); g = -log(E), E = -log(t) (s = 0)
// or -log1p(-t) (s = 1).

FG_HD float fg_fold32(fg_u32 w, bool *s) {
    fg_i32 wi = (fg_i32)w;
    *s = wi < 0;
    fg_u32 m = (fg_u32)(wi ^ (wi >> 31));   // ~w when s (arithmetic shift: the sign spread)
    // 2m + 1 < 2^32, converted once (rounded to nearest); the scaling is exact
    return (float)((m << 1) | 1u) * (float)FG_TWO_M33;
}

FG_HD double fg_fold64(fg_u32 lo, fg_u32 hi, bool *s) {
    fg_i32 h = (fg_i32)hi;
    *s = h < 0;
    fg_i32 mh = *s ? ~h : h;
    fg_u32 ml = *s ? ~lo : lo;
    // 2M + 1 = 2^33 mh + (2 ml + 1): both parts exact in double, their sum rounded once
    double b = fma((double)ml, 2.0, 1.0);
    return fma((double)mh, 0x1.0p33, b) * FG_TWO_M65;
}

// log(U) of a folded word without forming U (see _scalar._log_u_f32): U = t is reduced by its
// bits; U = 1 - t is 1 + (-t) when t <= SPLIT (about 1 - sqrt(1/2)), else 2^-1 (1 + (1 - 2t)),
// both f exact.
#define FG_SPLIT_F32 0x1.2bec34p-2f
#define FG_SPLIT_F64 0x1.2bec333018866p-2

FG_HD float fg_log_u(float t, bool s) {
    fg_i32 e0;
    float f0;
    fg_log_reduce_f32(t, &e0, &f0);
    bool big = t > FG_SPLIT_F32;
    fg_i32 e1 = big ? -1 : 0;
    float f1 = fmaf(big ? -2.0f : -1.0f, t, big ? 1.0f : 0.0f);
    return fg_log_ef_f32(s ? e1 : e0, s ? f1 : f0);
}

FG_HD double fg_log_u(double t, bool s) {
    double k0, f0;
    fg_log_reduce_f64(t, &k0, &f0);
    bool big = t > FG_SPLIT_F64;
    double k1 = big ? -1.0 : 0.0;
    double f1 = fma(big ? -2.0 : -1.0, t, big ? 1.0 : 0.0);
    return fg_log_kf_f64(s ? k1 : k0, s ? f1 : f0);
}

// Gumbel and uniform of a folded word (t, s), in float32 or float64 (fg_log picks the
// precision): one formula for the 32-bit and the 64-bit words.
template <typename T>
FG_HD T fg_gumbel_fold(T t, bool s) {
    return -fg_log(-fg_log_u(t, s));
}

template <typename T>
FG_HD T fg_uniform_fold(T t, bool s, T one_minus_ulp) {
    T hi = (T)1 - t;
    hi = hi > one_minus_ulp ? one_minus_ulp : hi;
    return s ? hi : t;
}

// E = -log(U), the standard exponential of one 32-bit word (see _scalar.exponential_bits32):
// the E of fg_gumbel_bits32, g = -log(E)
FG_HD float fg_exponential_bits32(fg_u32 w) {
    bool s;
    float t = fg_fold32(w, &s);
    return -fg_log_u(t, s);
}

FG_HD float fg_gumbel_bits32(fg_u32 w) {
    bool s;
    float t = fg_fold32(w, &s);
    return fg_gumbel_fold(t, s);
}

FG_HD double fg_gumbel_bits64(fg_u32 lo, fg_u32 hi) {
    bool s;
    double t = fg_fold64(lo, hi, &s);
    return fg_gumbel_fold(t, s);
}

FG_HD float fg_uniform_bits32(fg_u32 w) {
    bool s;
    float t = fg_fold32(w, &s);
    return fg_uniform_fold(t, s, FG_ONE_MINUS_ULP_F32);
}

FG_HD double fg_uniform_bits64(fg_u32 lo, fg_u32 hi) {
    bool s;
    double t = fg_fold64(lo, hi, &s);
    return fg_uniform_fold(t, s, FG_ONE_MINUS_ULP_F64);
}

// Noise of columns 4q .. 4q+3 of one row (stream spec v1), standard Gumbel or uniform,
// rounded once to T (float32 with bits64: computed in float64, rounded once).
template <typename T>
FG_HD void fg_noise4(fg_u32 k0, fg_u32 k1, fg_u32 stream, fg_u64 row, fg_u64 q, bool bits64,
                     bool uniform, T g[4]) {
    fg_u32 rlo = (fg_u32)row, rhi = (fg_u32)(row >> 32);
    if (bits64) {
        fg_u32x4 a = fg_philox((fg_u32)(2 * q), stream, rlo, rhi, k0, k1);
        fg_u32x4 b = fg_philox((fg_u32)(2 * q + 1), stream, rlo, rhi, k0, k1);
        if (uniform) {
            g[0] = (T)fg_uniform_bits64(a.x, a.y); g[1] = (T)fg_uniform_bits64(a.z, a.w);
            g[2] = (T)fg_uniform_bits64(b.x, b.y); g[3] = (T)fg_uniform_bits64(b.z, b.w);
        } else {
            g[0] = (T)fg_gumbel_bits64(a.x, a.y); g[1] = (T)fg_gumbel_bits64(a.z, a.w);
            g[2] = (T)fg_gumbel_bits64(b.x, b.y); g[3] = (T)fg_gumbel_bits64(b.z, b.w);
        }
    } else {
        fg_u32x4 a = fg_philox((fg_u32)q, stream, rlo, rhi, k0, k1);
        if (uniform) {
            g[0] = (T)fg_uniform_bits32(a.x); g[1] = (T)fg_uniform_bits32(a.y);
            g[2] = (T)fg_uniform_bits32(a.z); g[3] = (T)fg_uniform_bits32(a.w);
        } else {
            g[0] = (T)fg_gumbel_bits32(a.x); g[1] = (T)fg_gumbel_bits32(a.y);
            g[2] = (T)fg_gumbel_bits32(a.z); g[3] = (T)fg_gumbel_bits32(a.w);
        }
    }
}
