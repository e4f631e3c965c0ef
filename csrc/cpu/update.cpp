// CPU decode step: convolve a few new tokens against conv_state and update
// the state in place (plain shift, or circular buffer with cache_seqlens).
// State entries are copied, never converted, so the state stays bit-exact.
#include <ATen/Parallel.h>
#include <ATen/ops/empty_like.h>
#include <torch/library.h>

#include <algorithm>
#include <vector>

#include "../causal_conv1d.h"
#include "common.h"

namespace causal_conv1d::cpu {
namespace {

inline int64_t wrap(int64_t i, int64_t n) {
  const int64_t r = i % n;
  return r < 0 ? r + n : r;
}

constexpr int64_t kChanBlock = 256;

// One task is (row b, block of channels): the window of every channel is
// gathered into accumulation-type rows (W-1 state slots, then the new tokens)
// so that the conv and silu run vectorised across channels (fwd_tok); the
// state is then updated with plain element copies.
template <typename T, typename A>
void update_rows(const at::Tensor& x, const at::Tensor& conv_state, const at::Tensor& out,
                 const UpdateShape& s, const A* wT, const A* bias, bool silu,
                 const int32_t* cache_seqlens, const int32_t* indices) {
  const int64_t D = s.dim, L = s.seqlen, W = s.width, H = W - 1, S = s.state_len;
  const Strided3<const T> xs(x);
  const Strided3<T> st(conv_state);
  const Strided3<T> os(out);
  const int64_t n_chan = (D + kChanBlock - 1) / kChanBlock;
  const int64_t grain = std::max<int64_t>(1, 8 / std::max<int64_t>(L, 1));

  at::parallel_for(0, s.batch * n_chan, grain, [&](int64_t q0, int64_t q1) {
    std::vector<A> win((H + L) * kChanBlock), ob(kChanBlock);
    const A* rows[4];
    for (int64_t q = q0; q < q1; ++q) {
      const int64_t b = q / n_chan;
      const int64_t c0 = q % n_chan * kChanBlock;
      const int64_t cn = std::min(kChanBlock, D - c0);
      const int64_t sb = indices ? indices[b] : b;
      if (sb < 0) {  // padding row: no state, zero output
        for (int64_t c = c0; c < c0 + cn; ++c) {
          for (int64_t j = 0; j < L; ++j) os(b, c, j) = T(0);
        }
        continue;
      }
      // The window reads the state before this call's tokens are written.
      const int64_t cs = cache_seqlens ? cache_seqlens[b] : 0;
      for (int64_t i = 0; i < H; ++i) {
        const int64_t pos = cache_seqlens ? wrap(cs - H + i, S) : S - H + i;
        A* row = win.data() + i * kChanBlock;
        for (int64_t c = 0; c < cn; ++c) row[c] = static_cast<A>(st(sb, c0 + c, pos));
      }
      for (int64_t j = 0; j < L; ++j) {
        A* row = win.data() + (H + j) * kChanBlock;
        for (int64_t c = 0; c < cn; ++c) row[c] = static_cast<A>(xs(b, c0 + c, j));
      }
      for (int64_t j = 0; j < L; ++j) {
        for (int64_t k = 0; k < W; ++k) rows[k] = win.data() + (j + k) * kChanBlock;
        fwd_tok(rows, wT + c0, D, bias + c0, ob.data(), cn, static_cast<int>(W), silu);
        for (int64_t c = 0; c < cn; ++c) os(b, c0 + c, j) = static_cast<T>(ob[c]);
      }
      for (int64_t c = c0; c < c0 + cn; ++c) {
        T* srow = &st(sb, c, 0);
        const int64_t ss = st.st;
        if (cache_seqlens) {
          for (int64_t j = 0; j < L; ++j) srow[wrap(cs + j, S) * ss] = xs(b, c, j);
        } else if (L >= S) {
          for (int64_t i = 0; i < S; ++i) srow[i * ss] = xs(b, c, L - S + i);
        } else {
          for (int64_t i = 0; i < S - L; ++i) srow[i * ss] = srow[(i + L) * ss];
          for (int64_t j = 0; j < L; ++j) srow[(S - L + j) * ss] = xs(b, c, j);
        }
      }
    }
  });
}

at::Tensor update_cpu(const at::Tensor& x, const at::Tensor& conv_state, const at::Tensor& weight,
                      const std::optional<at::Tensor>& bias, bool silu,
                      const std::optional<at::Tensor>& cache_seqlens,
                      const std::optional<at::Tensor>& conv_state_indices) {
  const UpdateShape s =
      check_update(x, conv_state, weight, bias, cache_seqlens, conv_state_indices);
  at::Tensor out = at::empty_like(x);
  const int32_t* indices = nullptr;
  if (conv_state_indices.has_value()) {
    indices = conv_state_indices->data_ptr<int32_t>();
    const int64_t n_states = conv_state.size(0);
    for (int64_t b = 0; b < s.batch; ++b) {
      TORCH_CHECK(indices[b] < n_states, "causal_conv1d: conv_state_indices[", b, "] = ",
                  indices[b], " is out of range for conv_state with ", n_states, " entries");
    }
  }
  if (out.numel() == 0) return out;
  CC1D_DISPATCH_X(x.scalar_type(), "causal_conv1d_update_cpu", [&] {
    using T = scalar_t;
    using A = acc_t<T>;
    const at::ScalarType acc = c10::CppTypeToScalarType<A>::value;
    const at::Tensor w = acc_weight(weight, acc, /*transposed=*/true);
    const at::Tensor b = acc_bias(bias, s.dim, x, acc);
    update_rows<T, A>(x, conv_state, out, s, w.data_ptr<A>(), b.data_ptr<A>(), silu,
                      cache_seqlens.has_value() ? cache_seqlens->data_ptr<int32_t>() : nullptr,
                      indices);
  });
  return out;
}

}  // namespace
}  // namespace causal_conv1d::cpu

TORCH_LIBRARY_IMPL(causal_conv1d, CPU, m) { m.impl("update", &causal_conv1d::cpu::update_cpu); }
