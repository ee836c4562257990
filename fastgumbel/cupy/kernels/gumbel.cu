// fastgumbel: fused Gumbel kernels for the CuPy RawModule backend (fastgumbel/cupy/).
//
// The same operations, arguments and results as fastgumbel/cpu/ and fastgumbel/cuda/,
// on C-contiguous (rows, K) arrays. Random bits follow stream spec v1 (docs/rng.md) through
// philox.cuh and are made in registers, never stored.
//
// Layout: a *team* of TEAM threads (32 = one warp, 256 or 512 = one block) owns one row
// (one draw for argmax); a block of FG_BLOCK(TEAM) threads holds BLOCK / TEAM teams. Each
// thread owns groups of 4 consecutive columns (one Philox block in 32-bit mode), loaded with
// one vector load when the row is aligned. The first FG_CACHE groups of each thread stay in
// registers between passes; later groups (long rows) are recomputed from the logits and key.
//
// Kernels (docs/gpu.md, "Kernel design"):
// - softmax, tau == 1, float32 math, 32-bit words (soft): the CPU's one-log ratio form
//   w = exp(x - mc) / E, E = -log(U) (the same w bits as the CPU), mc = max(x) - 32; the
//   max of x first (no online rescaling), then w and its sum, then w / S.
// - softmax otherwise (log, other tau, float64, 64-bit words): s = x + g, max, then
//   exp((s - M) * (1 / tau)) and its sum, then the write (no per-element division).
// - argmax and the hard sample (any tau: argmax of (x + g) / tau is argmax of x + g): a bound
//   u ~ x + g from E with fast log2 (MUFU) for every element, the team max of u, then the
//   exact x + g (the CPU's bits) only for the few elements whose u is within a band of it.
// - team reductions: warp butterflies, then one value per warp through shared memory.
// Rows whose max is NaN or +inf (docs/gpu.md): NaN samples; argmax: first NaN, else first +inf.
//
// Entry points: extern "C" fg_<op>_<f16|bf16|f32|f64>[_t<TEAM>]; f16/bf16 are stored as 16
// bits (bf16: uint16 views) and computed in float32. Every sampler takes `const unsigned*
// key_dev` (nullable: k0, k1, stream word read from the device) and a nullable flags pointer.
// Compile with --fmad=false to match the CPU backend bit for bit in the noise.
#include "philox.cuh"

#define FG_BLOCK(TEAM) ((TEAM) == 32 ? 256 : (TEAM))
#define FG_CACHE 4

template <typename T> __device__ __forceinline__ T fg_inf() { return (T)__int_as_float(0x7F800000); }
template <> __device__ __forceinline__ double fg_inf<double>() { return __longlong_as_double(0x7FF0000000000000LL); }
template <typename T> __device__ __forceinline__ T fg_nan() { return (T)__int_as_float(0x7FC00000); }
template <> __device__ __forceinline__ double fg_nan<double>() { return __longlong_as_double(0x7FF8000000000000LL); }
template <typename T> __device__ __forceinline__ T fg_tiny() { return (T)__int_as_float(0x00800000); }
template <> __device__ __forceinline__ double fg_tiny<double>() { return __longlong_as_double(0x0010000000000000LL); }

// ---------------------------------------------------------------- storage types
// float, double, fg_half (IEEE binary16 bits, PTX cvt) and fg_bf16 (bfloat16 bits, bit ops).
struct fg_half { unsigned short x; };
struct fg_bf16 { unsigned short x; };

__device__ __forceinline__ float fg_h2f(unsigned short h) {
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h));
    return f;
}
__device__ __forceinline__ unsigned short fg_f2h(float v) {
    unsigned short h;
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(v));
    return h;
}
__device__ __forceinline__ float fg_ld(fg_half h) { return fg_h2f(h.x); }
__device__ __forceinline__ float fg_ld(fg_bf16 h) { return fg_bf16_to_f32(h.x); }
__device__ __forceinline__ float fg_ld(float v) { return v; }
__device__ __forceinline__ double fg_ld(double v) { return v; }
__device__ __forceinline__ unsigned short fg_bits16(fg_half, float v) { return fg_f2h(v); }
__device__ __forceinline__ unsigned short fg_bits16(fg_bf16, float v) { return fg_f32_to_bf16(v); }
__device__ __forceinline__ void fg_st(fg_half* p, float v) { p->x = fg_f2h(v); }
__device__ __forceinline__ void fg_st(fg_bf16* p, float v) { p->x = fg_f32_to_bf16(v); }
__device__ __forceinline__ void fg_st(float* p, float v) { *p = v; }
__device__ __forceinline__ void fg_st(double* p, double v) { *p = v; }

template <typename TI>
__device__ __forceinline__ bool fg_aligned(const TI* p) {
    return (((unsigned long long)p) & (sizeof(TI) == 8 ? 15 : 4 * sizeof(TI) - 1)) == 0;
}

// 4 consecutive elements: one 16-byte (float), 8-byte (16-bit types) or two 16-byte (double)
// loads when aligned and whole; columns >= K read as -inf
template <typename T, typename TI>
__device__ __forceinline__ void fg_load4v(const TI* row, int c, T s[4]) {
        if constexpr (sizeof(TI) == 4) {
            float4 v = __ldg(reinterpret_cast<const float4*>(row + c));
            s[0] = (T)v.x; s[1] = (T)v.y; s[2] = (T)v.z; s[3] = (T)v.w;
        } else if constexpr (sizeof(TI) == 8) {
            double2 a = __ldg(reinterpret_cast<const double2*>(row + c));
            double2 b = __ldg(reinterpret_cast<const double2*>(row + c + 2));
            s[0] = (T)a.x; s[1] = (T)a.y; s[2] = (T)b.x; s[3] = (T)b.y;
        } else {
            uint2 v = __ldg(reinterpret_cast<const uint2*>(row + c));
            TI h0 = {(unsigned short)(v.x & 0xFFFFu)}, h1 = {(unsigned short)(v.x >> 16)};
            TI h2 = {(unsigned short)(v.y & 0xFFFFu)}, h3 = {(unsigned short)(v.y >> 16)};
            s[0] = (T)fg_ld(h0); s[1] = (T)fg_ld(h1); s[2] = (T)fg_ld(h2); s[3] = (T)fg_ld(h3);
        }
}

template <typename T, typename TI>
__device__ __forceinline__ void fg_load4(const TI* row, int c, int K, bool vec, T s[4]) {
    if (vec && c + 3 < K) {
        fg_load4v(row, c, s);
        return;
    }
#pragma unroll
    for (int j = 0; j < 4; ++j) s[j] = c + j < K ? (T)fg_ld(row[c + j]) : -fg_inf<T>();
}

