// Inner loops of the CPU kernels (see loops.h). Plain C++ over raw buffers,
// written so that GCC auto-vectorises them: the conv width, the activation
// and the seq-id masking are template parameters, so every hot loop is a
// straight-line body with no data-dependent branches.
//
// The float versions are compiled for x86-64-v3 (AVX2/FMA/F16C) and baseline
// x86-64 and picked at load time (GCC function multiversioning), so the wheel
// runs on any x86-64 CPU and is fast on current ones. This TU includes no
// torch headers on purpose: multiversioning code that inlines library
// functions would risk ODR clashes between ISA levels.
#include "loops.h"

#include <cmath>
#include <cstring>

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#define CC1D_HAVE_F16C 1
#else
#define CC1D_HAVE_F16C 0
#endif

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) && \
    __GNUC__ >= 11
#define CC1D_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define CC1D_CLONES
#endif

#define CC1D_INLINE inline __attribute__((always_inline))

// Float compares may trap by default, which stops GCC from if-converting the
// clamps and seq-id selects below, and so from vectorising the loops. Nothing
// here inspects FP exception flags, and the results are unchanged.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif

namespace causal_conv1d::cpu {
namespace {

CC1D_INLINE float bits_to_float(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof(f));
  return f;
}

CC1D_INLINE uint32_t float_to_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof(u));
  return u;
}

