// fastgumbel: fused Gumbel kernels for the CuPy RawModule backend (fastgumbel/cupy/).
//
// The same operations, arguments and results as fastgumbel/cpu/ and fastgumbel/cuda/,
// on C-contiguous (rows, K) arrays. Random bits follow stream spec v1 (docs/rng.md) through
// philox.cuh and are made in registers, never stored.
//
// Layout: a *team* of TEAM threads (32 = one warp, 256 or 512 = one block) owns one row
// (one draw for argmax); a block of FG_BLOCK(TEAM) threads holds BLOCK / TEAM teams, so many
// short rows fill the GPU. Each thread owns groups of 4 consecutive columns (one Philox block
// in 32-bit mode), loaded with one 16-byte load when the row is 16-byte aligned. The first
// FG_CACHE groups of each thread stay in registers between passes; groups beyond that
// (long rows) are recomputed from the logits and the key instead of being stored.
// Softmax: pass 1 keeps an online (running max, rescaled sum) pair, pass 2 writes.
//
// Entry points: extern "C" fg_<op>_<f16|f32|f64>[_t<TEAM>] (f16: fill_noise, softmax,
// argmax, topk; float16 in and out, float32 math). Compile with --fmad=false to match
// the CPU backend bit for bit in the noise (with FMA contraction, within an ulp).
#include "philox.cuh"

#define FG_BLOCK(TEAM) ((TEAM) == 32 ? 256 : (TEAM))
#define FG_CACHE 4

template <typename T> __device__ __forceinline__ T fg_inf() { return (T)__int_as_float(0x7F800000); }
template <> __device__ __forceinline__ double fg_inf<double>() { return __longlong_as_double(0x7FF0000000000000LL); }
template <typename T> __device__ __forceinline__ T fg_nan() { return (T)__int_as_float(0x7FC00000); }
template <> __device__ __forceinline__ double fg_nan<double>() { return __longlong_as_double(0x7FF8000000000000LL); }
template <typename T> __device__ __forceinline__ T fg_tiny() { return (T)__int_as_float(0x00800000); }
template <> __device__ __forceinline__ double fg_tiny<double>() { return __longlong_as_double(0x0010000000000000LL); }

// ---------------------------------------------------------------- loads and stores of 4
// Storage types: float, double, and fg_half (IEEE binary16 bits; converted with the PTX cvt
// instructions, so no cuda_fp16.h is needed under NVRTC). float16 is computed in float32.
struct fg_half { unsigned short x; };

__device__ __forceinline__ float fg_ld(fg_half h) {
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h.x));
    return f;
}
__device__ __forceinline__ float fg_ld(float v) { return v; }
__device__ __forceinline__ double fg_ld(double v) { return v; }
__device__ __forceinline__ void fg_st(fg_half* p, float v) {
    unsigned short h;
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(v));
    p->x = h;
}
__device__ __forceinline__ void fg_st(float* p, float v) { *p = v; }
__device__ __forceinline__ void fg_st(double* p, double v) { *p = v; }

// 4 consecutive elements in one (float: 16-byte, half: 8-byte) or two (double) vector loads
template <typename TI>
__device__ __forceinline__ bool fg_aligned(const TI* p) {
    return (((unsigned long long)p) & (sizeof(TI) == 8 ? 15 : 4 * sizeof(TI) - 1)) == 0;
}

