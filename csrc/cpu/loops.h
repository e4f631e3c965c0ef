// Inner loops of the CPU kernels over raw, unit-stride buffers. They know
// nothing about tensors: the drivers (fwd.cpp, bwd.cpp) gather each tile into
// an accumulation-type buffer, call these, and scatter the result. Every loop
// exists for float (the accumulation type of fp32/fp16/bf16 inputs, compiled
// for several x86 ISA levels and picked at load time) and double (used only
// for float64 inputs, which gradcheck needs).
//
// Notation: W is the conv width (2..4); a "window" of token t is the W tokens
// t-(W-1)..t. Seq-id buffers (`sid`, may be null) are aligned with the value
// buffer they accompany; a token only sees window entries with its own seq id,
// and a token with a negative seq id produces 0.
#pragma once

#include <cstdint>

namespace causal_conv1d::cpu {

// Element conversions between storage and float. fp16/bf16 are passed as raw
// bits; float -> half/bfloat16 rounds to nearest even (as at::Half/BFloat16 do).
void load_bf16(const uint16_t* src, float* dst, int64_t n);
void load_f16(const uint16_t* src, float* dst, int64_t n);
void store_bf16(const float* src, uint16_t* dst, int64_t n);
void store_f16(const float* src, uint16_t* dst, int64_t n);

// ---- channel-first: one (b, d) row, vectorised over tokens ----

// out[j] = act(bias + sum_k w[k] * xb[j + k]), j < n; xb holds n + W - 1 values.
void fwd_row(const float* xb, const int32_t* sid, float* out, int64_t n, const float* w,
             int width, float bias, bool silu);
void fwd_row(const double* xb, const int32_t* sid, double* out, int64_t n, const double* w,
             int width, double bias, bool silu);

// dy[j] = dout[j] * act'(v_j), v_j the pre-activation of token j (as fwd_row),
// and 0 for tokens with a negative seq id.
void dy_row(const float* xb, const int32_t* sid, const float* dout, float* dy, int64_t n,
            const float* w, int width, float bias, bool silu);
void dy_row(const double* xb, const int32_t* sid, const double* dout, double* dy, int64_t n,
            const double* w, int width, double bias, bool silu);

// dx[j] = sum_k w[k] * dyb[j + W - 1 - k] (masked); dyb holds n + W - 1 values
// and sid is aligned with dyb.
void dx_row(const float* dyb, const int32_t* sid, float* dx, int64_t n, const float* w,
            int width);
void dx_row(const double* dyb, const int32_t* sid, double* dx, int64_t n, const double* w,
            int width);

// dw[k] += sum_j dy[j] * xb[j + k] (masked), db += sum_j dy[j] (db may be null).
// Summation order is fixed by the code, so results are bit-reproducible.
void dw_row(const float* dy, const float* xb, const int32_t* sid, int64_t n, int width,
            float* dw, float* db);
void dw_row(const double* dy, const double* xb, const int32_t* sid, int64_t n, int width,
            double* dw, double* db);

// ---- channel-last: one token, vectorised over n channels ----
// rows[k] (k < W) is the row of token t - (W - 1) + k (or a zero row when
// masked); wT[k * ldw + c] is the weight of channel c, tap k.

void fwd_tok(const float* const* rows, const float* wT, int64_t ldw, const float* bias,
             float* out, int64_t n, int width, bool silu);
void fwd_tok(const double* const* rows, const double* wT, int64_t ldw, const double* bias,
             double* out, int64_t n, int width, bool silu);

void dy_tok(const float* const* rows, const float* wT, int64_t ldw, const float* bias,
            const float* dout, float* dy, int64_t n, int width, bool silu);
void dy_tok(const double* const* rows, const double* wT, int64_t ldw, const double* bias,
            const double* dout, double* dy, int64_t n, int width, bool silu);

// dx[c] = sum_k wT[k][c] * dyrows[k][c], dyrows[k] the dy row of token
// t + W - 1 - k (or a zero row).
void dx_tok(const float* const* dyrows, const float* wT, int64_t ldw, float* dx, int64_t n,
            int width);
void dx_tok(const double* const* dyrows, const double* wT, int64_t ldw, double* dx, int64_t n,
            int width);

// dwT[k][c] += dy[c] * rows[k][c]; db[c] += dy[c] (db may be null).
void dw_tok(const float* dy, const float* const* rows, float* dwT, int64_t ldw, float* db,
            int64_t n, int width);
void dw_tok(const double* dy, const double* const* rows, double* dwT, int64_t ldw, double* db,
            int64_t n, int width);

}  // namespace causal_conv1d::cpu
