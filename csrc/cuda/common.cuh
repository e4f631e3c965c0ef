// Helpers shared by the CUDA kernels: element traits, packed vector loads,
// runtime-dtype scalar access, strided views and the dtype x width dispatch.
//
// Compile-time specialisation is limited to x's dtype and the conv width
// (3 x 3 = 9 instantiations per kernel). Weight/bias dtype, silu, bias and the
// optional tensors are runtime flags: weights are read once per thread (a
// switch on a uniform value costs nothing next to the streaming traffic), and
// the flags are uniform branches.
#pragma once

#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <type_traits>

#include "causal_conv1d.h"

namespace causal_conv1d {
namespace cuda {

// ---------------------------------------------------------------------------
// Element traits. Storage is the raw bit pattern (float or uint16_t) so that
// packed loads can be unpacked with shifts and no half/bf16 class types
// (torch builds with __CUDA_NO_HALF_CONVERSIONS__ and friends).
enum DtypeCode : int { kCodeF32 = 0, kCodeF16 = 1, kCodeBF16 = 2 };

struct F32 {
  using S = float;
  static constexpr int kCode = kCodeF32;
  static __device__ __forceinline__ float to_f(S v) { return v; }
  static __device__ __forceinline__ S from_f(float v) { return v; }
};
struct F16 {
  using S = uint16_t;
  static constexpr int kCode = kCodeF16;
  static __device__ __forceinline__ float to_f(S v) { return __half2float(__ushort_as_half(v)); }
  static __device__ __forceinline__ S from_f(float v) {
    return __half_as_ushort(__float2half_rn(v));
  }
};
struct BF16 {
  using S = uint16_t;
  static constexpr int kCode = kCodeBF16;
  static __device__ __forceinline__ float to_f(S v) {
    return __uint_as_float(static_cast<uint32_t>(v) << 16);
  }
  static __device__ __forceinline__ S from_f(float v) {
    return __bfloat16_as_ushort(__float2bfloat16_rn(v));
  }
};

inline int dtype_code(at::ScalarType t) {
  switch (t) {
    case at::kFloat: return kCodeF32;
    case at::kHalf: return kCodeF16;
    case at::kBFloat16: return kCodeBF16;
    default: TORCH_CHECK(false, "causal_conv1d: unsupported dtype ", t);
  }
  return kCodeF32;
}

// Scalar load/store where the dtype is a runtime value (weight, bias, dweight).
__device__ __forceinline__ float ld_any(const void* p, int64_t i, int code) {
  if (code == kCodeF32) return static_cast<const float*>(p)[i];
  const uint16_t v = static_cast<const uint16_t*>(p)[i];
  return code == kCodeF16 ? F16::to_f(v) : BF16::to_f(v);
}
__device__ __forceinline__ void st_any(void* p, int64_t i, int code, float v) {
  if (code == kCodeF32) {
    static_cast<float*>(p)[i] = v;
  } else {
    static_cast<uint16_t*>(p)[i] = code == kCodeF16 ? F16::from_f(v) : BF16::from_f(v);
  }
}

// ---------------------------------------------------------------------------
// Packed vectors of N elements (4, 8 or 16 bytes). The caller guarantees the
// pointer is aligned to the vector size.
template <int Bytes> struct RawVec;
template <> struct RawVec<4> {
  using T = uint32_t;
  static constexpr int kWords = 1;
  static __device__ __forceinline__ void to_words(const T& v, uint32_t* w) { w[0] = v; }
  static __device__ __forceinline__ T from_words(const uint32_t* w) { return w[0]; }
};
template <> struct RawVec<8> {
  using T = uint2;
  static constexpr int kWords = 2;
  static __device__ __forceinline__ void to_words(const T& v, uint32_t* w) { w[0] = v.x; w[1] = v.y; }
  static __device__ __forceinline__ T from_words(const uint32_t* w) { return make_uint2(w[0], w[1]); }
};
template <> struct RawVec<16> {
  using T = uint4;
  static constexpr int kWords = 4;
  static __device__ __forceinline__ void to_words(const T& v, uint32_t* w) {
    w[0] = v.x; w[1] = v.y; w[2] = v.z; w[3] = v.w;
  }
  static __device__ __forceinline__ T from_words(const uint32_t* w) {
    return make_uint4(w[0], w[1], w[2], w[3]);
  }
};

template <class E, int N>
struct Vec {
  static constexpr int kBytes = N * static_cast<int>(sizeof(typename E::S));
  using R = RawVec<kBytes>;
  using Raw = typename R::T;