template <typename T, typename TI>
__device__ __forceinline__ void fg_load4(const TI* row, long long c, long long K, bool vec, T s[4]) {
    if (vec && c + 3 < K) {
        if (sizeof(TI) == 4) {
            float4 v = *reinterpret_cast<const float4*>(row + c);
            s[0] = (T)v.x; s[1] = (T)v.y; s[2] = (T)v.z; s[3] = (T)v.w;
        } else if (sizeof(TI) == 8) {
            double2 a = *reinterpret_cast<const double2*>(row + c);
            double2 b = *reinterpret_cast<const double2*>(row + c + 2);
            s[0] = (T)a.x; s[1] = (T)a.y; s[2] = (T)b.x; s[3] = (T)b.y;
        } else {
            uint2 v = *reinterpret_cast<const uint2*>(row + c);
            fg_half h0 = {(unsigned short)(v.x & 0xFFFFu)}, h1 = {(unsigned short)(v.x >> 16)};
            fg_half h2 = {(unsigned short)(v.y & 0xFFFFu)}, h3 = {(unsigned short)(v.y >> 16)};
            s[0] = (T)fg_ld(h0); s[1] = (T)fg_ld(h1); s[2] = (T)fg_ld(h2); s[3] = (T)fg_ld(h3);
        }
        return;
    }
#pragma unroll
    for (int j = 0; j < 4; ++j) s[j] = c + j < K ? (T)fg_ld(row[c + j]) : -fg_inf<T>();
}

template <typename T, typename TI>
__device__ __forceinline__ void fg_store4(TI* row, long long c, long long K, bool vec, const T v[4]) {
    if (vec && c + 3 < K && sizeof(TI) == 4) {
        float4 o; o.x = (float)v[0]; o.y = (float)v[1]; o.z = (float)v[2]; o.w = (float)v[3];
        *reinterpret_cast<float4*>(row + c) = o;
        return;
    }
    if (vec && c + 3 < K && sizeof(TI) == 8) {
        double2 a, b; a.x = (double)v[0]; a.y = (double)v[1]; b.x = (double)v[2]; b.y = (double)v[3];
        *reinterpret_cast<double2*>(row + c) = a;
        *reinterpret_cast<double2*>(row + c + 2) = b;
        return;
    }
    if (vec && c + 3 < K && sizeof(TI) == 2) {
        fg_half h[4];
#pragma unroll
        for (int j = 0; j < 4; ++j) fg_st(&h[j], (float)v[j]);
        uint2 o;
        o.x = (unsigned int)h[0].x | ((unsigned int)h[1].x << 16);
        o.y = (unsigned int)h[2].x | ((unsigned int)h[3].x << 16);
        *reinterpret_cast<uint2*>(row + c) = o;
        return;
    }
#pragma unroll
    for (int j = 0; j < 4; ++j) if (c + j < K) fg_st(row + c + j, v[j]);
}

// ---------------------------------------------------------------- team reductions
// Warp: xor butterfly (every lane gets the result; the combines are commutative, so all
// lanes agree). Block teams: one value per warp through shared memory, then every thread
// folds the per-warp values in the same order.

struct FgOnlineF { float m, l; };
struct FgOnlineD { double m, l; };
template <typename T> struct FgOnline;
template <> struct FgOnline<float> { typedef FgOnlineF type; };
template <> struct FgOnline<double> { typedef FgOnlineD type; };

template <typename T> struct FgArg { T v; long long i; int nan; };

template <typename V> __device__ __forceinline__ V fg_shfl(V v, int o);
template <> __device__ __forceinline__ float fg_shfl(float v, int o) { return __shfl_xor_sync(0xFFFFFFFFu, v, o); }
template <> __device__ __forceinline__ double fg_shfl(double v, int o) { return __shfl_xor_sync(0xFFFFFFFFu, v, o); }
template <> __device__ __forceinline__ int fg_shfl(int v, int o) { return __shfl_xor_sync(0xFFFFFFFFu, v, o); }
template <> __device__ __forceinline__ long long fg_shfl(long long v, int o) { return __shfl_xor_sync(0xFFFFFFFFu, v, o); }
template <> __device__ __forceinline__ FgOnlineF fg_shfl(FgOnlineF v, int o) { v.m = fg_shfl(v.m, o); v.l = fg_shfl(v.l, o); return v; }
template <> __device__ __forceinline__ FgOnlineD fg_shfl(FgOnlineD v, int o) { v.m = fg_shfl(v.m, o); v.l = fg_shfl(v.l, o); return v; }
template <> __device__ __forceinline__ FgArg<float> fg_shfl(FgArg<float> v, int o) { v.v = fg_shfl(v.v, o); v.i = fg_shfl(v.i, o); v.nan = fg_shfl(v.nan, o); return v; }
template <> __device__ __forceinline__ FgArg<double> fg_shfl(FgArg<double> v, int o) { v.v = fg_shfl(v.v, o); v.i = fg_shfl(v.i, o); v.nan = fg_shfl(v.nan, o); return v; }

