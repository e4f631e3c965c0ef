// CPU forward: out = act(bias + causal depthwise conv(x)), see csrc/README.md.
//
// Channel-first x is processed one (b, d) row at a time, vectorised along
// tokens; channel-last x one token at a time, vectorised along channels. Tiles
// are converted to the accumulation type once, so every x/weight dtype pair
// shares the same float loops.
#include <ATen/Parallel.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>
#include <torch/library.h>

#include <algorithm>
#include <vector>

#include "../causal_conv1d.h"
#include "common.h"

namespace causal_conv1d::cpu {
namespace {

constexpr int64_t kRowChunk = 2048;  // tokens per tile, channel-first
constexpr int64_t kTokChunk = 64;    // tokens per task, channel-last
constexpr int64_t kChanBlock = 256;  // channels per task, channel-last

template <typename T, typename A>
void fwd_channel_first(const at::Tensor& x, const ConvShape& s, const A* w, const A* bias,
                       const int32_t* seq, const Strided3<const T>& init, const at::Tensor& out,
                       bool silu) {
  const int64_t D = s.dim, L = s.seqlen, W = s.width, H = W - 1;
  const T* xp = x.data_ptr<T>();
  T* op = out.data_ptr<T>();
  const int64_t xsb = x.stride(0), xsd = x.stride(1);
  const int64_t osb = out.stride(0), osd = out.stride(1);
  const int64_t grain = std::max<int64_t>(1, 32768 / std::max<int64_t>(L, 1));

  at::parallel_for(0, s.batch * D, grain, [&](int64_t r0, int64_t r1) {
    std::vector<A> xb(kRowChunk + H), ob(kRowChunk);
    std::vector<int32_t> sb(seq ? kRowChunk + H : 0);
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t b = r / D, d = r % D;
      const T* xrow = xp + b * xsb + d * xsd;
      T* orow = op + b * osb + d * osd;
      // Tokens -H..-1: the initial state (in row b's first sequence) or zeros.
      for (int64_t i = 0; i < H; ++i) {
        xb[i] = init ? static_cast<A>(init(b, d, i)) : A(0);
        if (seq) sb[i] = seq[b * L];
      }
      for (int64_t t0 = 0; t0 < L; t0 += kRowChunk) {
        const int64_t n = std::min(kRowChunk, L - t0);
        to_acc(xrow + t0, xb.data() + H, n);
        if (seq) std::memcpy(sb.data() + H, seq + b * L + t0, sizeof(int32_t) * n);
        fwd_row(xb.data(), seq ? sb.data() : nullptr, ob.data(), n, w + d * W,
                static_cast<int>(W), bias[d], silu);
        from_acc(ob.data(), orow + t0, n);
        // The last H tokens of this tile are the left halo of the next one.
        std::memmove(xb.data(), xb.data() + n, sizeof(A) * H);
        if (seq) std::memmove(sb.data(), sb.data() + n, sizeof(int32_t) * H);
      }
    }
  });
}

template <typename T, typename A>
void fwd_channel_last(const at::Tensor& x, const ConvShape& s, const A* wT, const A* bias,
                      const int32_t* seq, const Strided3<const T>& init, const at::Tensor& out,
                      bool silu) {
  const int64_t D = s.dim, L = s.seqlen, W = s.width, H = W - 1;
  const T* xp = x.data_ptr<T>();
  T* op = out.data_ptr<T>();
  const int64_t xsb = x.stride(0), xst = x.stride(2);
  const int64_t osb = out.stride(0), ost = out.stride(2);
  const int64_t n_tok = (L + kTokChunk - 1) / kTokChunk;
  const int64_t n_chan = (D + kChanBlock - 1) / kChanBlock;

  at::parallel_for(0, s.batch * n_tok * n_chan, 1, [&](int64_t q0, int64_t q1) {
    std::vector<A> xb((kTokChunk + H) * kChanBlock), ob(kChanBlock), zero(kChanBlock, A(0));
    for (int64_t q = q0; q < q1; ++q) {
      const int64_t b = q / (n_tok * n_chan);
      const int64_t t0 = (q / n_chan) % n_tok * kTokChunk;
      const int64_t c0 = q % n_chan * kChanBlock;
      const int64_t t1 = std::min(L, t0 + kTokChunk);
      const int64_t cn = std::min(kChanBlock, D - c0);
      // Row i of xb is token t0 - H + i.
      for (int64_t i = 0; i < t1 - t0 + H; ++i) {
        const int64_t t = t0 - H + i;
        A* row = xb.data() + i * kChanBlock;
        if (t >= 0) {
          to_acc(xp + b * xsb + t * xst + c0, row, cn);
        } else if (init) {
          for (int64_t c = 0; c < cn; ++c) row[c] = static_cast<A>(init(b, c0 + c, t + H));
        } else {
          std::fill(row, row + cn, A(0));
        }
      }
      const A* rows[4];
      for (int64_t t = t0; t < t1; ++t) {
        T* orow = op + b * osb + t * ost + c0;
        const int64_t j = t - t0;
        for (int64_t k = 0; k < W; ++k) rows[k] = xb.data() + (j + k) * kChanBlock;
        if (seq) {
          const int32_t sid = seq[b * L + t];
          if (sid < 0) {
            from_acc(zero.data(), orow, cn);
            continue;
          }
          for (int64_t k = 0; k < W; ++k) {
            const int64_t tk = t - H + k;  // state tokens carry the row's first seq id
            if (seq[b * L + std::max<int64_t>(tk, 0)] != sid) rows[k] = zero.data();
          }
        }
        fwd_tok(rows, wT + c0, D, bias + c0, ob.data(), cn, static_cast<int>(W), silu);
        from_acc(ob.data(), orow, cn);
      }
    }
  });
}

// final_states[b, d, i] = concat(initial_states or zeros, x)[L + i].
template <typename T>
void write_final_states(const at::Tensor& x, const ConvShape& s, const Strided3<const T>& init,
                        const at::Tensor& final_states) {
  const int64_t H = s.width - 1, L = s.seqlen;
  const Strided3<const T> xs(x);
  const Strided3<T> fs(final_states);
  at::parallel_for(0, s.batch * s.dim, 1024, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t b = r / s.dim, d = r % s.dim;
      for (int64_t i = 0; i < H; ++i) {
        const int64_t c = L + i;  // index into concat(state, x)
        fs(b, d, i) = c >= H ? xs(b, d, c - H) : (init ? init(b, d, c) : T(0));
      }
    }
  });
}