template <typename T, typename TI>
__device__ __forceinline__ void fg_store4v(TI* row, int c, const T v[4]) {
        if constexpr (sizeof(TI) == 4) {
            *reinterpret_cast<float4*>(row + c) = make_float4((float)v[0], (float)v[1], (float)v[2], (float)v[3]);
        } else if constexpr (sizeof(TI) == 8) {
            *reinterpret_cast<double2*>(row + c) = make_double2((double)v[0], (double)v[1]);
            *reinterpret_cast<double2*>(row + c + 2) = make_double2((double)v[2], (double)v[3]);
        } else {
            uint2 o;
            o.x = (unsigned)fg_bits16(TI(), (float)v[0]) | ((unsigned)fg_bits16(TI(), (float)v[1]) << 16);
            o.y = (unsigned)fg_bits16(TI(), (float)v[2]) | ((unsigned)fg_bits16(TI(), (float)v[3]) << 16);
            *reinterpret_cast<uint2*>(row + c) = o;
        }
}

template <typename T, typename TI>
__device__ __forceinline__ void fg_store4(TI* row, int c, int K, bool vec, const T v[4]) {
    if (vec && c + 3 < K) {
        fg_store4v(row, c, v);
        return;
    }
#pragma unroll
    for (int j = 0; j < 4; ++j) if (c + j < K) fg_st(row + c + j, v[j]);
}

// ---------------------------------------------------------------- key and noise
// the key and its 10 round keys (computed once per thread, not once per Philox block)
struct FgKey { unsigned k0, k1, st; unsigned a[10], b[10]; };

// the scalar key, or k0, k1, stream word from the device (CUDA graphs: a captured op advances it)
__device__ __forceinline__ FgKey fg_key(unsigned k0, unsigned k1, unsigned st, const unsigned* kd) {
    FgKey k;
    k.k0 = k0; k.k1 = k1; k.st = st;
    if (kd != nullptr) { k.k0 = kd[0]; k.k1 = kd[1]; k.st = kd[2]; }
#pragma unroll
    for (int i = 0; i < 10; ++i) { k.a[i] = k.k0 + i * 0x9E3779B9u; k.b[i] = k.k1 + i * 0xBB67AE85u; }
    return k;
}

// Philox4x32-10 of counter (q, stream, row) with the round keys: fg_philox's bits
__device__ __forceinline__ fg_u32x4 fg_words(const FgKey& k, unsigned long long row, unsigned q) {
    fg_u32 c0 = q, c1 = k.st, c2 = (fg_u32)row, c3 = (fg_u32)(row >> 32);
#pragma unroll
    for (int i = 0; i < 10; ++i) {
        fg_u64 p0 = (fg_u64)0xD2511F53u * c0, p1 = (fg_u64)0xCD9E8D57u * c2;
        fg_u32 n0 = (fg_u32)(p1 >> 32) ^ c1 ^ k.a[i], n2 = (fg_u32)(p0 >> 32) ^ c3 ^ k.b[i];
        c1 = (fg_u32)p1; c3 = (fg_u32)p0; c0 = n0; c2 = n2;
    }
    fg_u32x4 r = {c0, c1, c2, c3};
    return r;
}

__device__ __forceinline__ fg_u32 fg_pick(fg_u32x4 w, int j) {
    return j == 0 ? w.x : j == 1 ? w.y : j == 2 ? w.z : w.w;
}

// The groups q = lane + it * TEAM (it < FG_CACHE) that a thread keeps in registers.
// Whole: the row is aligned and the thread's last cached group lies inside it (one vector load
// or store per group, no per-group tests).
template <int TEAM, typename TI>
__device__ __forceinline__ bool fg_cache_whole(const TI* p, int lane, int K) {
    return fg_aligned(p) && 4 * (lane + (FG_CACHE - 1) * TEAM) + 3 < K;
}

// their logits (columns >= K: -inf)
template <typename T, typename TI, int TEAM>
__device__ __forceinline__ void fg_load_cache(const TI* xr, int lane, int K, T (&x)[FG_CACHE][4]) {
    if (fg_cache_whole<TEAM>(xr, lane, K)) {
#pragma unroll
        for (int it = 0; it < FG_CACHE; ++it) fg_load4v(xr, 4 * (lane + it * TEAM), x[it]);
        return;
    }
    const bool vx = fg_aligned(xr);
#pragma unroll
    for (int it = 0; it < FG_CACHE; ++it) {
        const int q = lane + it * TEAM;
#pragma unroll
        for (int j = 0; j < 4; ++j) x[it][j] = -fg_inf<T>();  // part row
        if (4 * q < K) fg_load4(xr, 4 * q, K, vx, x[it]);  // part row
    }
}

// store them (columns < K)
template <typename T, typename TI, int TEAM>
__device__ __forceinline__ void fg_store_cache(TI* orow, int lane, int K, const T (&v)[FG_CACHE][4]) {
    if (fg_cache_whole<TEAM>(orow, lane, K)) {
#pragma unroll
        for (int it = 0; it < FG_CACHE; ++it) fg_store4v(orow, 4 * (lane + it * TEAM), v[it]);
        return;
    }
    const bool vo = fg_aligned(orow);
#pragma unroll
    for (int it = 0; it < FG_CACHE; ++it)
        if (4 * (lane + it * TEAM) < K) fg_store4(orow, 4 * (lane + it * TEAM), K, vo, v[it]);  // part row
}

// s[4] = x + g of group q (the CPU's bits; columns >= K give -inf)
template <typename T, typename TI>
__device__ __forceinline__ void fg_perturbed4(const TI* xr, int q, int K, bool vec, FgKey k,
                                              unsigned long long row, bool bits64, T s[4]) {
    T g[4];
    fg_noise4<T>(k.k0, k.k1, k.st, row, (fg_u64)q, bits64, false, g);
    fg_load4(xr, 4 * q, K, vec, s);
#pragma unroll
    for (int j = 0; j < 4; ++j) s[j] = s[j] + g[j];
}

__device__ __forceinline__ float fg_lg2(float v) { float r; asm("lg2.approx.ftz.f32 %0, %1;" : "=f"(r) : "f"(v)); return r; }
__device__ __forceinline__ float fg_ex2(float v) { float r; asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(r) : "f"(v)); return r; }