template <int TEAM, typename V, typename Op>
__device__ __forceinline__ V fg_team_reduce(V v, Op op, V* sh) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = op(v, fg_shfl(v, o));
    if (TEAM == 32) return v;
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    __syncthreads();  // sh may still be read from the previous reduction
    if (lane == 0) sh[warp] = v;
    __syncthreads();
    v = sh[0];
    for (int w = 1; w < TEAM / 32; ++w) v = op(v, sh[w]);
    return v;
}

template <typename T> struct FgSum { __device__ T operator()(T a, T b) const { return a + b; } };
template <typename T> struct FgMax { __device__ T operator()(T a, T b) const { return b > a ? b : a; } };
struct FgOr { __device__ int operator()(int a, int b) const { return a | b; } };
struct FgMinIdx { __device__ long long operator()(long long a, long long b) const { return b < a ? b : a; } };

template <typename T> struct FgArgOp {
    // larger value first, then smaller index; index -1 never wins; NaN flags are or-ed
    __device__ FgArg<T> operator()(FgArg<T> a, FgArg<T> b) const {
        FgArg<T> r = a;
        if (b.i >= 0 && (a.i < 0 || b.v > a.v || (b.v == a.v && b.i < a.i))) r = b;
        r.nan = a.nan | b.nan;
        return r;
    }
};

template <typename T> struct FgOnlineOp {
    T t;
    __device__ typename FgOnline<T>::type operator()(typename FgOnline<T>::type a, typename FgOnline<T>::type b) const {
        typename FgOnline<T>::type r;
        T M = b.m > a.m ? b.m : a.m;
        r.m = M;
        if (M == -fg_inf<T>()) r.l = (T)0;
        else if (M == fg_inf<T>()) r.l = (T)1;
        else r.l = a.l * fg_exp((a.m - M) / t) + b.l * fg_exp((b.m - M) / t);
        return r;
    }
};

template <typename T>
__device__ __forceinline__ void fg_online_add(T s, T t, T& m, T& l, int& nan) {
    if (s != s) { nan = 1; return; }
    if (s > m) { l = l * fg_exp((m - s) / t) + (T)1; m = s; return; }
    if (s > -fg_inf<T>()) l += fg_exp((s - m) / t);
}

// ---------------------------------------------------------------- per-row indexing
#define FG_TEAM_SETUP(TEAM, NITEMS)                                                      \
    constexpr int BLOCK = FG_BLOCK(TEAM);                                                 \
    const int lane = threadIdx.x % TEAM;                                                  \
    const long long r = (long long)blockIdx.x * (BLOCK / TEAM) + threadIdx.x / TEAM;      \
    const bool valid = r < (NITEMS);                                                      \
    const long long rr = valid ? r : 0;

// s[4] = x + noise of group q (columns >= K get -inf)
template <typename T, typename TI>
__device__ __forceinline__ void fg_perturbed4(const TI* xr, long long q, long long K, bool vec,
                                              unsigned int k0, unsigned int k1, unsigned int stream,
                                              unsigned long long row, bool bits64, T s[4]) {
    T g[4];
    fg_noise4<T>(k0, k1, stream, row, (fg_u64)q, bits64, false, g);
    fg_load4(xr, 4 * q, K, vec, s);
#pragma unroll
    for (int j = 0; j < 4; ++j) s[j] = s[j] + g[j];
}

// s[4] = group q, the it-th group of this thread: from the register cache when it < FG_CACHE
// (unrolled selects, so that cache stays in registers), else recomputed by fg_perturbed4
template <typename T, typename TI>
__device__ __forceinline__ void fg_cached4(const T (&cache)[FG_CACHE][4], long long it, const TI* xr,
                                           long long q, long long K, bool vec, unsigned int k0,
                                           unsigned int k1, unsigned int stream,
                                           unsigned long long row, bool bits64, T s[4]) {
    if (it < FG_CACHE) {
#pragma unroll
        for (int i = 0; i < FG_CACHE; ++i)
            if (i == it) {
#pragma unroll
                for (int j = 0; j < 4; ++j) s[j] = cache[i][j];
            }
    } else {
        fg_perturbed4(xr, q, K, vec, k0, k1, stream, row, bits64, s);
    }
}

