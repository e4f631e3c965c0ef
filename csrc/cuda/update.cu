// Decoding update on CUDA: one pass over x and conv_state, state updated in
// place.
//
// Design: one thread per (b, d). Decode shapes (B 64..256, D 4096, L 1) are
// bound by reading and rewriting the state rows, so each thread reads its
// row's window once into registers, produces the L outputs from registers,
// and then writes the state. Consecutive threads take consecutive channels,
// so x, out and the state rows (channel stride S) are accessed in contiguous
// runs per warp. All reads of the old state happen before any write of that
// row, by the same thread, so in-place updates cannot race (rows of different
// b are distinct unless conv_state_indices repeats an index, which the
// interface does not allow).
//
// Without cache_seqlens the state is shifted left by L (ascending order keeps
// the in-place copy safe); with cache_seqlens it is a circular buffer and only
// the L new tokens are written.
#include <torch/library.h>

#include "common.cuh"

namespace causal_conv1d {
namespace cuda {
namespace {

constexpr int kThreads = 128;

struct UpdParams {
  const void* x;
  int64_t x_sb, x_sd, x_sl;
  void* state;
  int64_t s_sb, s_sd, s_sl;
  void* out;
  int64_t o_sb, o_sd, o_sl;
  const void* w;
  int64_t w_sd, w_sk;
  const void* bias;
  int64_t bias_s;
  int wcode;
  const int32_t* cache_seqlens;  // nullptr when absent
  const int32_t* indices;        // nullptr when absent
  int64_t B, D, L, S, Bs;
  bool silu;
};

template <class E, int W>
__global__ void __launch_bounds__(kThreads) update_kernel(const UpdParams p) {
  using S = typename E::S;
  constexpr int H = W - 1;
  const int64_t idx = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x;
  if (idx >= p.B * p.D) return;
  const int64_t b = idx / p.D;
  const int64_t d = idx - b * p.D;
  const S* xr = static_cast<const S*>(p.x) + b * p.x_sb + d * p.x_sd;
  S* orow = static_cast<S*>(p.out) + b * p.o_sb + d * p.o_sd;

  const int64_t srow = p.indices != nullptr ? static_cast<int64_t>(p.indices[b]) : b;
  if (srow < 0 || srow >= p.Bs) {  // padding slot: zero output, state untouched
    for (int64_t j = 0; j < p.L; ++j) orow[j * p.o_sl] = E::from_f(0.0f);
    return;
  }
  S* st = static_cast<S*>(p.state) + srow * p.s_sb + d * p.s_sd;
  const int64_t Sl = p.S;

  float w[W];
#pragma unroll
  for (int k = 0; k < W; ++k) w[k] = ld_any(p.w, d * p.w_sd + k * p.w_sk, p.wcode);
  const float bias = p.bias != nullptr ? ld_any(p.bias, d * p.bias_s, p.wcode) : 0.0f;

  // Window of the H tokens before the first new one, read before any write.
  float win[H];
  int64_t cs = 0;
  if (p.cache_seqlens != nullptr) {
    cs = p.cache_seqlens[b];
    int64_t q = (cs - H) % Sl;  // one division; then step with wrap-around
    if (q < 0) q += Sl;
#pragma unroll
    for (int h = 0; h < H; ++h) {
      win[h] = E::to_f(st[q * p.s_sl]);
      q = q + 1 == Sl ? 0 : q + 1;
    }
  } else {
#pragma unroll
    for (int h = 0; h < H; ++h) win[h] = E::to_f(st[(Sl - H + h) * p.s_sl]);
  }

  for (int64_t j = 0; j < p.L; ++j) {
    const float xj = E::to_f(xr[j * p.x_sl]);
    float acc = bias;
#pragma unroll
    for (int k = 0; k < H; ++k) acc = fmaf(w[k], win[k], acc);
    acc = fmaf(w[H], xj, acc);
    if (p.silu) acc = silu_f(acc);
    orow[j * p.o_sl] = E::from_f(acc);
#pragma unroll
    for (int h = 0; h + 1 < H; ++h) win[h] = win[h + 1];
    win[H - 1] = xj;
  }

  if (p.cache_seqlens != nullptr) {
    // Later tokens overwrite earlier ones when L > S, matching sequential writes.
    int64_t q = cs % Sl;
    if (q < 0) q += Sl;
    for (int64_t j = 0; j < p.L; ++j) {
      st[q * p.s_sl] = xr[j * p.x_sl];
      q = q + 1 == Sl ? 0 : q + 1;
    }
  } else if (p.L >= Sl) {
    for (int64_t i = 0; i < Sl; ++i) st[i * p.s_sl] = xr[(p.L - Sl + i) * p.x_sl];
  } else {
    for (int64_t i = 0; i < Sl - p.L; ++i) st[i * p.s_sl] = st[(i + p.L) * p.s_sl];
    for (int64_t j = 0; j < p.L; ++j) st[(Sl - p.L + j) * p.s_sl] = xr[j * p.x_sl];
  }
}

at::Tensor update_cuda(const at::Tensor& x, const at::Tensor& conv_state, const at::Tensor& weight,
                       const std::optional<at::Tensor>& bias, bool silu,
                       const std::optional<at::Tensor>& cache_seqlens,
                       const std::optional<at::Tensor>& conv_state_indices) {
  const UpdateShape sh =
      check_update(x, conv_state, weight, bias, cache_seqlens, conv_state_indices);
  TORCH_CHECK(conv_state.scalar_type() == x.scalar_type(),
              "causal_conv1d: conv_state must have x's dtype");
  TORCH_CHECK(sh.state_len >= sh.width - 1, "causal_conv1d: conv_state too short");
  c10::cuda::CUDAGuard guard(x.device());
  at::Tensor out = at::empty_like(x);
  if (sh.batch == 0 || sh.dim == 0 || sh.seqlen == 0) return out;

  UpdParams p{};
  p.x = x.data_ptr();
  p.x_sb = x.stride(0);
  p.x_sd = x.stride(1);
  p.x_sl = x.stride(2);
  p.state = conv_state.data_ptr();
  p.s_sb = conv_state.stride(0);
  p.s_sd = conv_state.stride(1);
  p.s_sl = conv_state.stride(2);
  p.out = out.data_ptr();
  p.o_sb = out.stride(0);
  p.o_sd = out.stride(1);
  p.o_sl = out.stride(2);
  p.w = weight.data_ptr();
  p.w_sd = weight.stride(0);
  p.w_sk = weight.stride(1);
  if (has(bias)) {
    p.bias = bias->data_ptr();
    p.bias_s = bias->stride(0);
  }
  p.wcode = dtype_code(weight.scalar_type());
  if (has(cache_seqlens)) p.cache_seqlens = cache_seqlens->data_ptr<int32_t>();
  if (has(conv_state_indices)) p.indices = conv_state_indices->data_ptr<int32_t>();
  p.B = sh.batch;
  p.D = sh.dim;
  p.L = sh.seqlen;
  p.S = sh.state_len;
  p.Bs = conv_state.size(0);
  p.silu = silu;

  const int64_t blocks = ceil_div(p.B * p.D, kThreads);
  TORCH_CHECK(blocks <= INT32_MAX, "causal_conv1d: problem too large");
  const cudaStream_t stream = current_stream();
  dispatch_dtype_width(x.scalar_type(), sh.width, [&](auto e, auto wc) {
    using E = decltype(e);
    constexpr int kW = decltype(wc)::value;
    update_kernel<E, kW><<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(p);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return out;
}

}  // namespace
}  // namespace cuda
}  // namespace causal_conv1d

TORCH_LIBRARY_IMPL(causal_conv1d, CUDA, m) {
  m.impl("update", &causal_conv1d::cuda::update_cuda);
}
