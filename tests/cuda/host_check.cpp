// Host build of fastgumbel/cupy/kernels/philox.cuh, for tests/test_cuda.py.
//   host_check bits IN OUT: IN holds N records of 6 uint32 (c0 c1 c2 c3 k0 k1); OUT gets, per
//     record, the 4 Philox words, gumbel_bits32 and uniform_bits32 of each word (float32),
//     gumbel_bits64 and uniform_bits64 of (w0, w1) and (w2, w3) (float64): 80 bytes.
//   host_check words IN OUT: IN holds N uint32 words (N even); OUT gets gumbel_bits32 and
//     uniform_bits32 of every word (N float32 each), then gumbel_bits64 and uniform_bits64 of
//     every pair (word 2i = low half, 2i + 1 = high half; N / 2 float64 each).
//   host_check math32 IN OUT / math64 IN OUT: log and exp of each float32 / float64 of IN.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>
#include "philox.cuh"

static std::vector<unsigned char> slurp(const char *path) {
    std::vector<unsigned char> v;
    FILE *f = std::fopen(path, "rb");
    if (!f) { std::perror(path); std::exit(2); }
    unsigned char buf[65536];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) v.insert(v.end(), buf, buf + n);
    std::fclose(f);
    return v;
}

int main(int argc, char **argv) {
    if (argc != 4) { std::fprintf(stderr, "usage: host_check bits|words|math32|math64 IN OUT\n"); return 2; }
    std::vector<unsigned char> in = slurp(argv[2]);
    FILE *out = std::fopen(argv[3], "wb");
    if (!out) { std::perror(argv[3]); return 2; }
    if (std::strcmp(argv[1], "bits") == 0) {
        size_t n = in.size() / 24;
        for (size_t i = 0; i < n; ++i) {
            fg_u32 c[6];
            std::memcpy(c, &in[24 * i], 24);
            fg_u32x4 w = fg_philox(c[0], c[1], c[2], c[3], c[4], c[5]);
            fg_u32 ws[4] = {w.x, w.y, w.z, w.w};
            float g32[4], u32[4];
            for (int j = 0; j < 4; ++j) { g32[j] = fg_gumbel_bits32(ws[j]); u32[j] = fg_uniform_bits32(ws[j]); }
            double g64[2] = {fg_gumbel_bits64(w.x, w.y), fg_gumbel_bits64(w.z, w.w)};
            double u64[2] = {fg_uniform_bits64(w.x, w.y), fg_uniform_bits64(w.z, w.w)};
            std::fwrite(ws, 4, 4, out);
            std::fwrite(g32, 4, 4, out);
            std::fwrite(u32, 4, 4, out);
            std::fwrite(g64, 8, 2, out);
            std::fwrite(u64, 8, 2, out);
        }
    } else if (std::strcmp(argv[1], "words") == 0) {
        size_t n = in.size() / 4;
        std::vector<fg_u32> w(n);
        std::memcpy(w.data(), in.data(), 4 * n);
        std::vector<float> g(n), u(n);
        std::vector<double> g2(n / 2), u2(n / 2);
        for (size_t i = 0; i < n; ++i) { g[i] = fg_gumbel_bits32(w[i]); u[i] = fg_uniform_bits32(w[i]); }
        for (size_t i = 0; i < n / 2; ++i) {
            g2[i] = fg_gumbel_bits64(w[2 * i], w[2 * i + 1]);
            u2[i] = fg_uniform_bits64(w[2 * i], w[2 * i + 1]);
        }
        std::fwrite(g.data(), 4, n, out);
        std::fwrite(u.data(), 4, n, out);
        std::fwrite(g2.data(), 8, n / 2, out);
        std::fwrite(u2.data(), 8, n / 2, out);
    } else if (std::strcmp(argv[1], "math32") == 0) {
        size_t n = in.size() / 4;
        for (size_t i = 0; i < n; ++i) {
            float x, r[2];
            std::memcpy(&x, &in[4 * i], 4);
            r[0] = fg_log_f32(x); r[1] = fg_exp_f32(x);
            std::fwrite(r, 4, 2, out);
        }
    } else if (std::strcmp(argv[1], "ext32") == 0) {
        // uint32 words: the exponential E of the word, exp_nonpos of the word's float bits,
        // and the bfloat16 bits of the word's float bits
        size_t n = in.size() / 4;
        for (size_t i = 0; i < n; ++i) {
            uint32_t w;
            float x, r[2];
            std::memcpy(&w, &in[4 * i], 4);
            std::memcpy(&x, &w, 4);
            r[0] = fg_exponential_bits32(w);
            r[1] = (x <= 64.0f) ? fg_exp_nonpos_f32(x) : 0.0f;
            unsigned short b = fg_f32_to_bf16(x);
            float back = fg_bf16_to_f32(b);
            std::fwrite(r, 4, 2, out);
            std::fwrite(&b, 2, 1, out);
            std::fwrite(&back, 4, 1, out);
        }
    } else if (std::strcmp(argv[1], "math64") == 0) {
        size_t n = in.size() / 8;
        for (size_t i = 0; i < n; ++i) {
            double x, r[2];
            std::memcpy(&x, &in[8 * i], 8);
            r[0] = fg_log_f64(x); r[1] = fg_exp_f64(x);
            std::fwrite(r, 8, 2, out);
        }
    } else {
        std::fprintf(stderr, "unknown mode %s\n", argv[1]);
        return 2;
    }
    std::fclose(out);
    return 0;
}