// ---------------------------------------------------------------- kernels

template <typename T, typename TI>
__device__ void fg_fill_noise(TI* out, long long rows, long long K, unsigned long long row0,
                              unsigned int k0, unsigned int k1, unsigned int stream, int bits64,
                              int uniform, double loc, double scale) {
    long long nq = (K + 3) / 4;
    long long item = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (item >= rows * nq) return;
    long long r = item / nq, q = item - r * nq;
    T g[4];
    fg_noise4<T>(k0, k1, stream, row0 + (unsigned long long)r, (fg_u64)q, bits64 != 0, uniform != 0, g);
    if (!uniform && (loc != 0.0 || scale != 1.0)) {
        T lo = (T)loc, sc = (T)scale;
#pragma unroll
        for (int j = 0; j < 4; ++j) g[j] = lo + sc * g[j];
    }
    TI* orow = out + r * K;
    fg_store4(orow, 4 * q, K, fg_aligned(orow), g);
}

template <typename T, typename TI, int TEAM>
__device__ void fg_softmax(const TI* x, TI* out, long long rows, long long K, unsigned long long row0,
                           unsigned int k0, unsigned int k1, unsigned int stream, int bits64,
                           double tau, int mode, unsigned long long* flags) {
    FG_TEAM_SETUP(TEAM, rows)
    typedef typename FgOnline<T>::type On;
    __shared__ On sh_on[BLOCK / 32];
    __shared__ int sh_i[BLOCK / 32];
    __shared__ long long sh_l[BLOCK / 32];
    const TI* xr = x + rr * K;
    TI* orow = out + rr * K;
    const bool vx = fg_aligned(xr), vo = fg_aligned(orow), b64 = bits64 != 0;
    const long long nq = valid ? (K + 3) / 4 : 0;
    const unsigned long long row = row0 + (unsigned long long)rr;
    const T t = (T)tau;
    T cache[FG_CACHE][4];
    T m = -fg_inf<T>(), l = (T)0;
    int nan = 0;
#pragma unroll
    for (int it = 0; it < FG_CACHE; ++it) {
        long long q = lane + (long long)it * TEAM;
        if (q < nq) {
            fg_perturbed4(xr, q, K, vx, k0, k1, stream, row, b64, cache[it]);
#pragma unroll
            for (int j = 0; j < 4; ++j) fg_online_add(cache[it][j], t, m, l, nan);
        }
    }
    for (long long q = lane + (long long)FG_CACHE * TEAM; q < nq; q += TEAM) {
        T s[4];
        fg_perturbed4(xr, q, K, vx, k0, k1, stream, row, b64, s);
#pragma unroll
        for (int j = 0; j < 4; ++j) fg_online_add(s[j], t, m, l, nan);
    }
    nan = fg_team_reduce<TEAM>(nan, FgOr(), sh_i);
    On p; p.m = m; p.l = l;
    FgOnlineOp<T> oop; oop.t = t;
    p = fg_team_reduce<TEAM>(p, oop, sh_on);
    const T M = p.m, S = p.l;
    const bool bad = nan != 0 || M == fg_inf<T>();
    if (valid && lane == 0 && nan == 0 && M == fg_inf<T>()) atomicAdd(flags, 1ULL);
    const T inv = S > (T)0 ? (T)1 / S : (T)0;
    const T lse = S > (T)0 ? fg_log(S) : (T)0;
    long long first = K;
    // pass 2: the cached groups, then the recomputed ones
    for (long long q = lane, it = 0; q < nq; q += TEAM, ++it) {
        T s[4], v[4];
        fg_cached4(cache, it, xr, q, K, vx, k0, k1, stream, row, b64, s);
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            if (bad) v[j] = fg_nan<T>();
            else if (M == -fg_inf<T>()) v[j] = mode == 1 ? -fg_inf<T>() : (T)0;
            else if (mode == 1) v[j] = (s[j] - M) / t - lse;
            else {
                T e = fg_exp((s[j] - M) / t);
                v[j] = e * inv;
                if (mode == 2 && e * inv == inv && 4 * q + j < first) first = 4 * q + j;
            }
        }
        if (mode != 2) fg_store4(orow, 4 * q, K, vo, v);
    }
    if (mode == 2) {
        first = fg_team_reduce<TEAM>(first, FgMinIdx(), sh_l);
        for (long long q = lane; q < nq; q += TEAM) {
            T v[4];
#pragma unroll
            for (int j = 0; j < 4; ++j)
                v[j] = bad ? fg_nan<T>() : (T)((4 * q + j == first) ? 1 : 0);
            fg_store4(orow, 4 * q, K, vo, v);
        }
    }
}