// exp(v) for v <= 64 or -inf within 3 ulp, 0 below -87.34 (as the CPU's exp; MUFU.EX2 .ftz
// flushes results under 2**-126): a = RN(v log2 e), e = v log2 e - a to 2**-40 (one FMA gives
// the product's rounding error exactly, a second the low part of log2 e), exp(v) = 2**a
// (MUFU.EX2) times 1 + e ln 2 (|e| < 2**-17: the next term is below 2**-35)
#define FG_LOG2E_LO_F32 0x1.4ae0cp-26f
__device__ __forceinline__ float fg_exp_fast(float v) {
    const float vc = fmaxf(v, -104.0f);   // -inf: finite a, e; 2**a flushes to 0
    const float a = vc * FG_LOG2E_F32;
    const float e = fmaf(vc, FG_LOG2E_LO_F32, fmaf(vc, FG_LOG2E_F32, -a));
    const float y = fg_ex2(a);
    return fmaf(y, e * 0.693147181f, y);
}

// u >= x + g from the word alone (one MUFU.LG2, no branch): for U = t < 1/2 (sign bit 0),
// g < -log(log 2) = 0.36651; for U = 1 - t, E = -log(1 - t) > t, so g < -log(t). The signed
// word gives t directly: fmaf((float)(int)w, -2**-32, -2**-33) is the folded t (rounded
// once) for sign bit 1 and negative for sign bit 0, where lg2 is NaN and fmaxf keeps the
// constant bound. (With the CPU's roundings of E and g, the rounding of t and MUFU.LG2's
// absolute error 2**-22, u may fall short of x + g by 2**-20 + |x + g| 2**-23 at most, which
// the threshold's band 2**-12 + |L| 2**-20 covers.)
__device__ __forceinline__ float fg_ubound(float x, fg_u32 w) {
    const float t = fmaf((float)(fg_i32)w, -0x1p-32f, -0x1p-33f);
    return fmaxf(fmaf(-0.693147181f, fg_lg2(t), x), x + 0.36652f);
}

// ---------------------------------------------------------------- team reductions
template <typename V> __device__ __forceinline__ V fg_shfl(V v, int o) { return __shfl_xor_sync(0xFFFFFFFFu, v, o); }

// larger value first; NaN above everything (sticky); ties keep a
template <typename T> __device__ __forceinline__ T fg_max_nan(T a, T b) { return !(b <= a) && a == a ? b : a; }
template <> __device__ __forceinline__ float fg_max_nan<float>(float a, float b) {
    float r; asm("max.NaN.f32 %0, %1, %2;" : "=f"(r) : "f"(a), "f"(b)); return r;
}
template <typename T> struct FgSum { __device__ T operator()(T a, T b) const { return a + b; } };
template <typename T> struct FgMaxNan { __device__ T operator()(T a, T b) const { return fg_max_nan(a, b); } };
template <typename T> struct FgMax { __device__ T operator()(T a, T b) const { return b > a ? b : a; } };
struct FgMinI { __device__ int operator()(int a, int b) const { return b < a ? b : a; } };
struct FgOrI { __device__ int operator()(int a, int b) const { return a | b; } };

// every thread of the team gets op over the team (a fixed order: the same on every thread)
template <int TEAM, typename V, typename Op>
__device__ __forceinline__ V fg_team(V v, Op op, V* sh) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = op(v, fg_shfl(v, o));
    if (TEAM == 32) return v;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    __syncthreads();  // sh may still be read from the previous reduction
    if (lane == 0) sh[warp] = v;
    __syncthreads();
    v = sh[0];
#pragma unroll
    for (int w = 1; w < TEAM / 32; ++w) v = op(v, sh[w]);
    return v;
}

// (value, first index): larger value, then smaller index; index < 0 never wins
template <typename T> struct FgArg { T v; int i; };
template <typename T> struct FgArgOp {
    __device__ FgArg<T> operator()(FgArg<T> a, FgArg<T> b) const {
        bool take = b.i >= 0 && (a.i < 0 || b.v > a.v || (b.v == a.v && b.i < a.i));
        return take ? b : a;
    }
};
template <int TEAM, typename T>
__device__ __forceinline__ FgArg<T> fg_team_arg(FgArg<T> a, FgArg<T>* sh) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        FgArg<T> b; b.v = fg_shfl(a.v, o); b.i = fg_shfl(a.i, o);
        a = FgArgOp<T>()(a, b);
    }
    if (TEAM == 32) return a;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    __syncthreads();
    if (lane == 0) sh[warp] = a;
    __syncthreads();
    a = sh[0];
#pragma unroll
    for (int w = 1; w < TEAM / 32; ++w) a = FgArgOp<T>()(a, sh[w]);
    return a;
}

#define FG_TEAM_SETUP(TEAM, NITEMS)                                                      \
    constexpr int BLOCK = FG_BLOCK(TEAM);                                                 \
    const int lane = threadIdx.x % TEAM;                                                  \
    const long long r = (long long)blockIdx.x * (BLOCK / TEAM) + threadIdx.x / TEAM;      \
    const bool valid = r < (NITEMS);                                                      \
    const long long rr = valid ? r : 0;

// first column of the row (K columns from xr) that is NaN, else first +inf, else -1: the
// index of a row whose max is NaN or +inf (docs/gpu.md); only such rows run it
template <int TEAM, typename TI>
__device__ __forceinline__ int fg_special_index(const TI* xr, int K, int lane, int* sh) {
    int first_nan = 0x7FFFFFFF, first_inf = 0x7FFFFFFF;
    for (int c = lane; c < K; c += TEAM) {  // fg:cold
        float v = (float)fg_ld(xr[c]);  // fg:cold
        if (v != v && c < first_nan) first_nan = c;  // fg:cold
        if (v == fg_inf<float>() && c < first_inf) first_inf = c;  // fg:cold
    }
    first_nan = fg_team<TEAM>(first_nan, FgMinI(), sh);  // fg:cold
    first_inf = fg_team<TEAM>(first_inf, FgMinI(), sh);  // fg:cold
    return first_nan != 0x7FFFFFFF ? first_nan : first_inf != 0x7FFFFFFF ? first_inf : -1;
}

// ---------------------------------------------------------------- argmax (and the hard index)
// x + g of column c, exactly as the CPU computes it (the words regenerated)
template <typename TI>
__device__ __forceinline__ float fg_exact(const TI* xr, const FgKey& k, unsigned long long row, int c) {
    return (float)fg_ld(xr[c]) + fg_gumbel_bits32(fg_pick(fg_words(k, row, (unsigned)c >> 2), c & 3));
}

// the first column of this thread's cached groups whose u equals v (finite), -1 if none
__device__ __forceinline__ int fg_first_at(const float (&u)[FG_CACHE][4], int lane, int team, float v) {
    int c = -1;
#pragma unroll
    for (int it = FG_CACHE - 1; it >= 0; --it)
#pragma unroll
        for (int j = 3; j >= 0; --j)
            if (u[it][j] == v) c = 4 * (lane + it * team) + j;
    return c;
}