  static __device__ __forceinline__ Raw load_raw(const typename E::S* p) {
    return *reinterpret_cast<const Raw*>(p);
  }
  static __device__ __forceinline__ void unpack(const Raw& r, float (&f)[N]) {
    uint32_t w[R::kWords];
    R::to_words(r, w);
    if constexpr (sizeof(typename E::S) == 4) {
#pragma unroll
      for (int i = 0; i < N; ++i) f[i] = __uint_as_float(w[i]);
    } else {
#pragma unroll
      for (int i = 0; i < N / 2; ++i) {
        f[2 * i] = E::to_f(static_cast<uint16_t>(w[i] & 0xffffu));
        f[2 * i + 1] = E::to_f(static_cast<uint16_t>(w[i] >> 16));
      }
    }
  }
  static __device__ __forceinline__ void load(const typename E::S* p, float (&f)[N]) {
    unpack(load_raw(p), f);
  }
  static __device__ __forceinline__ void store(typename E::S* p, const float (&f)[N]) {
    uint32_t w[R::kWords];
    if constexpr (sizeof(typename E::S) == 4) {
#pragma unroll
      for (int i = 0; i < N; ++i) w[i] = __float_as_uint(f[i]);
    } else {
#pragma unroll
      for (int i = 0; i < N / 2; ++i) {
        w[i] = static_cast<uint32_t>(E::from_f(f[2 * i])) |
               (static_cast<uint32_t>(E::from_f(f[2 * i + 1])) << 16);
      }
    }
    *reinterpret_cast<Raw*>(p) = R::from_words(w);
  }
};

// ---------------------------------------------------------------------------
// Activation.
// Fast intrinsics (a few ulp): the IEEE division and expf slow paths would
// otherwise dominate the instruction count of these bandwidth-bound kernels.
// For very negative v, 1 + exp(-v) overflows to inf and both give 0.
__device__ __forceinline__ float silu_f(float v) { return __fdividef(v, 1.0f + __expf(-v)); }
// d silu(v) / dv = s * (1 + v * (1 - s)), s = sigmoid(v).
__device__ __forceinline__ float silu_grad_f(float v) {
  const float s = __fdividef(1.0f, 1.0f + __expf(-v));
  return s * (1.0f + v * (1.0f - s));
}

// ---------------------------------------------------------------------------
// The input side shared by forward and backward: x, initial_states, seq_idx.
// xs(t) follows the README: t < 0 reads initial_states (or 0).
struct ConvIn {
  const void* x;
  int64_t x_sb, x_sd, x_sl;
  const void* init;  // nullptr when absent
  int64_t i_sb, i_sd, i_sk;
  const int32_t* seq;  // nullptr when absent
  int64_t q_sb, q_sl;
  int64_t B, D, L;
};

template <class E, int W>
__device__ __forceinline__ float xs_at(const ConvIn& in, int64_t b, int64_t d, int64_t t) {
  using S = typename E::S;
  if (t >= 0) {
    if (t >= in.L) return 0.0f;
    return E::to_f(static_cast<const S*>(in.x)[b * in.x_sb + d * in.x_sd + t * in.x_sl]);
  }
  if (in.init == nullptr) return 0.0f;
  return E::to_f(
      static_cast<const S*>(in.init)[b * in.i_sb + d * in.i_sd + (t + (W - 1)) * in.i_sk]);
}

// Sequence id of token t. State tokens (t < 0) belong to row b's first
// sequence (without initial_states they are zeros, so this only shapes
// dinitial_states, which then matches the CPU kernels).
__device__ __forceinline__ int32_t seq_at(const ConvIn& in, int64_t b, int64_t t) {
  if (t >= in.L) return -1;
  return in.seq[b * in.q_sb + (t < 0 ? 0 : t) * in.q_sl];
}

// ---------------------------------------------------------------------------
// Host helpers.
inline bool aligned_ptr(const void* p, int bytes) {
  return reinterpret_cast<uintptr_t>(p) % static_cast<uintptr_t>(bytes) == 0;
}
// Vector access of `bytes` along dimension `contig` (which must have stride 1)
// is legal at every vector-aligned index when the base and the other strides
// are multiples of the vector size.
inline bool vec_ok(const at::Tensor& t, int contig, int bytes) {
  if (t.stride(contig) != 1 && t.size(contig) > 1) return false;
  if (!aligned_ptr(t.data_ptr(), bytes)) return false;
  const int64_t es = t.element_size();
  for (int i = 0; i < t.dim(); ++i) {
    if (i == contig || t.size(i) <= 1) continue;
    if ((t.stride(i) * es) % bytes != 0) return false;
  }
  return true;
}

inline ConvIn make_conv_in(const at::Tensor& x, const std::optional<at::Tensor>& seq_idx,
                           const std::optional<at::Tensor>& initial_states) {
  ConvIn in{};
  in.x = x.data_ptr();
  in.x_sb = x.stride(0);
  in.x_sd = x.stride(1);
  in.x_sl = x.stride(2);
  in.B = x.size(0);
  in.D = x.size(1);
  in.L = x.size(2);
  if (initial_states.has_value() && initial_states->defined()) {
    in.init = initial_states->data_ptr();
    in.i_sb = initial_states->stride(0);
    in.i_sd = initial_states->stride(1);
    in.i_sk = initial_states->stride(2);
  }
  if (seq_idx.has_value() && seq_idx->defined()) {
    in.seq = seq_idx->data_ptr<int32_t>();
    in.q_sb = seq_idx->stride(0);
    in.q_sl = seq_idx->stride(1);
  }
  return in;
}

inline bool has(const std::optional<at::Tensor>& t) { return t.has_value() && t->defined(); }

// Calls fn(E{}, std::integral_constant<int, W>{}) for x's dtype and the width.
template <class Fn>
void dispatch_dtype_width(at::ScalarType xt, int64_t width, Fn&& fn) {
  auto by_width = [&](auto e) {
    switch (width) {
      case 2: fn(e, std::integral_constant<int, 2>{}); break;
      case 3: fn(e, std::integral_constant<int, 3>{}); break;
      case 4: fn(e, std::integral_constant<int, 4>{}); break;
      default: TORCH_CHECK(false, "causal_conv1d: width must be 2..4, got ", width);
    }
  };
  switch (xt) {
    case at::kFloat: by_width(F32{}); break;
    case at::kHalf: by_width(F16{}); break;
    case at::kBFloat16: by_width(BF16{}); break;
    default: TORCH_CHECK(false, "causal_conv1d: x must be float32, float16 or bfloat16, got ", xt);
  }
}

// seq_idx and silu select kernel instances, so the per-element loops carry no
// branches for them: fn(std::bool_constant<seq>{}, std::bool_constant<silu>{}).
template <class Fn>
void dispatch_flags(bool seq, bool silu, Fn&& fn) {
  if (seq) {
    if (silu) fn(std::true_type{}, std::true_type{});
    else fn(std::true_type{}, std::false_type{});
  } else {
    if (silu) fn(std::false_type{}, std::true_type{});
    else fn(std::false_type{}, std::false_type{});
  }
}

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Streaming multiprocessors of the current device (cached per device). Only
// ATen/c10 core headers are used so the build needs no cuBLAS/cuSPARSE headers.
inline int64_t sm_count() {
  static int cache[64] = {0};
  const int dev = c10::cuda::current_device();
  if (dev >= 0 && dev < 64 && cache[dev] > 0) return cache[dev];
  int n = 0;
  C10_CUDA_CHECK(cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, dev));
  if (dev >= 0 && dev < 64) cache[dev] = n;
  return n;
}

// Channel-first fast paths (fwd.cu, bwd.cu): a warp walks `cpw` consecutive
// chunks of one row. Long ranges amortise the per-warp setup; a row is split
// into more ranges only until the grid holds enough warps (64 per SM) to fill
// every SM and balance the tail.
// Longest row they take: token indices, and a range's start + length, fit int32.
constexpr int64_t kFastMaxLen = int64_t{1} << 29;
inline int64_t fast_chunks_per_warp(int64_t rows, int64_t nch) {
  const int64_t target = sm_count() * 64;
  int64_t cpw = nch;
  while (cpw > 1 && rows * ceil_div(nch, cpw) < target) cpw = ceil_div(cpw, 2);
  return cpw;
}

inline cudaStream_t current_stream() { return c10::cuda::getCurrentCUDAStream().stream(); }

}  // namespace cuda
}  // namespace causal_conv1d