template <typename T, typename TI, int TEAM>
__device__ void fg_argmax(const TI* x, long long* idx, long long* counts, int to_counts, long long rows,
                          long long K, long long D, unsigned long long row0, unsigned int k0, unsigned int k1,
                          unsigned int stream, int bits64, unsigned long long* flags) {
    FG_TEAM_SETUP(TEAM, rows * D)
    __shared__ FgArg<T> sh_a[BLOCK / 32];
    const long long xrow = rr / D, d = rr - xrow * D;
    const TI* xr = x + xrow * K;
    const bool vx = fg_aligned(xr), b64 = bits64 != 0;
    const long long nq = valid ? (K + 3) / 4 : 0;
    const unsigned long long row = (row0 + (unsigned long long)xrow) * (unsigned long long)D + d;
    FgArg<T> a; a.v = -fg_inf<T>(); a.i = -1; a.nan = 0;
    for (long long q = lane; q < nq; q += TEAM) {
        T s[4];
        fg_perturbed4(xr, q, K, vx, k0, k1, stream, row, b64, s);
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            if (s[j] != s[j]) a.nan = 1;
            else if (s[j] > a.v) { a.v = s[j]; a.i = 4 * q + j; }
        }
    }
    a = fg_team_reduce<TEAM>(a, FgArgOp<T>(), sh_a);
    if (valid && lane == 0) {
        if (d == 0 && a.nan) atomicAdd(flags, 1ULL);
        if (d == 0 && a.v == fg_inf<T>()) atomicAdd(flags + 1, 1ULL);
        if (!to_counts) idx[xrow * D + d] = a.v == -fg_inf<T>() ? -1 : a.i;
        else if (a.v > -fg_inf<T>() && a.v < fg_inf<T>() && !a.nan)
            atomicAdd(reinterpret_cast<unsigned long long*>(counts + xrow * K + a.i), 1ULL);
    }
}

template <typename T, typename TI, int TEAM>
__device__ void fg_topk(const TI* x, long long* idx, long long rows, long long K, long long k,
                        unsigned long long row0, unsigned int k0, unsigned int k1, unsigned int stream,
                        int bits64, unsigned long long* flags) {
    FG_TEAM_SETUP(TEAM, rows)
    __shared__ FgArg<T> sh_a[BLOCK / 32];
    const TI* xr = x + rr * K;
    const bool vx = fg_aligned(xr), b64 = bits64 != 0;
    const long long nq = valid ? (K + 3) / 4 : 0;
    const unsigned long long row = row0 + (unsigned long long)rr;
    T cache[FG_CACHE][4];
#pragma unroll
    for (int it = 0; it < FG_CACHE; ++it) {
        long long q = lane + (long long)it * TEAM;
        if (q < nq) fg_perturbed4(xr, q, K, vx, k0, k1, stream, row, b64, cache[it]);
    }
    T pv = fg_inf<T>();
    long long pi = -1;
    for (long long p = 0; p < k; ++p) {
        FgArg<T> a; a.v = -fg_inf<T>(); a.i = -1; a.nan = 0;
        for (long long q = lane, it = 0; q < nq; q += TEAM, ++it) {
            T s[4];
            fg_cached4(cache, it, xr, q, K, vx, k0, k1, stream, row, b64, s);
#pragma unroll
            for (int j = 0; j < 4; ++j) {
                long long c = 4 * q + j;
                if (s[j] != s[j]) a.nan = 1;
                else if (s[j] > -fg_inf<T>() && (s[j] < pv || (s[j] == pv && c > pi)))
                    if (a.i < 0 || s[j] > a.v) { a.v = s[j]; a.i = c; }
            }
        }
        a = fg_team_reduce<TEAM>(a, FgArgOp<T>(), sh_a);
        if (valid && lane == 0) {
            if (p == 0 && a.nan) atomicAdd(flags, 1ULL);
            if (p == 0 && a.v == fg_inf<T>()) atomicAdd(flags + 1, 1ULL);
            idx[rr * k + p] = a.i;
        }
        pv = a.v; pi = a.i;
        if (a.i < 0) { pv = -fg_inf<T>(); pi = K; }
    }
}