// First argmax of x + g over the row (the CPU's bits of x + g), -1 if all -inf; NaN / +inf
// rows: fg_special_index. *special is set for NaN / +inf rows (1 NaN, 2 +inf).
// float32 math with 32-bit words: bound-pruned (only near-max elements get the exact x + g).
template <typename T, typename TI, int TEAM>
__device__ __forceinline__ int fg_row_argmax(const TI* xr, int K, int lane, FgKey k, unsigned long long row,
                             bool bits64, int* special, int* sh_i, FgArg<T>* sh_a, T* sh_t) {
    const bool vx = fg_aligned(xr);
    const int nq = (K + 3) / 4;
    FgArg<T> a; a.v = -fg_inf<T>(); a.i = -1;
    T top = -fg_inf<T>();
    if (sizeof(T) == 4 && !bits64) {
        // pass 1: u >= x + g for every element, from the word alone (fg_ubound); top = max u
        float u[FG_CACHE][4];
        {
            fg_load_cache<float, TI, TEAM>(xr, lane, K, u);   // x (-inf past the row: u = -inf)
#pragma unroll
            for (int it = 0; it < FG_CACHE; ++it) {
                const fg_u32x4 w = fg_words(k, row, lane + it * TEAM);
                u[it][0] = fg_ubound(u[it][0], w.x); u[it][1] = fg_ubound(u[it][1], w.y);
                u[it][2] = fg_ubound(u[it][2], w.z); u[it][3] = fg_ubound(u[it][3], w.w);
#pragma unroll
                for (int j = 0; j < 4; ++j) top = fg_max_nan(top, (T)u[it][j]);
            }
        }
        float tmax = -fg_inf<float>();   // groups beyond the cache: max u and its first column
        int tcol = -1;
        for (int q = lane + FG_CACHE * TEAM; q < nq; q += TEAM) {
            float xs[4];
            fg_load4(xr, 4 * q, K, vx, xs);
            fg_u32x4 w = fg_words(k, row, q);
#pragma unroll
            for (int j = 0; j < 4; ++j) {
                const float v = fg_ubound(xs[j], fg_pick(w, j));
                top = fg_max_nan(top, (T)v);
                if (v > tmax) { tmax = v; tcol = 4 * q + j; }
            }
        }
        const float mine = (float)top;   // this thread's max u
        top = fg_team<TEAM>(top, FgMaxNan<T>(), sh_t);
        if (!(top < fg_inf<T>())) {
            *special = top == top ? 2 : 1;
            return fg_special_index<TEAM>(xr, K, lane, sh_i);
        }
        *special = 0;
        if (top == -fg_inf<T>()) return -1;
        // L = the exact x + g of an element whose u is top (the lanes that hold one): a lower
        // bound of max(x + g), so only elements with u >= L (less a rounding band) can reach it.
        // Only threads whose own max reaches top / the threshold look at their elements (one
        // to a few threads per row: one warp of the team's TEAM / 32 runs each branch).
        float lo = -fg_inf<float>();
        if (mine == (float)top) {   // an element of this thread has u == top (cache or tail)
            const int own = fg_first_at(u, lane, TEAM, (float)top);  // fg:cold
            lo = fg_exact(xr, k, row, own >= 0 ? own : tcol);  // fg:cold
        }
        lo = (float)fg_team<TEAM>((T)lo, FgMaxNan<T>(), sh_t);
        // never below the lowest finite float: a row whose max is -FLT_MAX (masked with
        // finfo.min) would give -inf, and every slot past the row (u = -inf) would pass
        const float thr = fmaxf(lo - (0x1p-12f + fabsf(lo) * 0x1p-20f), -0x1.fffffep127f);
        float best = -fg_inf<float>();
        int bi = -1;
        if (mine >= thr) {
            unsigned mask = 0;
#pragma unroll
            for (int it = 0; it < FG_CACHE; ++it)
#pragma unroll
                for (int j = 0; j < 4; ++j)
                    if (u[it][j] >= thr) mask |= 1u << (4 * it + j);  // fg:cold
            while (mask) {   // the few candidates: exact x + g, as the CPU computes it
                const int b = __ffs(mask) - 1;  // fg:cold
                mask &= mask - 1;  // fg:cold
                const int c = 4 * (lane + (b >> 2) * TEAM) + (b & 3);  // fg:cold
                const float v = fg_exact(xr, k, row, c);  // fg:cold
                if (v > best || bi < 0) { best = v; bi = c; }  // fg:cold
            }
        }
        for (int q = lane + FG_CACHE * TEAM; q < nq; q += TEAM) {
            float xs[4];
            fg_load4(xr, 4 * q, K, vx, xs);
            fg_u32x4 w = fg_words(k, row, q);
#pragma unroll
            for (int j = 0; j < 4; ++j) {
                if (fg_ubound(xs[j], fg_pick(w, j)) >= thr) {
                    const float v = xs[j] + fg_gumbel_bits32(fg_pick(w, j));  // fg:cold
                    if (v > best || bi < 0) { best = v; bi = 4 * q + j; }  // fg:cold
                }
            }
        }
        // the first index of the max: max of the values, then min index among equal ones
        const float m = (float)fg_team<TEAM>((T)best, FgMaxNan<T>(), sh_t);
        return fg_team<TEAM>(bi >= 0 && best == m ? bi : 0x7FFFFFFF, FgMinI(), sh_i);
    } else {
        for (int q = lane; q < nq; q += TEAM) {
            T s[4];
            fg_perturbed4(xr, q, K, vx, k, row, bits64, s);
#pragma unroll
            for (int j = 0; j < 4; ++j) {
                top = fg_max_nan(top, s[j]);
                if (s[j] > a.v) { a.v = s[j]; a.i = 4 * q + j; }
            }
        }
        top = fg_team<TEAM>(top, FgMaxNan<T>(), sh_t);
        if (!(top < fg_inf<T>())) {
            *special = top == top ? 2 : 1;
            return fg_special_index<TEAM>(xr, K, lane, sh_i);
        }
        *special = 0;
        if (top == -fg_inf<T>()) return -1;
    }
    a = fg_team_arg<TEAM>(a, sh_a);
    return a.i;
}