// exp(y) for y <= 0, written to vectorise without -ffast-math (libm's expf
// would keep the silu loops scalar): Cody-Waite range reduction and a degree-6
// polynomial, about 1 ulp. Below about -86.6 it returns exactly 0 rather than a
// subnormal: GCC evaluates every arm of the selects in all vector lanes, and
// subnormal intermediates cost a microcode assist each on Intel CPUs.
CC1D_INLINE float exp_nonpos(float y) {
  y = y < -100.0f ? -100.0f : y;
  // Round y * log2(e) to the nearest integer with the 1.5 * 2^23 trick.
  const float n = (y * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  float r = y - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  int32_t e = static_cast<int32_t>(n) + 127;  // biased exponent of 2^n
  e = e > 1 ? e : 0;                          // 2^n too small: scale 0, result 0
  return p * bits_to_float(static_cast<uint32_t>(e) << 23);
}

// sigmoid through exp(-|v|) in [0, 1], so nothing overflows.
CC1D_INLINE float sigmoid(float v) {
  const float e = exp_nonpos(-__builtin_fabsf(v));
  const float q = 1.0f / (1.0f + e);
  return v >= 0.0f ? q : e * q;
}

CC1D_INLINE double sigmoid(double v) { return 1.0 / (1.0 + std::exp(-v)); }

template <typename A>
CC1D_INLINE A silu(A v) {
  return v * sigmoid(v);
}

// d silu(v) / dv = s * (1 + v * (1 - s)), s = sigmoid(v).
template <typename A>
CC1D_INLINE A silu_grad(A v) {
  const A s = sigmoid(v);
  return s * (A(1) + v * (A(1) - s));
}

// ---------------------------------------------------------------- rows

template <typename A, int W, bool SILU, bool SEQ>
CC1D_INLINE void fwd_row_impl(const A* __restrict xb, const int32_t* __restrict sid,
                              A* __restrict out, int64_t n, const A* w, A bias) {
  A wk[W];
  for (int k = 0; k < W; ++k) wk[k] = w[k];
  for (int64_t j = 0; j < n; ++j) {
    A acc = bias;
    if constexpr (SEQ) {
      const int32_t s = sid[j + W - 1];
      for (int k = 0; k < W; ++k) acc += wk[k] * (sid[j + k] == s ? xb[j + k] : A(0));
      if constexpr (SILU) acc = silu(acc);
      out[j] = s >= 0 ? acc : A(0);
    } else {
      for (int k = 0; k < W; ++k) acc += wk[k] * xb[j + k];
      if constexpr (SILU) acc = silu(acc);
      out[j] = acc;
    }
  }
}

template <typename A, int W, bool SILU, bool SEQ>
CC1D_INLINE void dy_row_impl(const A* __restrict xb, const int32_t* __restrict sid,
                             const A* __restrict dout, A* __restrict dy, int64_t n, const A* w,
                             A bias) {
  A wk[W];
  for (int k = 0; k < W; ++k) wk[k] = w[k];
  for (int64_t j = 0; j < n; ++j) {
    A g = dout[j];
    if constexpr (SILU) {
      A v = bias;
      if constexpr (SEQ) {
        const int32_t s = sid[j + W - 1];
        for (int k = 0; k < W; ++k) v += wk[k] * (sid[j + k] == s ? xb[j + k] : A(0));
      } else {
        for (int k = 0; k < W; ++k) v += wk[k] * xb[j + k];
      }
      g *= silu_grad(v);
    }
    if constexpr (SEQ) g = sid[j + W - 1] >= 0 ? g : A(0);
    dy[j] = g;
  }
}

template <typename A, int W, bool SEQ>
CC1D_INLINE void dx_row_impl(const A* __restrict dyb, const int32_t* __restrict sid,
                             A* __restrict dx, int64_t n, const A* w) {
  A wk[W];
  for (int k = 0; k < W; ++k) wk[k] = w[k];
  for (int64_t j = 0; j < n; ++j) {
    A acc = 0;
    for (int k = 0; k < W; ++k) {
      const int64_t o = j + W - 1 - k;  // the output token that reads x[j] through tap k
      if constexpr (SEQ) {
        acc += wk[k] * (sid[o] == sid[j] ? dyb[o] : A(0));
      } else {
        acc += wk[k] * dyb[o];
      }
    }
    dx[j] = acc;
  }
}

// Partial sums live in kLanes independent lanes (vectorisable without
// reassociation) and are folded in a fixed order at the end.
constexpr int kLanes = 16;

template <typename A, int W, bool SEQ>
CC1D_INLINE void dw_row_impl(const A* __restrict dy, const A* __restrict xb,
                             const int32_t* __restrict sid, int64_t n, A* dw, A* db) {
  A acc[W][kLanes] = {};
  A accb[kLanes] = {};
  int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes) {
    for (int l = 0; l < kLanes; ++l) {
      const A g = dy[j + l];
      accb[l] += g;
      for (int k = 0; k < W; ++k) {
        const A v = xb[j + l + k];
        if constexpr (SEQ) {
          acc[k][l] += g * (sid[j + l + k] == sid[j + l + W - 1] ? v : A(0));
        } else {
          acc[k][l] += g * v;
        }
      }
    }
  }
  for (int l = 0; j + l < n; ++l) {
    const A g = dy[j + l];
    accb[l] += g;
    for (int k = 0; k < W; ++k) {
      const A v = xb[j + l + k];
      if constexpr (SEQ) {
        acc[k][l] += g * (sid[j + l + k] == sid[j + l + W - 1] ? v : A(0));
      } else {
        acc[k][l] += g * v;
      }
    }
  }
  for (int k = 0; k < W; ++k) {
    A s = 0;
    for (int l = 0; l < kLanes; ++l) s += acc[k][l];
    dw[k] += s;
  }
  if (db != nullptr) {
    A s = 0;
    for (int l = 0; l < kLanes; ++l) s += accb[l];
    *db += s;
  }
}

// ---------------------------------------------------------------- tokens

template <typename A, int W, bool SILU>
CC1D_INLINE void fwd_tok_impl(const A* const* rows, const A* __restrict wT, int64_t ldw,
                              const A* __restrict bias, A* __restrict out, int64_t n) {
  const A* __restrict r[W];
  for (int k = 0; k < W; ++k) r[k] = rows[k];
  for (int64_t c = 0; c < n; ++c) {
    A acc = bias[c];
    for (int k = 0; k < W; ++k) acc += wT[k * ldw + c] * r[k][c];
    if constexpr (SILU) acc = silu(acc);
    out[c] = acc;
  }
}

template <typename A, int W>
CC1D_INLINE void dy_tok_impl(const A* const* rows, const A* __restrict wT, int64_t ldw,
                             const A* __restrict bias, const A* __restrict dout,
                             A* __restrict dy, int64_t n) {
  const A* __restrict r[W];
  for (int k = 0; k < W; ++k) r[k] = rows[k];
  for (int64_t c = 0; c < n; ++c) {
    A v = bias[c];
    for (int k = 0; k < W; ++k) v += wT[k * ldw + c] * r[k][c];
    dy[c] = dout[c] * silu_grad(v);
  }
}