FwdResult fwd_cpu(const at::Tensor& x, const at::Tensor& weight,
                  const std::optional<at::Tensor>& bias,
                  const std::optional<at::Tensor>& seq_idx,
                  const std::optional<at::Tensor>& initial_states, bool return_final_states,
                  bool silu) {
  const ConvShape s = check_fwd(x, weight, bias, seq_idx, initial_states, return_final_states);
  at::Tensor out = empty_conv_like(x, s, s.seqlen, x.scalar_type());
  at::Tensor final_states = return_final_states
                                ? empty_conv_like(x, s, s.width - 1, x.scalar_type())
                                : at::empty({0}, x.options());
  CC1D_DISPATCH_X(x.scalar_type(), "causal_conv1d_fwd_cpu", [&] {
    using T = scalar_t;
    using A = acc_t<T>;
    const at::ScalarType acc = c10::CppTypeToScalarType<A>::value;
    const Strided3<const T> init(initial_states);
    if (out.numel() > 0) {
      const at::Tensor w = acc_weight(weight, acc, s.channel_last);
      const at::Tensor b = acc_bias(bias, s.dim, x, acc);
      const int32_t* seq = seq_idx.has_value() ? seq_idx->data_ptr<int32_t>() : nullptr;
      if (s.channel_last) {
        fwd_channel_last<T, A>(x, s, w.data_ptr<A>(), b.data_ptr<A>(), seq, init, out, silu);
      } else {
        fwd_channel_first<T, A>(x, s, w.data_ptr<A>(), b.data_ptr<A>(), seq, init, out, silu);
      }
    }
    if (return_final_states) write_final_states<T>(x, s, init, final_states);
  });
  return {out, final_states};
}

}  // namespace
}  // namespace causal_conv1d::cpu

TORCH_LIBRARY_IMPL(causal_conv1d, CPU, m) { m.impl("fwd", &causal_conv1d::cpu::fwd_cpu); }