template <typename T, typename TI, int TEAM>
__device__ void fg_argmax(const TI* x, long long* idx, long long* counts, int to_counts, long long rows,
                          int K, long long D, unsigned long long row0, FgKey k, int bits64,
                          unsigned long long* flags) {
    FG_TEAM_SETUP(TEAM, rows * D)
    __shared__ int sh_i[BLOCK / 32];
    __shared__ FgArg<T> sh_a[BLOCK / 32];
    __shared__ T sh_t[BLOCK / 32];
    long long xrow = rr;
    unsigned long long row = row0 + (unsigned long long)rr;
    bool first = true;   // the first draw of its row (flags count rows)
    if (D != 1) {   // categorical / multinomial draws: noise row (row0 + xrow) * D + d
        xrow = rr / D;
        const long long d = rr - xrow * D;
        row = (row0 + (unsigned long long)xrow) * (unsigned long long)D + d;
        first = d == 0;
    }
    const TI* xr = x + xrow * K;
    int special = 0;
    const int i = valid || TEAM > 32 ? fg_row_argmax<T, TI, TEAM>(xr, valid ? K : 0, lane, k, row, bits64 != 0,
                                                                   &special, sh_i, sh_a, sh_t) : -1;
    if (valid && lane == 0) {
        if (flags != nullptr && first && special) atomicAdd(flags + (special - 1), 1ULL);  // fg:cold
        if (!to_counts) idx[rr] = i;   // rr = xrow * D + d
        else if (i >= 0) atomicAdd(reinterpret_cast<unsigned long long*>(counts + xrow * K + i), 1ULL);
    }
}

// ---------------------------------------------------------------- softmax family
// write the row: v(q, j) for every column (pass 2 of the samplers)
template <typename T, typename TI, int TEAM, typename F>
__device__ __forceinline__ void fg_write_row(TI* orow, int K, int lane, F f) {
    const bool vo = fg_aligned(orow);
    const int nq = (K + 3) / 4;
    for (int q = lane; q < nq; q += TEAM) {
        T v[4];
#pragma unroll
        for (int j = 0; j < 4; ++j) v[j] = f(4 * q + j);
        fg_store4(orow, 4 * q, K, vo, v);
    }
}

template <typename T> struct FgConst { T v; __device__ T operator()(int) const { return v; } };
template <typename T> struct FgOneHot { int i; __device__ T operator()(int c) const { return c == i ? (T)1 : (T)0; } };

// w = exp(x - mc) / E of one element, E = -log U exact (the CPU's E bits), the exp and the
// reciprocal within 2 ulp each (MUFU.EX2, MUFU.RCP; E is in [2**-33, 23], a normal number)
__device__ __forceinline__ float fg_w1(float xm, fg_u32 word) {
    float r;
    asm("rcp.approx.ftz.f32 %0, %1;" : "=f"(r) : "f"(fg_exponential_bits32(word)));
    return fg_exp_fast(xm) * r;
}

// v[4] = group q, the it-th group of this thread: from the register cache when it < FG_CACHE
// (unrolled selects keep the cache in registers; returns true), else x + g recomputed
template <typename T, typename TI>
__device__ __forceinline__ bool fg_cached4(const T (&cache)[FG_CACHE][4], int it, const TI* xr, int q,
                                           int K, bool vx, const FgKey& k, unsigned long long row,
                                           bool bits64, T v[4]) {
    if (it < FG_CACHE) {
#pragma unroll
        for (int i = 0; i < FG_CACHE; ++i)
            if (i == it) {
#pragma unroll
                for (int j = 0; j < 4; ++j) v[j] = cache[i][j];
            }
        return true;
    }
    fg_perturbed4(xr, q, K, vx, k, row, bits64, v);
    return false;
}

// tau == 1, float32 math, 32-bit words, soft sample: w = exp(x - mc) / E (the CPU's ratio form)
template <typename TI, int TEAM>
__device__ __forceinline__ void fg_soft1(const TI* xr, TI* orow, int K, int lane, FgKey k, unsigned long long row,
                         float* sh_f, int* special) {
    const bool vx = fg_aligned(xr), vo = fg_aligned(orow);
    const int nq = (K + 3) / 4;
    float w[FG_CACHE][4];
    float m = -fg_inf<float>();
    fg_load_cache<float, TI, TEAM>(xr, lane, K, w);   // -inf past the row (w = 0 there below)
#pragma unroll
    for (int it = 0; it < FG_CACHE; ++it)
#pragma unroll
        for (int j = 0; j < 4; ++j) m = fg_max_nan(m, w[it][j]);
    for (int q = lane + FG_CACHE * TEAM; q < nq; q += TEAM) {
        float xs[4];
        fg_load4(xr, 4 * q, K, vx, xs);
#pragma unroll
        for (int j = 0; j < 4; ++j) m = fg_max_nan(m, xs[j]);
    }
    m = fg_team<TEAM>(m, FgMaxNan<float>(), sh_f);
    if (!(m < fg_inf<float>()) || m == -fg_inf<float>()) {
        *special = m == -fg_inf<float>() ? 3 : m == m ? 2 : 1;
        FgConst<float> f; f.v = m == -fg_inf<float>() ? 0.0f : fg_nan<float>();  // fg:cold
        fg_write_row<float, TI, TEAM>(orow, K, lane, f);  // fg:cold
        return;
    }
    *special = 0;
    const float mc = m - 32.0f;
    float S = 0.0f;
#pragma unroll
    for (int it = 0; it < FG_CACHE; ++it) {
        fg_u32x4 wd = fg_words(k, row, lane + it * TEAM);
        w[it][0] = fg_w1(w[it][0] - mc, wd.x);
        w[it][1] = fg_w1(w[it][1] - mc, wd.y);
        w[it][2] = fg_w1(w[it][2] - mc, wd.z);
        w[it][3] = fg_w1(w[it][3] - mc, wd.w);
        S += (w[it][0] + w[it][1]) + (w[it][2] + w[it][3]);
    }
    for (int q = lane + FG_CACHE * TEAM; q < nq; q += TEAM) {
        float xs[4];
        fg_load4(xr, 4 * q, K, vx, xs);
        fg_u32x4 wd = fg_words(k, row, q);
        S += (fg_w1(xs[0] - mc, wd.x)
              + fg_w1(xs[1] - mc, wd.y))
             + (fg_w1(xs[2] - mc, wd.z)
                + fg_w1(xs[3] - mc, wd.w));
    }
    S = fg_team<TEAM>(S, FgSum<float>(), sh_f);
    const float inv = 1.0f / S;
#pragma unroll
    for (int it = 0; it < FG_CACHE; ++it)
#pragma unroll
        for (int j = 0; j < 4; ++j) w[it][j] *= inv;
    fg_store_cache<float, TI, TEAM>(orow, lane, K, w);
    for (int q = lane + FG_CACHE * TEAM; q < nq; q += TEAM) {
        float xs[4];
        fg_load4(xr, 4 * q, K, vx, xs);
        fg_u32x4 wd = fg_words(k, row, q);
        xs[0] = fg_w1(xs[0] - mc, wd.x) * inv;
        xs[1] = fg_w1(xs[1] - mc, wd.y) * inv;
        xs[2] = fg_w1(xs[2] - mc, wd.z) * inv;
        xs[3] = fg_w1(xs[3] - mc, wd.w) * inv;
        fg_store4(orow, 4 * q, K, vo, xs);
    }
}