template <typename A, int W>
CC1D_INLINE void dx_tok_impl(const A* const* dyrows, const A* __restrict wT, int64_t ldw,
                             A* __restrict dx, int64_t n) {
  const A* __restrict r[W];
  for (int k = 0; k < W; ++k) r[k] = dyrows[k];
  for (int64_t c = 0; c < n; ++c) {
    A acc = 0;
    for (int k = 0; k < W; ++k) acc += wT[k * ldw + c] * r[k][c];
    dx[c] = acc;
  }
}

template <typename A, int W>
CC1D_INLINE void dw_tok_impl(const A* __restrict dy, const A* const* rows, A* __restrict dwT,
                             int64_t ldw, A* __restrict db, int64_t n) {
  const A* __restrict r[W];
  for (int k = 0; k < W; ++k) r[k] = rows[k];
  for (int64_t c = 0; c < n; ++c) {
    const A g = dy[c];
    db[c] += g;
    for (int k = 0; k < W; ++k) dwT[k * ldw + c] += g * r[k][c];
  }
}

// ---------------------------------------------------------------- dispatch

// Expands `body` with W as a compile-time constant.
#define CC1D_WIDTH_SWITCH(width, ...)          \
  switch (width) {                             \
    case 2: {                                  \
      constexpr int W = 2;                     \
      __VA_ARGS__;                             \
    } break;                                   \
    case 3: {                                  \
      constexpr int W = 3;                     \
      __VA_ARGS__;                             \
    } break;                                   \
    default: {                                 \
      constexpr int W = 4;                     \
      __VA_ARGS__;                             \
    } break;                                   \
  }

template <typename A>
CC1D_INLINE void fwd_row_any(const A* xb, const int32_t* sid, A* out, int64_t n, const A* w,
                             int width, A bias, bool silu) {
  CC1D_WIDTH_SWITCH(width, {
    if (sid != nullptr) {
      if (silu) fwd_row_impl<A, W, true, true>(xb, sid, out, n, w, bias);
      else fwd_row_impl<A, W, false, true>(xb, sid, out, n, w, bias);
    } else {
      if (silu) fwd_row_impl<A, W, true, false>(xb, sid, out, n, w, bias);
      else fwd_row_impl<A, W, false, false>(xb, sid, out, n, w, bias);
    }
  })
}

template <typename A>
CC1D_INLINE void dy_row_any(const A* xb, const int32_t* sid, const A* dout, A* dy, int64_t n,
                            const A* w, int width, A bias, bool silu) {
  if (!silu && sid == nullptr) {
    std::memcpy(dy, dout, sizeof(A) * n);
    return;
  }
  CC1D_WIDTH_SWITCH(width, {
    if (sid != nullptr) {
      if (silu) dy_row_impl<A, W, true, true>(xb, sid, dout, dy, n, w, bias);
      else dy_row_impl<A, W, false, true>(xb, sid, dout, dy, n, w, bias);
    } else {
      dy_row_impl<A, W, true, false>(xb, sid, dout, dy, n, w, bias);
    }
  })
}

template <typename A>
CC1D_INLINE void dx_row_any(const A* dyb, const int32_t* sid, A* dx, int64_t n, const A* w,
                            int width) {
  CC1D_WIDTH_SWITCH(width, {
    if (sid != nullptr) dx_row_impl<A, W, true>(dyb, sid, dx, n, w);
    else dx_row_impl<A, W, false>(dyb, sid, dx, n, w);
  })
}

template <typename A>
CC1D_INLINE void dw_row_any(const A* dy, const A* xb, const int32_t* sid, int64_t n, int width,
                            A* dw, A* db) {
  CC1D_WIDTH_SWITCH(width, {
    if (sid != nullptr) dw_row_impl<A, W, true>(dy, xb, sid, n, dw, db);
    else dw_row_impl<A, W, false>(dy, xb, sid, n, dw, db);
  })
}

template <typename A>
CC1D_INLINE void fwd_tok_any(const A* const* rows, const A* wT, int64_t ldw, const A* bias,
                             A* out, int64_t n, int width, bool silu) {
  CC1D_WIDTH_SWITCH(width, {
    if (silu) fwd_tok_impl<A, W, true>(rows, wT, ldw, bias, out, n);
    else fwd_tok_impl<A, W, false>(rows, wT, ldw, bias, out, n);
  })
}

