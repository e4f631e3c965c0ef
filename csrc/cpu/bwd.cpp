// CPU backward of the causal conv1d (see csrc/README.md).
//
// With v the pre-activation and dy = dout * act'(v) (0 where seq_idx < 0):
//   dx[t]      = sum_k w[k] dy[t + W-1 - k]      (+ dfinal_states for the last W-1 tokens)
//   dweight[k] = sum_{b,t} dy[t] x[t - (W-1) + k]
//   dbias      = sum_{b,t} dy[t]
//   dinit[j]   = sum_k w[k] dy[j - k]            (+ dfinal_states when L < W-1)
// with every term masked by seq_idx. Tiles carry a halo of W-1 tokens on each
// side; dy of the right halo is recomputed rather than shared between tiles.
//
// Deterministic by construction, whatever `deterministic` says: every
// partial sum of dweight/dbias is produced by one task over a fixed slice of
// (batch, tokens, channels) that does not depend on the thread count, and the
// partials are folded in a fixed order.
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
constexpr int64_t kTokChunk = 32;    // tokens per tile, channel-last
constexpr int64_t kChanBlock = 256;  // channels per task, channel-last
constexpr int64_t kMinSegment = 1024;
constexpr int64_t kTargetParts = 64;  // (batch, segment) partitions, channel-last

struct BwdArgs {
  bool silu;
  const int32_t* seq;  // (B, L) or null
};

template <typename T, typename A>
void bwd_channel_first(const at::Tensor& x, const at::Tensor& dout, const ConvShape& s,
                       const A* w, const A* bias, const BwdArgs& a,
                       const Strided3<const T>& init, const Strided3<const T>& dfinal,
                       const at::Tensor& dx, const Strided3<T>& dinit, A* dw_ws, A* db_ws) {
  const int64_t D = s.dim, L = s.seqlen, W = s.width, H = W - 1;
  const int32_t* seq = a.seq;
  const T* xp = x.data_ptr<T>();
  const T* gp = dout.data_ptr<T>();
  T* dxp = dx.data_ptr<T>();
  const int64_t xsb = x.stride(0), xsd = x.stride(1);
  const int64_t gsb = dout.stride(0), gsd = dout.stride(1);
  const int64_t dsb = dx.stride(0), dsd = dx.stride(1);
  const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(L, 1));

  at::parallel_for(0, s.batch * D, grain, [&](int64_t r0, int64_t r1) {
    // xb/sb: tokens t0-H .. t0+n+H-1; gb/dyb: tokens t0 .. t0+n+H-1.
    std::vector<A> xb(kRowChunk + 2 * H), gb(kRowChunk + H), dyb(kRowChunk + H),
        dxb(kRowChunk);
    std::vector<int32_t> sb(seq ? kRowChunk + 2 * H : 0);
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t b = r / D, d = r % D;
      const A* wd = w + d * W;
      const T* xrow = xp + b * xsb + d * xsd;
      const T* grow = gp + b * gsb + d * gsd;
      T* dxrow = dxp + b * dsb + d * dsd;
      A dw[4] = {0, 0, 0, 0};
      A db = 0;
      for (int64_t t0 = 0; t0 < L; t0 += kRowChunk) {
        const int64_t n = std::min(kRowChunk, L - t0);
        const int64_t m = std::min(n + H, L - t0);  // tokens of dy that exist
        for (int64_t i = 0; i < H && t0 - H + i < 0; ++i) {
          xb[i] = init ? static_cast<A>(init(b, d, i)) : A(0);
        }
        const int64_t lo = std::max<int64_t>(t0 - H, 0);  // first real token loaded
        to_acc(xrow + lo, xb.data() + (lo - (t0 - H)), t0 + m - lo);
        if (seq) {
          for (int64_t i = 0; i < m + H; ++i) {
            sb[i] = seq[b * L + std::max<int64_t>(t0 - H + i, 0)];
          }
          // Tokens past L have dy = 0; give them an id no real token matches.
          for (int64_t i = m + H; i < n + 2 * H; ++i) sb[i] = INT32_MIN;
        }
        const int32_t* sp = seq ? sb.data() : nullptr;
        to_acc(grow + t0, gb.data(), m);
        dy_row(xb.data(), sp, gb.data(), dyb.data(), m, wd, static_cast<int>(W), bias[d],
               a.silu);
        std::fill(dyb.begin() + m, dyb.begin() + n + H, A(0));

        dx_row(dyb.data(), sp ? sp + H : nullptr, dxb.data(), n, wd, static_cast<int>(W));
        if (dfinal) {
          for (int64_t t = std::max(t0, L - H); t < t0 + n; ++t) {
            dxb[t - t0] += static_cast<A>(dfinal(b, d, t - L + H));
          }
        }
        from_acc(dxb.data(), dxrow + t0, n);
        dw_row(dyb.data(), xb.data(), sp, n, static_cast<int>(W), dw, bias ? &db : nullptr);

        if (t0 == 0 && dinit) {
          for (int64_t j = 0; j < H; ++j) {
            A acc = 0;
            for (int64_t k = 0; k <= j; ++k) {
              const int64_t o = j - k;  // output token reading state slot j through tap k
              if (o < m && (!seq || sb[H + o] == sb[0])) acc += wd[k] * dyb[o];
            }
            if (dfinal && j >= L) acc += static_cast<A>(dfinal(b, d, j - L));
            dinit(b, d, j) = static_cast<T>(acc);
          }
        }
      }
      if (L == 0 && dinit) {
        for (int64_t j = 0; j < H; ++j) dinit(b, d, j) = dfinal ? dfinal(b, d, j) : T(0);
      }
      for (int64_t k = 0; k < W; ++k) dw_ws[(b * D + d) * W + k] = dw[k];
      db_ws[b * D + d] = db;
    }
  });
}