template <typename T> __device__ __forceinline__ T fg_exp_le0(T v) { return fg_exp(v); }
template <> __device__ __forceinline__ float fg_exp_le0<float>(float v) { return fg_exp_fast(v); }

// any tau, soft (mode 0) or log (mode 1): s = x + g, M = max s, e = exp((s - M) / tau) with
// one reciprocal of tau, S = sum e; soft e / S, log (s - M) / tau - log S
template <typename T, typename TI, int TEAM, int MODE>
__device__ __forceinline__ void fg_soft_any(const TI* xr, TI* orow, int K, int lane, FgKey k, unsigned long long row,
                            bool bits64, T tau, T* sh_t, int* special) {
    const bool vx = fg_aligned(xr), vo = fg_aligned(orow);
    const int nq = (K + 3) / 4;
    const T it_ = (T)1 / tau;
    T s[FG_CACHE][4];
    T M = -fg_inf<T>();
#pragma unroll
    for (int it = 0; it < FG_CACHE; ++it) {
        const int q = lane + it * TEAM;
#pragma unroll
        for (int j = 0; j < 4; ++j) s[it][j] = -fg_inf<T>();
        if (q < nq) fg_perturbed4(xr, q, K, vx, k, row, bits64, s[it]);
#pragma unroll
        for (int j = 0; j < 4; ++j) M = fg_max_nan(M, s[it][j]);
    }
    for (int q = lane + FG_CACHE * TEAM; q < nq; q += TEAM) {
        T v[4];
        fg_perturbed4(xr, q, K, vx, k, row, bits64, v);
#pragma unroll
        for (int j = 0; j < 4; ++j) M = fg_max_nan(M, v[j]);
    }
    M = fg_team<TEAM>(M, FgMaxNan<T>(), sh_t);
    if (!(M < fg_inf<T>()) || M == -fg_inf<T>()) {
        *special = M == -fg_inf<T>() ? 3 : M == M ? 2 : 1;
        FgConst<T> f; f.v = M != -fg_inf<T>() ? fg_nan<T>() : MODE == 1 ? -fg_inf<T>() : (T)0;  // fg:cold
        fg_write_row<T, TI, TEAM>(orow, K, lane, f);  // fg:cold
        return;
    }
    *special = 0;
    T S = 0;
#pragma unroll
    for (int it = 0; it < FG_CACHE; ++it)
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            T e = fg_exp_le0((s[it][j] - M) * it_);
            S += e;
            if (MODE == 0) s[it][j] = e;
        }
    for (int q = lane + FG_CACHE * TEAM; q < nq; q += TEAM) {
        T v[4];
        fg_perturbed4(xr, q, K, vx, k, row, bits64, v);
#pragma unroll
        for (int j = 0; j < 4; ++j) S += fg_exp_le0((v[j] - M) * it_);
    }
    S = fg_team<TEAM>(S, FgSum<T>(), sh_t);
    const T inv = (T)1 / S, lse = fg_log(S);
    for (int q = lane, it = 0; q < nq; q += TEAM, ++it) {
        T v[4];
        if (!fg_cached4(s, it, xr, q, K, vx, k, row, bits64, v)) {
            if (MODE == 0) {
#pragma unroll
                for (int j = 0; j < 4; ++j) v[j] = fg_exp_le0((v[j] - M) * it_);
            }
        }
#pragma unroll
        for (int j = 0; j < 4; ++j) v[j] = MODE == 0 ? v[j] * inv : (v[j] - M) * it_ - lse;
        fg_store4(orow, 4 * q, K, vo, v);
    }
}

template <typename T, typename TI, int TEAM>
__device__ void fg_softmax(const TI* x, TI* out, long long rows, int K, unsigned long long row0,
                           FgKey k, int bits64, double tau, int mode, unsigned long long* flags) {
    FG_TEAM_SETUP(TEAM, rows)
    __shared__ int sh_i[BLOCK / 32];
    __shared__ FgArg<T> sh_a[BLOCK / 32];
    __shared__ T sh_t[BLOCK / 32];
    if (!valid && TEAM == 32) return;   // block teams take part in the reductions
    const int n = valid ? K : 0;
    const TI* xr = x + rr * K;
    TI* orow = out + rr * K;
    const unsigned long long row = row0 + (unsigned long long)rr;
    int special = 0;
    if (mode == 2) {
        const int i = fg_row_argmax<T, TI, TEAM>(xr, n, lane, k, row, bits64 != 0, &special, sh_i, sh_a, sh_t);
        if (special) {
            FgConst<T> f; f.v = fg_nan<T>();  // fg:cold
            fg_write_row<T, TI, TEAM>(orow, n, lane, f);  // fg:cold
        } else {
            FgOneHot<T> f; f.i = i;
            fg_write_row<T, TI, TEAM>(orow, n, lane, f);
        }
    } else if (sizeof(T) == 4 && mode == 0 && tau == 1.0 && !bits64) {
        fg_soft1<TI, TEAM>(xr, orow, n, lane, k, row, reinterpret_cast<float*>(sh_t), &special);
    } else if (mode == 0) {
        fg_soft_any<T, TI, TEAM, 0>(xr, orow, n, lane, k, row, bits64 != 0, (T)tau, sh_t, &special);
    } else {
        fg_soft_any<T, TI, TEAM, 1>(xr, orow, n, lane, k, row, bits64 != 0, (T)tau, sh_t, &special);
    }
    if (flags != nullptr && valid && lane == 0 && special == 2) atomicAdd(flags, 1ULL);  // fg:cold
}

// ---------------------------------------------------------------- top-k
// Order: NaN entries (by index), then +inf (by index), then the rest by x + g (larger first,
// then smaller index); -inf entries are never picked (index -1). Class: 2 NaN, 1 +inf, 0.
template <typename T> struct FgTop { int c; T v; int i; };
template <typename T> __device__ __forceinline__ bool fg_top_before(FgTop<T> a, FgTop<T> b) {
    if (a.i < 0) return false;
    if (b.i < 0) return true;
    if (a.c != b.c) return a.c > b.c;
    if (a.c == 0 && a.v != b.v) return a.v > b.v;
    return a.i < b.i;
}
template <typename T> struct FgTopOp {
    __device__ FgTop<T> operator()(FgTop<T> a, FgTop<T> b) const { return fg_top_before(b, a) ? b : a; }
};