template <typename A>
CC1D_INLINE void dy_tok_any(const A* const* rows, const A* wT, int64_t ldw, const A* bias,
                            const A* dout, A* dy, int64_t n, int width, bool silu) {
  if (!silu) {
    std::memcpy(dy, dout, sizeof(A) * n);
    return;
  }
  CC1D_WIDTH_SWITCH(width, dy_tok_impl<A, W>(rows, wT, ldw, bias, dout, dy, n))
}

template <typename A>
CC1D_INLINE void dx_tok_any(const A* const* dyrows, const A* wT, int64_t ldw, A* dx, int64_t n,
                            int width) {
  CC1D_WIDTH_SWITCH(width, dx_tok_impl<A, W>(dyrows, wT, ldw, dx, n))
}

template <typename A>
CC1D_INLINE void dw_tok_any(const A* dy, const A* const* rows, A* dwT, int64_t ldw, A* db,
                            int64_t n, int width) {
  CC1D_WIDTH_SWITCH(width, dw_tok_impl<A, W>(dy, rows, dwT, ldw, db, n))
}

#if defined(__FLT16_MAX__)
// The compiler knows IEEE half: conversions become F16C instructions where
// the ISA level has them.
CC1D_INLINE float half_bits_to_float(uint16_t h) {
  _Float16 v;
  std::memcpy(&v, &h, sizeof(v));
  return static_cast<float>(v);
}
CC1D_INLINE uint16_t float_to_half_bits(float f) {
  const _Float16 v = static_cast<_Float16>(f);
  uint16_t h;
  std::memcpy(&h, &v, sizeof(h));
  return h;
}
#else
CC1D_INLINE float half_bits_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  const uint32_t mant = h & 0x3ffu;
  if (exp == 0) {
    const float mag = static_cast<float>(mant) * 5.9604644775390625e-8f;  // 2^-24
    return bits_to_float(float_to_bits(mag) | sign);
  }
  if (exp == 31) return bits_to_float(sign | 0x7f800000u | (mant << 13));
  return bits_to_float(sign | ((exp + 112u) << 23) | (mant << 13));
}
CC1D_INLINE uint16_t float_to_half_bits(float f) {
  uint32_t u = float_to_bits(f);
  const uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000u);
  u &= 0x7fffffffu;
  if (u >= 0x7f800000u) return sign | (u > 0x7f800000u ? 0x7e00u : 0x7c00u);
  if (u >= 0x477ff000u) return sign | 0x7c00u;  // rounds to infinity
  if (u < 0x38800000u) {
    // Subnormal half: let the FPU round by aligning the mantissa at 2^-24.
    const float v = bits_to_float(u) + 0.5f;
    return sign | static_cast<uint16_t>(float_to_bits(v) - 0x3f000000u);
  }
  const uint32_t odd = (u >> 13) & 1u;
  u += 0xc8000fffu + odd;  // rebias the exponent (-112 << 23) and round to nearest even
  return sign | static_cast<uint16_t>(u >> 13);
}
#endif

}  // namespace

// ---------------------------------------------------------------- exported

CC1D_CLONES void load_bf16(const uint16_t* __restrict src, float* __restrict dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = bits_to_float(static_cast<uint32_t>(src[i]) << 16);
}

CC1D_CLONES void store_bf16(const float* __restrict src, uint16_t* __restrict dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float f = src[i];
    const uint32_t u = float_to_bits(f);
    const uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
    dst[i] = f != f ? uint16_t{0x7fc0} : static_cast<uint16_t>(rounded);
  }
}

#if CC1D_HAVE_F16C
namespace {
// GCC 12 does not vectorise _Float16 conversions, so use F16C directly where
// the CPU has it (checked once at run time).
__attribute__((target("avx,f16c"))) void load_f16_f16c(const uint16_t* src, float* dst,
                                                       int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i));
    _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(h));
  }
  for (; i < n; ++i) dst[i] = half_bits_to_float(src[i]);
}

__attribute__((target("avx,f16c"))) void store_f16_f16c(const float* src, uint16_t* dst,
                                                        int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i), h);
  }
  for (; i < n; ++i) dst[i] = float_to_half_bits(src[i]);
}

bool cpu_has_f16c() {
  static const bool has = __builtin_cpu_supports("f16c") && __builtin_cpu_supports("avx");
  return has;
}
}  // namespace
#endif

