// Helpers shared by the CPU drivers: accumulation types, tile conversion
// between storage and accumulation buffers, and fp32 copies of the weights.
#pragma once

#include <ATen/Dispatch.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/zeros.h>
#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>

#include <cstdint>
#include <cstring>
#include <optional>
#include <type_traits>

#include "loops.h"

namespace causal_conv1d::cpu {

// fp32/fp16/bf16 inputs accumulate in float; float64 (CPU-only, for gradcheck)
// in double.
template <typename T>
using acc_t = std::conditional_t<std::is_same_v<T, double>, double, float>;

// Contiguous storage -> accumulation buffer.
template <typename T, typename A>
inline void to_acc(const T* src, A* dst, int64_t n) {
  if constexpr (std::is_same_v<T, A>) {
    std::memcpy(dst, src, sizeof(A) * n);
  } else if constexpr (std::is_same_v<T, c10::BFloat16>) {
    load_bf16(reinterpret_cast<const uint16_t*>(src), dst, n);
  } else {
    static_assert(std::is_same_v<T, c10::Half>);
    load_f16(reinterpret_cast<const uint16_t*>(src), dst, n);
  }
}

// Accumulation buffer -> contiguous storage.
template <typename T, typename A>
inline void from_acc(const A* src, T* dst, int64_t n) {
  if constexpr (std::is_same_v<T, A>) {
    std::memcpy(dst, src, sizeof(A) * n);
  } else if constexpr (std::is_same_v<T, c10::BFloat16>) {
    store_bf16(src, reinterpret_cast<uint16_t*>(dst), n);
  } else {
    static_assert(std::is_same_v<T, c10::Half>);
    store_f16(src, reinterpret_cast<uint16_t*>(dst), n);
  }
}

// A (B, D, n) tensor seen through raw strides; used for the small state
// tensors that may come in either layout.
template <typename T>
struct Strided3 {
  T* data = nullptr;
  int64_t sb = 0, sd = 0, st = 0;

  Strided3() = default;
  explicit Strided3(const at::Tensor& t)
      : data(static_cast<T*>(t.data_ptr())), sb(t.stride(0)), sd(t.stride(1)), st(t.stride(2)) {}
  explicit Strided3(const std::optional<at::Tensor>& t) {
    if (t.has_value()) *this = Strided3(*t);
  }
  T& operator()(int64_t b, int64_t d, int64_t i) const { return data[b * sb + d * sd + i * st]; }
  explicit operator bool() const { return data != nullptr; }
};

// The weight as accumulation-type (D, W) rows, and transposed (W, D) for the
// channel-last kernels; the bias as a (D,) vector, zeros when absent.
inline at::Tensor acc_weight(const at::Tensor& weight, at::ScalarType acc, bool transposed) {
  at::Tensor w = weight.to(acc);
  return transposed ? w.t().contiguous() : w.contiguous();
}

inline at::Tensor acc_bias(const std::optional<at::Tensor>& bias, int64_t dim,
                           const at::Tensor& like, at::ScalarType acc) {
  if (bias.has_value()) return bias->to(acc).contiguous();
  return at::zeros({dim}, like.options().dtype(acc));
}

}  // namespace causal_conv1d::cpu

#define CC1D_DISPATCH_X(dtype, name, ...) \
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, dtype, name, __VA_ARGS__)