template <typename T, typename TI, int TEAM>
__device__ void fg_topk(const TI* x, long long* idx, long long rows, int K, long long kk,
                        unsigned long long row0, FgKey k, int bits64, unsigned long long* flags) {
    FG_TEAM_SETUP(TEAM, rows)
    __shared__ FgTop<T> sh_a[BLOCK / 32];
    __shared__ FgArg<T> sh_g[BLOCK / 32];
    __shared__ int sh_i[BLOCK / 32];
    const TI* xr = x + rr * K;
    const bool vx = fg_aligned(xr), b64 = bits64 != 0;
    const int nq = valid ? (K + 3) / 4 : 0;
    const unsigned long long row = row0 + (unsigned long long)rr;
    T cache[FG_CACHE][4];
    int odd = nq > FG_CACHE * TEAM;   // groups beyond the cache, or (below) NaN / +inf entries
#pragma unroll
    for (int it = 0; it < FG_CACHE; ++it) {
        const int q = lane + it * TEAM;
#pragma unroll
        for (int j = 0; j < 4; ++j) cache[it][j] = -fg_inf<T>();
        if (q < nq) fg_perturbed4(xr, q, K, vx, k, row, b64, cache[it]);
#pragma unroll
        for (int j = 0; j < 4; ++j) odd |= !(cache[it][j] < fg_inf<T>());
    }
    if (!fg_team<TEAM>(odd, FgOrI(), sh_i)) {
        // the row in registers, no NaN / +inf: each pass takes the largest value after the
        // previous pick (larger value, then larger index), first index among equal values
        T pv = fg_inf<T>();
        int pi = -1;
        for (long long p = 0; p < kk; ++p) {
            FgArg<T> a; a.v = -fg_inf<T>(); a.i = -1;
#pragma unroll
            for (int it = 0; it < FG_CACHE; ++it)
#pragma unroll
                for (int j = 0; j < 4; ++j) {
                    const T v = cache[it][j];
                    const int c = 4 * (lane + it * TEAM) + j;
                    if ((v < pv || (v == pv && c > pi)) && v > a.v) { a.v = v; a.i = c; }
                }
            a = fg_team_arg<TEAM>(a, sh_g);
            if (valid && lane == 0) idx[rr * kk + p] = a.i;
            pv = a.i < 0 ? -fg_inf<T>() : a.v;   // after a -1: nothing left
            pi = a.i < 0 ? K : a.i;
        }
        return;
    }
    // long rows and rows with NaN / +inf entries: the class order (fg_top_before)
    FgTop<T> prev; prev.c = 3; prev.v = fg_inf<T>(); prev.i = -1;  // odd rows
    for (long long p = 0; p < kk; ++p) {  // odd rows
        FgTop<T> a; a.c = 0; a.v = -fg_inf<T>(); a.i = -1;  // odd rows
        for (int q = lane, it = 0; q < nq; q += TEAM, ++it) {  // odd rows
            T s[4];  // odd rows
            fg_cached4(cache, it, xr, q, K, vx, k, row, b64, s);  // odd rows
#pragma unroll
            for (int j = 0; j < 4; ++j) {  // odd rows
                FgTop<T> e; e.c = s[j] != s[j] ? 2 : s[j] == fg_inf<T>() ? 1 : 0; e.v = s[j];  // odd rows
                e.i = s[j] == -fg_inf<T>() ? -1 : 4 * q + j;  // odd rows
                if ((prev.i < 0 && prev.c == 3) || fg_top_before(prev, e))  // odd rows
                    if (fg_top_before(e, a)) a = e;  // odd rows
            }
        }
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) {  // odd rows
            FgTop<T> b; b.c = fg_shfl(a.c, o); b.v = fg_shfl(a.v, o); b.i = fg_shfl(a.i, o);  // odd rows
            a = FgTopOp<T>()(a, b);  // odd rows
        }
        if (TEAM > 32) {  // odd rows
            __syncthreads();  // odd rows
            if ((threadIdx.x & 31) == 0) sh_a[threadIdx.x >> 5] = a;  // odd rows
            __syncthreads();  // odd rows
            a = sh_a[0];  // odd rows
#pragma unroll
            for (int w = 1; w < TEAM / 32; ++w) a = FgTopOp<T>()(a, sh_a[w]);  // odd rows
        }
        if (valid && lane == 0) {  // odd rows
            if (flags != nullptr && p == 0 && a.c == 2) atomicAdd(flags, 1ULL);  // fg:cold
            if (flags != nullptr && p == 0 && a.c == 1) atomicAdd(flags + 1, 1ULL);  // fg:cold
            idx[rr * kk + p] = a.i;  // odd rows
        }
        if (a.i < 0) { prev.c = 0; prev.v = -fg_inf<T>(); prev.i = K; }  // odd rows
        else prev = a;  // odd rows
    }
}

// ---------------------------------------------------------------- noise fill
// grid (column groups, row slices): no division; each thread takes every gridDim.y-th row
// (the host makes gridDim.y about rows / 8, so the key setup is shared by 8 groups)
template <typename T, typename TI>
__device__ void fg_fill_noise(TI* out, long long rows, int K, unsigned long long row0, const FgKey& k,
                              int bits64, int uniform, double loc, double scale) {
    const int nq = (K + 3) / 4;
    const int q = blockIdx.x * blockDim.x + threadIdx.x;
    if (q >= nq) return;
    const bool affine = !uniform && (loc != 0.0 || scale != 1.0);
    const T lo = (T)loc, sc = (T)scale;
    // every row 16-byte aligned with whole groups: vector stores without per-row tests
    const bool whole = fg_aligned(out) && (K & 3) == 0;
    const long long step = (long long)gridDim.y * K;
    TI* orow = out + (long long)blockIdx.y * K;
    const unsigned long long end = row0 + (unsigned long long)rows;
    for (unsigned long long row = row0 + blockIdx.y; row < end; row += gridDim.y, orow += step) {
        T g[4];
        if (!bits64 && !uniform) {
            fg_u32x4 w = fg_words(k, row, q);
            g[0] = (T)fg_gumbel_bits32(w.x); g[1] = (T)fg_gumbel_bits32(w.y);
            g[2] = (T)fg_gumbel_bits32(w.z); g[3] = (T)fg_gumbel_bits32(w.w);
        } else {
            fg_noise4<T>(k.k0, k.k1, k.st, row, (fg_u64)q, bits64 != 0, uniform != 0, g);
        }
        if (affine) {
#pragma unroll
            for (int j = 0; j < 4; ++j) g[j] = lo + sc * g[j];  // fg:cold
        }
        if (whole) fg_store4v(orow, 4 * q, g);
        else fg_store4(orow, 4 * q, K, fg_aligned(orow), g);  // part row
    }
}