void load_f16(const uint16_t* src, float* dst, int64_t n) {
#if CC1D_HAVE_F16C
  if (cpu_has_f16c()) {
    load_f16_f16c(src, dst, n);
    return;
  }
#endif
  for (int64_t i = 0; i < n; ++i) dst[i] = half_bits_to_float(src[i]);
}

void store_f16(const float* src, uint16_t* dst, int64_t n) {
#if CC1D_HAVE_F16C
  if (cpu_has_f16c()) {
    store_f16_f16c(src, dst, n);
    return;
  }
#endif
  for (int64_t i = 0; i < n; ++i) dst[i] = float_to_half_bits(src[i]);
}

CC1D_CLONES void fwd_row(const float* xb, const int32_t* sid, float* out, int64_t n,
                         const float* w, int width, float bias, bool silu) {
  fwd_row_any(xb, sid, out, n, w, width, bias, silu);
}
void fwd_row(const double* xb, const int32_t* sid, double* out, int64_t n, const double* w,
             int width, double bias, bool silu) {
  fwd_row_any(xb, sid, out, n, w, width, bias, silu);
}

CC1D_CLONES void dy_row(const float* xb, const int32_t* sid, const float* dout, float* dy,
                        int64_t n, const float* w, int width, float bias, bool silu) {
  dy_row_any(xb, sid, dout, dy, n, w, width, bias, silu);
}
void dy_row(const double* xb, const int32_t* sid, const double* dout, double* dy, int64_t n,
            const double* w, int width, double bias, bool silu) {
  dy_row_any(xb, sid, dout, dy, n, w, width, bias, silu);
}

CC1D_CLONES void dx_row(const float* dyb, const int32_t* sid, float* dx, int64_t n,
                        const float* w, int width) {
  dx_row_any(dyb, sid, dx, n, w, width);
}
void dx_row(const double* dyb, const int32_t* sid, double* dx, int64_t n, const double* w,
            int width) {
  dx_row_any(dyb, sid, dx, n, w, width);
}

CC1D_CLONES void dw_row(const float* dy, const float* xb, const int32_t* sid, int64_t n,
                        int width, float* dw, float* db) {
  dw_row_any(dy, xb, sid, n, width, dw, db);
}
void dw_row(const double* dy, const double* xb, const int32_t* sid, int64_t n, int width,
            double* dw, double* db) {
  dw_row_any(dy, xb, sid, n, width, dw, db);
}

CC1D_CLONES void fwd_tok(const float* const* rows, const float* wT, int64_t ldw,
                         const float* bias, float* out, int64_t n, int width, bool silu) {
  fwd_tok_any(rows, wT, ldw, bias, out, n, width, silu);
}
void fwd_tok(const double* const* rows, const double* wT, int64_t ldw, const double* bias,
             double* out, int64_t n, int width, bool silu) {
  fwd_tok_any(rows, wT, ldw, bias, out, n, width, silu);
}

CC1D_CLONES void dy_tok(const float* const* rows, const float* wT, int64_t ldw,
                        const float* bias, const float* dout, float* dy, int64_t n, int width,
                        bool silu) {
  dy_tok_any(rows, wT, ldw, bias, dout, dy, n, width, silu);
}
void dy_tok(const double* const* rows, const double* wT, int64_t ldw, const double* bias,
            const double* dout, double* dy, int64_t n, int width, bool silu) {
  dy_tok_any(rows, wT, ldw, bias, dout, dy, n, width, silu);
}

CC1D_CLONES void dx_tok(const float* const* dyrows, const float* wT, int64_t ldw, float* dx,
                        int64_t n, int width) {
  dx_tok_any(dyrows, wT, ldw, dx, n, width);
}
void dx_tok(const double* const* dyrows, const double* wT, int64_t ldw, double* dx, int64_t n,
            int width) {
  dx_tok_any(dyrows, wT, ldw, dx, n, width);
}

CC1D_CLONES void dw_tok(const float* dy, const float* const* rows, float* dwT, int64_t ldw,
                        float* db, int64_t n, int width) {
  dw_tok_any(dy, rows, dwT, ldw, db, n, width);
}
void dw_tok(const double* dy, const double* const* rows, double* dwT, int64_t ldw, double* db,
            int64_t n, int width) {
  dw_tok_any(dy, rows, dwT, ldw, db, n, width);
}

}  // namespace causal_conv1d::cpu
