// Shared contract between the op schemas (ops.cpp), the CPU kernels (cpu/) and
// the CUDA kernels (cuda/). Nothing here touches the CPython API: the library
// is loaded with torch.ops.load_library, so one build serves every Python.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <optional>
#include <tuple>

namespace causal_conv1d {

// Sizes of one causal conv1d call, resolved and validated once by check_fwd /
// check_bwd and then handed to the device kernels.
struct ConvShape {
  int64_t batch;
  int64_t dim;
  int64_t seqlen;
  int64_t width;         // 2..4
  bool channel_last;     // x.stride(1) == 1 (and seqlen > 1): memory is (B, L, D)
};

struct UpdateShape {
  int64_t batch;         // rows of x
  int64_t dim;
  int64_t seqlen;        // tokens per row in this update (x is (B, D, L))
  int64_t width;
  int64_t state_len;     // conv_state.size(2) >= width - 1
};

// Validation shared by every device. Each raises c10::Error (RuntimeError in
// Python) whose message starts with "causal_conv1d:" and names the argument.
ConvShape check_fwd(const at::Tensor& x, const at::Tensor& weight,
                    const std::optional<at::Tensor>& bias,
                    const std::optional<at::Tensor>& seq_idx,
                    const std::optional<at::Tensor>& initial_states,
                    bool return_final_states);

ConvShape check_bwd(const at::Tensor& x, const at::Tensor& weight,
                    const std::optional<at::Tensor>& bias, const at::Tensor& dout,
                    const std::optional<at::Tensor>& seq_idx,
                    const std::optional<at::Tensor>& initial_states,
                    const std::optional<at::Tensor>& dfinal_states);

UpdateShape check_update(const at::Tensor& x, const at::Tensor& conv_state,
                         const at::Tensor& weight, const std::optional<at::Tensor>& bias,
                         const std::optional<at::Tensor>& cache_seqlens,
                         const std::optional<at::Tensor>& conv_state_indices);

// Allocates a (B, D, n) tensor with the same layout class as x: channel-last
// storage (B, n, D) when shape.channel_last, else contiguous (B, D, n). Never a
// view, so callers may modify op outputs in place.
at::Tensor empty_conv_like(const at::Tensor& x, const ConvShape& shape, int64_t n,
                           at::ScalarType dtype);

// Device entry points. Their signatures match the schemas in ops.cpp:
//   fwd(Tensor x, Tensor weight, Tensor? bias, Tensor? seq_idx,
//       Tensor? initial_states, bool return_final_states, bool silu)
//     -> (Tensor out, Tensor final_states)
//   bwd(Tensor x, Tensor weight, Tensor? bias, Tensor dout, Tensor? seq_idx,
//       Tensor? initial_states, Tensor? dfinal_states,
//       bool return_dinitial_states, bool silu, bool deterministic)
//     -> (Tensor dx, Tensor dweight, Tensor dbias, Tensor dinitial_states)
//   update(Tensor x, Tensor(a!) conv_state, Tensor weight, Tensor? bias,
//          bool silu, Tensor? cache_seqlens, Tensor? conv_state_indices) -> Tensor
using FwdResult = std::tuple<at::Tensor, at::Tensor>;
using BwdResult = std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor>;

}  // namespace causal_conv1d