template <typename T, int TEAM>
__device__ void fg_backward(const T* G, const T* y, T* gx, T* gtau, long long rows, long long K, double tau) {
    FG_TEAM_SETUP(TEAM, rows)
    __shared__ T sh_t[BLOCK / 32];
    const long long n = valid ? K : 0;
    const T* Gr = G + rr * K;
    const T* yr = y + rr * K;
    T* o = gx + rr * K;
    const T t = (T)tau;
    T acc = 0;
    for (long long c = lane; c < n; c += TEAM) acc += Gr[c] * yr[c];
    const T dot = fg_team_reduce<TEAM>(acc, FgSum<T>(), sh_t);
    acc = 0;
    for (long long c = lane; c < n; c += TEAM) {
        T yc = yr[c];
        T gz = yc * (Gr[c] - dot);
        acc += gz * fg_log(yc > fg_tiny<T>() ? yc : fg_tiny<T>());
        o[c] = gz / t;
    }
    const T tot = fg_team_reduce<TEAM>(acc, FgSum<T>(), sh_t);
    if (valid && lane == 0) gtau[rr] = -tot / t;
}

template <typename T, int TEAM>
__device__ void fg_concrete(const T* y, const T* logits, double* out, long long rows, long long K, double tau) {
    FG_TEAM_SETUP(TEAM, rows)
    __shared__ double sh_d[BLOCK / 32];
    __shared__ int sh_i[BLOCK / 32];
    const long long n = valid ? K : 0;
    const T* yr = y + rr * K;
    const T* lr = logits + rr * K;
    double sum_l = 0.0, sum_ly = 0.0, M = -fg_inf<double>();
    int outside = 0;
    for (long long c = lane; c < n; c += TEAM) {
        double yc = (double)yr[c], lc = (double)lr[c];
        if (yc <= 0.0) outside = 1;
        double ly = yc <= 0.0 ? 0.0 : log(yc);
        sum_l += lc;
        sum_ly += ly;
        double a = lc - tau * ly;
        M = a > M ? a : M;
    }
    outside = fg_team_reduce<TEAM>(outside, FgOr(), sh_i);
    sum_l = fg_team_reduce<TEAM>(sum_l, FgSum<double>(), sh_d);
    sum_ly = fg_team_reduce<TEAM>(sum_ly, FgSum<double>(), sh_d);
    M = fg_team_reduce<TEAM>(M, FgMax<double>(), sh_d);
    const bool finite = M > -fg_inf<double>() && M < fg_inf<double>();
    double S = 0.0;
    if (finite && !outside)
        for (long long c = lane; c < n; c += TEAM)
            S += exp((double)lr[c] - tau * log((double)yr[c]) - M);
    S = fg_team_reduce<TEAM>(S, FgSum<double>(), sh_d);
    if (valid && lane == 0) {
        if (outside) out[rr] = -fg_inf<double>();
        else if (!finite) out[rr] = sum_l - (tau + 1.0) * sum_ly - (double)K * M;
        else out[rr] = sum_l - (tau + 1.0) * sum_ly - (double)K * (M + log(S));
    }
}