// Number of token segments per batch row for the channel-last kernel: a pure
// function of the shape, so the partial sums are the same on every run.
int64_t cl_segments(int64_t batch, int64_t seqlen) {
  const int64_t by_len = std::max<int64_t>(1, (seqlen + kMinSegment - 1) / kMinSegment);
  const int64_t wanted = std::max<int64_t>(1, kTargetParts / std::max<int64_t>(batch, 1));
  return std::min(by_len, wanted);
}

template <typename T, typename A>
void bwd_channel_last(const at::Tensor& x, const at::Tensor& dout, const ConvShape& s,
                      const A* wT, const A* bias, bool has_bias, const BwdArgs& a,
                      const Strided3<const T>& init, const Strided3<const T>& dfinal,
                      const at::Tensor& dx, const Strided3<T>& dinit, int64_t n_seg, A* dw_ws,
                      A* db_ws) {
  const int64_t D = s.dim, L = s.seqlen, W = s.width, H = W - 1;
  const int32_t* seq = a.seq;
  const T* xp = x.data_ptr<T>();
  const T* gp = dout.data_ptr<T>();
  T* dxp = dx.data_ptr<T>();
  const int64_t xsb = x.stride(0), xst = x.stride(2);
  const int64_t gsb = dout.stride(0), gst = dout.stride(2);
  const int64_t dsb = dx.stride(0), dst = dx.stride(2);
  const int64_t seg_len = (L + n_seg - 1) / n_seg;
  const int64_t n_chan = (D + kChanBlock - 1) / kChanBlock;
  const int64_t CB = kChanBlock;

  at::parallel_for(0, s.batch * n_seg * n_chan, 1, [&](int64_t q0, int64_t q1) {
    std::vector<A> xb((kTokChunk + 2 * H) * CB), dyb((kTokChunk + H) * CB), gb(CB), dxb(CB),
        zero(CB, A(0)), dwT(4 * CB), dbv(CB);
    const A* rows[4];
    for (int64_t q = q0; q < q1; ++q) {
      const int64_t part = q / n_chan;  // b * n_seg + segment
      const int64_t b = part / n_seg;
      const int64_t s0 = part % n_seg * seg_len;
      const int64_t s1 = std::min(L, s0 + seg_len);
      const int64_t c0 = q % n_chan * CB;
      const int64_t cn = std::min(CB, D - c0);
      std::fill(dwT.begin(), dwT.end(), A(0));
      std::fill(dbv.begin(), dbv.end(), A(0));
      auto seq_at = [&](int64_t t) { return seq[b * L + std::max<int64_t>(t, 0)]; };

      for (int64_t t0 = s0; t0 < s1; t0 += kTokChunk) {
        const int64_t n = std::min(kTokChunk, s1 - t0);
        const int64_t m = std::min(n + H, L - t0);
        // Row i of xb is token t0 - H + i; row i of dyb is token t0 + i.
        for (int64_t i = 0; i < m + H; ++i) {
          const int64_t t = t0 - H + i;
          A* row = xb.data() + i * CB;
          if (t >= 0) {
            to_acc(xp + b * xsb + t * xst + c0, row, cn);
          } else if (init) {
            for (int64_t c = 0; c < cn; ++c) row[c] = static_cast<A>(init(b, c0 + c, t + H));
          } else {
            std::fill(row, row + cn, A(0));
          }
        }
        for (int64_t i = 0; i < n + H; ++i) {
          A* dy = dyb.data() + i * CB;
          const int64_t t = t0 + i;
          if (i >= m || (seq && seq_at(t) < 0)) {
            std::fill(dy, dy + cn, A(0));
            continue;
          }
          for (int64_t k = 0; k < W; ++k) {
            rows[k] = xb.data() + (i + k) * CB;
            if (seq && seq_at(t - H + k) != seq_at(t)) rows[k] = zero.data();
          }
          to_acc(gp + b * gsb + t * gst + c0, gb.data(), cn);
          dy_tok(rows, wT + c0, D, bias + c0, gb.data(), dy, cn, static_cast<int>(W), a.silu);
        }
        for (int64_t j = 0; j < n; ++j) {
          const int64_t t = t0 + j;
          for (int64_t k = 0; k < W; ++k) {
            rows[k] = dyb.data() + (j + H - k) * CB;  // dy of output token t + H - k
            if (seq && t + H - k < L && seq_at(t + H - k) != seq_at(t)) rows[k] = zero.data();
          }
          dx_tok(rows, wT + c0, D, dxb.data(), cn, static_cast<int>(W));
          if (dfinal && t >= L - H) {
            for (int64_t c = 0; c < cn; ++c) {
              dxb[c] += static_cast<A>(dfinal(b, c0 + c, t - L + H));
            }
          }
          from_acc(dxb.data(), dxp + b * dsb + t * dst + c0, cn);
          for (int64_t k = 0; k < W; ++k) {
            rows[k] = xb.data() + (j + k) * CB;
            if (seq && seq_at(t - H + k) != seq_at(t)) rows[k] = zero.data();
          }
          dw_tok(dyb.data() + j * CB, rows, dwT.data(), CB, dbv.data(), cn,
                 static_cast<int>(W));
        }
        if (t0 == 0 && dinit) {
          for (int64_t jj = 0; jj < H; ++jj) {
            for (int64_t c = 0; c < cn; ++c) {
              A acc = 0;
              for (int64_t k = 0; k <= jj; ++k) {
                const int64_t o = jj - k;
                if (o < m && (!seq || seq_at(o) == seq_at(0))) {
                  acc += wT[k * D + c0 + c] * dyb[o * CB + c];
                }
              }
              if (dfinal && jj >= L) acc += static_cast<A>(dfinal(b, c0 + c, jj - L));
              dinit(b, c0 + c, jj) = static_cast<T>(acc);
            }
          }
        }
      }
      if (L == 0 && dinit) {
        for (int64_t jj = 0; jj < H; ++jj) {
          for (int64_t c = c0; c < c0 + cn; ++c) {
            dinit(b, c, jj) = dfinal ? dfinal(b, c, jj) : T(0);
          }
        }
      }
      // Partition `part` owns rows [part * W, part * W + W) of dw_ws (W, D layout).
      for (int64_t k = 0; k < W; ++k) {
        std::copy(dwT.begin() + k * CB, dwT.begin() + k * CB + cn,
                  dw_ws + (part * W + k) * D + c0);
      }
      if (has_bias) std::copy(dbv.begin(), dbv.begin() + cn, db_ws + part * D + c0);
    }
  });
}