// ---------------------------------------------------------------- backward, density
template <typename T, int TEAM>
__device__ void fg_backward(const T* G, const T* y, T* gx, T* gtau, long long rows, int K, double tau) {
    FG_TEAM_SETUP(TEAM, rows)
    __shared__ T sh_t[BLOCK / 32];
    const int n = valid ? K : 0;
    const T* Gr = G + rr * K;
    const T* yr = y + rr * K;
    T* o = gx + rr * K;
    const T it_ = (T)1 / (T)tau;
    T acc = 0;
    for (int c = lane; c < n; c += TEAM) acc += Gr[c] * yr[c];
    const T dot = fg_team<TEAM>(acc, FgSum<T>(), sh_t);
    acc = 0;
    for (int c = lane; c < n; c += TEAM) {
        T yc = yr[c];
        T gz = yc * (Gr[c] - dot);
        acc += gz * fg_log(yc > fg_tiny<T>() ? yc : fg_tiny<T>());
        o[c] = gz * it_;
    }
    const T tot = fg_team<TEAM>(acc, FgSum<T>(), sh_t);
    if (valid && lane == 0) gtau[rr] = -tot * it_;
}

template <typename T, int TEAM>
__device__ void fg_concrete(const T* y, const T* logits, double* out, long long rows, int K, double tau) {
    FG_TEAM_SETUP(TEAM, rows)
    __shared__ double sh_d[BLOCK / 32];
    __shared__ int sh_i[BLOCK / 32];
    const int n = valid ? K : 0;
    const T* yr = y + rr * K;
    const T* lr = logits + rr * K;
    double sum_l = 0.0, sum_ly = 0.0, M = -fg_inf<double>();
    int outside = 0;
    for (int c = lane; c < n; c += TEAM) {
        double yc = (double)yr[c], lc = (double)lr[c];
        if (yc <= 0.0) outside = 1;
        double ly = yc <= 0.0 ? 0.0 : log(yc);
        sum_l += lc;
        sum_ly += ly;
        double a = lc - tau * ly;
        M = a > M ? a : M;
    }
    outside = fg_team<TEAM>(outside, FgOrI(), sh_i);
    sum_l = fg_team<TEAM>(sum_l, FgSum<double>(), sh_d);
    sum_ly = fg_team<TEAM>(sum_ly, FgSum<double>(), sh_d);
    M = fg_team<TEAM>(M, FgMax<double>(), sh_d);
    const bool finite = M > -fg_inf<double>() && M < fg_inf<double>();
    double S = 0.0;
    if (finite && !outside)
        for (int c = lane; c < n; c += TEAM)
            S += exp((double)lr[c] - tau * log((double)yr[c]) - M);
    S = fg_team<TEAM>(S, FgSum<double>(), sh_d);
    if (valid && lane == 0) {
        if (outside) out[rr] = -fg_inf<double>();
        else if (!finite) out[rr] = sum_l - (tau + 1.0) * sum_ly - (double)K * M;
        else out[rr] = sum_l - (tau + 1.0) * sum_ly - (double)K * (M + log(S));
    }
}

// ---------------------------------------------------------------- entry points
#define FG_KEYARGS unsigned int k0, unsigned int k1, unsigned int stream, const unsigned int* key_dev
#define FG_KEY fg_key(k0, k1, stream, key_dev)

// Sampling entries: compute type T, storage type TI.
#define FG_SAMPLER_ENTRIES(T, TI, SUF, TEAM)                                                          \
extern "C" __global__ void __launch_bounds__(FG_BLOCK(TEAM), 1) fg_softmax_##SUF##_t##TEAM(         \
    const TI* x, TI* out, long long rows, int K, unsigned long long row0, FG_KEYARGS, int bits64,     \
    double tau, int mode, unsigned long long* flags) {                                               \
    fg_softmax<T, TI, TEAM>(x, out, rows, K, row0, FG_KEY, bits64, tau, mode, flags); }               \
extern "C" __global__ void __launch_bounds__(FG_BLOCK(TEAM), 2) fg_argmax_##SUF##_t##TEAM(             \
    const TI* x, long long* idx, long long* counts, int to_counts, long long rows, int K,             \
    long long D, unsigned long long row0, FG_KEYARGS, int bits64, unsigned long long* flags) {       \
    fg_argmax<T, TI, TEAM>(x, idx, counts, to_counts, rows, K, D, row0, FG_KEY, bits64, flags); }      \
extern "C" __global__ void __launch_bounds__(FG_BLOCK(TEAM)) fg_topk_##SUF##_t##TEAM(               \
    const TI* x, long long* idx, long long rows, int K, long long k, unsigned long long row0,          \
    FG_KEYARGS, int bits64, unsigned long long* flags) {                                              \
    fg_topk<T, TI, TEAM>(x, idx, rows, K, k, row0, FG_KEY, bits64, flags); }

// Gradient and density entries (float32 / float64 only).
#define FG_GRAD_ENTRIES(T, SUF, TEAM)                                                                  \
extern "C" __global__ void __launch_bounds__(FG_BLOCK(TEAM)) fg_backward_##SUF##_t##TEAM(           \
    const T* G, const T* y, T* gx, T* gtau, long long rows, int K, double tau) {                      \
    fg_backward<T, TEAM>(G, y, gx, gtau, rows, K, tau); }                                             \
extern "C" __global__ void __launch_bounds__(FG_BLOCK(TEAM)) fg_concrete_##SUF##_t##TEAM(           \
    const T* y, const T* logits, double* out, long long rows, int K, double tau) {                    \
    fg_concrete<T, TEAM>(y, logits, out, rows, K, tau); }

#define FG_FILL_ENTRY(T, TI, SUF)                                                                      \
extern "C" __global__ void __launch_bounds__(256) fg_fill_noise_##SUF(TI* out, long long rows, int K, \
    unsigned long long row0, FG_KEYARGS, int bits64, int uniform, double loc, double scale) {         \
    fg_fill_noise<T, TI>(out, rows, K, row0, FG_KEY, bits64, uniform, loc, scale); }

#define FG_ENTRIES(T, TI, SUF)                                                                         \
FG_FILL_ENTRY(T, TI, SUF)                                                                             \
FG_SAMPLER_ENTRIES(T, TI, SUF, 32)                                                                    \
FG_SAMPLER_ENTRIES(T, TI, SUF, 256)                                                                   \
FG_SAMPLER_ENTRIES(T, TI, SUF, 512)

FG_ENTRIES(float, float, f32)
FG_ENTRIES(double, double, f64)
FG_ENTRIES(float, fg_half, f16)
FG_ENTRIES(float, fg_bf16, bf16)
FG_GRAD_ENTRIES(float, f32, 32)
FG_GRAD_ENTRIES(float, f32, 256)
FG_GRAD_ENTRIES(float, f32, 512)
FG_GRAD_ENTRIES(double, f64, 32)
FG_GRAD_ENTRIES(double, f64, 256)
FG_GRAD_ENTRIES(double, f64, 512)