// ---------------------------------------------------------------- entry points

// Sampling entries: compute type T, storage type TI (float16 stored as fg_half).
#define FG_SAMPLER_ENTRIES(T, TI, SUF, TEAM)                                                          \
extern "C" __global__ void __launch_bounds__(FG_BLOCK(TEAM)) fg_softmax_##SUF##_t##TEAM(            \
    const TI* x, TI* out, long long rows, long long K, unsigned long long row0, unsigned int k0,      \
    unsigned int k1, unsigned int stream, int bits64, double tau, int mode, unsigned long long* flags) { \
    fg_softmax<T, TI, TEAM>(x, out, rows, K, row0, k0, k1, stream, bits64, tau, mode, flags); }       \
extern "C" __global__ void __launch_bounds__(FG_BLOCK(TEAM)) fg_argmax_##SUF##_t##TEAM(             \
    const TI* x, long long* idx, long long* counts, int to_counts, long long rows, long long K,       \
    long long D, unsigned long long row0, unsigned int k0, unsigned int k1, unsigned int stream,      \
    int bits64, unsigned long long* flags) {                                                          \
    fg_argmax<T, TI, TEAM>(x, idx, counts, to_counts, rows, K, D, row0, k0, k1, stream, bits64,       \
                           flags); }                                                                  \
extern "C" __global__ void __launch_bounds__(FG_BLOCK(TEAM)) fg_topk_##SUF##_t##TEAM(               \
    const TI* x, long long* idx, long long rows, long long K, long long k, unsigned long long row0,   \
    unsigned int k0, unsigned int k1, unsigned int stream, int bits64, unsigned long long* flags) {   \
    fg_topk<T, TI, TEAM>(x, idx, rows, K, k, row0, k0, k1, stream, bits64, flags); }

// Gradient and density entries (float32 / float64 only).
#define FG_GRAD_ENTRIES(T, SUF, TEAM)                                                                  \
extern "C" __global__ void __launch_bounds__(FG_BLOCK(TEAM)) fg_backward_##SUF##_t##TEAM(           \
    const T* G, const T* y, T* gx, T* gtau, long long rows, long long K, double tau) {                \
    fg_backward<T, TEAM>(G, y, gx, gtau, rows, K, tau); }                                             \
extern "C" __global__ void __launch_bounds__(FG_BLOCK(TEAM)) fg_concrete_##SUF##_t##TEAM(           \
    const T* y, const T* logits, double* out, long long rows, long long K, double tau) {              \
    fg_concrete<T, TEAM>(y, logits, out, rows, K, tau); }

#define FG_FILL_ENTRY(T, TI, SUF)                                                                      \
extern "C" __global__ void fg_fill_noise_##SUF(TI* out, long long rows, long long K,                  \
    unsigned long long row0, unsigned int k0, unsigned int k1, unsigned int stream, int bits64,       \
    int uniform, double loc, double scale) {                                                          \
    fg_fill_noise<T, TI>(out, rows, K, row0, k0, k1, stream, bits64, uniform, loc, scale); }

#define FG_ENTRIES(T, TI, SUF)                                                                         \
FG_FILL_ENTRY(T, TI, SUF)                                                                             \
FG_SAMPLER_ENTRIES(T, TI, SUF, 32)                                                                    \
FG_SAMPLER_ENTRIES(T, TI, SUF, 256)                                                                   \
FG_SAMPLER_ENTRIES(T, TI, SUF, 512)

FG_ENTRIES(float, float, f32)
FG_ENTRIES(double, double, f64)
FG_ENTRIES(float, fg_half, f16)
FG_GRAD_ENTRIES(float, f32, 32)
FG_GRAD_ENTRIES(float, f32, 256)
FG_GRAD_ENTRIES(float, f32, 512)
FG_GRAD_ENTRIES(double, f64, 32)
FG_GRAD_ENTRIES(double, f64, 256)
FG_GRAD_ENTRIES(double, f64, 512)