BwdResult bwd_cpu(const at::Tensor& x, const at::Tensor& weight,
                  const std::optional<at::Tensor>& bias, const at::Tensor& dout,
                  const std::optional<at::Tensor>& seq_idx,
                  const std::optional<at::Tensor>& initial_states,
                  const std::optional<at::Tensor>& dfinal_states, bool return_dinitial_states,
                  bool silu, bool /*deterministic: always, see above*/) {
  const ConvShape s = check_bwd(x, weight, bias, dout, seq_idx, initial_states, dfinal_states);
  const int64_t B = s.batch, D = s.dim, W = s.width;
  at::Tensor dx = empty_conv_like(x, s, s.seqlen, x.scalar_type());
  at::Tensor dinit = return_dinitial_states
                         ? empty_conv_like(x, s, W - 1, x.scalar_type())
                         : at::empty({0}, x.options());
  at::Tensor dweight;
  at::Tensor dbias;
  CC1D_DISPATCH_X(x.scalar_type(), "causal_conv1d_bwd_cpu", [&] {
    using T = scalar_t;
    using A = acc_t<T>;
    const at::ScalarType acc = c10::CppTypeToScalarType<A>::value;
    const auto acc_opts = x.options().dtype(acc);
    const Strided3<const T> init(initial_states);
    const Strided3<const T> dfinal(dfinal_states);
    const Strided3<T> dinit_v = return_dinitial_states ? Strided3<T>(dinit) : Strided3<T>();
    const at::Tensor b = acc_bias(bias, D, x, acc);
    const BwdArgs args{silu, seq_idx.has_value() ? seq_idx->data_ptr<int32_t>() : nullptr};
    at::Tensor dw_acc = at::zeros({D, W}, acc_opts);
    at::Tensor db_acc = at::zeros({D}, acc_opts);
    A* dw = dw_acc.data_ptr<A>();
    A* dbp = db_acc.data_ptr<A>();
    if (B * D > 0) {
      if (s.channel_last) {
        const int64_t n_seg = cl_segments(B, s.seqlen);
        const int64_t parts = B * n_seg;
        at::Tensor dw_ws = at::zeros({parts, W, D}, acc_opts);
        at::Tensor db_ws = at::zeros({parts, D}, acc_opts);
        const at::Tensor wT = acc_weight(weight, acc, /*transposed=*/true);
        bwd_channel_last<T, A>(x, dout, s, wT.data_ptr<A>(), b.data_ptr<A>(), bias.has_value(),
                               args, init, dfinal, dx, dinit_v, n_seg, dw_ws.data_ptr<A>(),
                               db_ws.data_ptr<A>());
        const A* wsp = dw_ws.data_ptr<A>();
        const A* bsp = db_ws.data_ptr<A>();
        at::parallel_for(0, D, 1024, [&](int64_t d0, int64_t d1) {
          for (int64_t d = d0; d < d1; ++d) {
            for (int64_t p = 0; p < parts; ++p) {  // fixed order
              for (int64_t k = 0; k < W; ++k) dw[d * W + k] += wsp[(p * W + k) * D + d];
              dbp[d] += bsp[p * D + d];
            }
          }
        });
      } else {
        at::Tensor dw_ws = at::empty({B, D, W}, acc_opts);
        at::Tensor db_ws = at::empty({B, D}, acc_opts);
        const at::Tensor w = acc_weight(weight, acc, /*transposed=*/false);
        bwd_channel_first<T, A>(x, dout, s, w.data_ptr<A>(), b.data_ptr<A>(), args, init,
                                dfinal, dx, dinit_v, dw_ws.data_ptr<A>(), db_ws.data_ptr<A>());
        const A* wsp = dw_ws.data_ptr<A>();
        const A* bsp = db_ws.data_ptr<A>();
        at::parallel_for(0, D, 1024, [&](int64_t d0, int64_t d1) {
          for (int64_t d = d0; d < d1; ++d) {
            for (int64_t bb = 0; bb < B; ++bb) {  // fixed order
              for (int64_t k = 0; k < W; ++k) dw[d * W + k] += wsp[(bb * D + d) * W + k];
              dbp[d] += bsp[bb * D + d];
            }
          }
        });
      }
    }
    dweight = dw_acc.to(weight.scalar_type());
    dbias = bias.has_value() ? db_acc.to(weight.scalar_type()) : at::empty({0}, weight.options());
  });
  return {dx, dweight, dbias, dinit};
}

}  // namespace
}  // namespace causal_conv1d::cpu

TORCH_LIBRARY_IMPL(causal_conv1d, CPU, m) { m.impl("bwd", &causal_conv1d::cpu::bwd_cpu); }
