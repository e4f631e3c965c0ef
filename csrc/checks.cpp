// Argument validation shared by the CPU and CUDA entry points. Every failure is
// a TORCH_CHECK whose message starts with "causal_conv1d:", names the argument
// and states what was expected and what was passed, so users can fix the call
// without reading the kernels.
#include "causal_conv1d.h"

#include <ATen/core/Tensor.h>
#include <ATen/ops/empty_strided.h>
#include <c10/util/Exception.h>

#include <sstream>
#include <string>

namespace causal_conv1d {
namespace {

std::string shape_str(const at::Tensor& t) {
  std::ostringstream os;
  os << '(';
  for (int64_t i = 0; i < t.dim(); ++i) {
    os << (i ? ", " : "") << t.size(i);
  }
  os << (t.dim() == 1 ? ",)" : ")");
  return os.str();
}

bool is_float_type(at::ScalarType t) {
  return t == at::kFloat || t == at::kHalf || t == at::kBFloat16;
}

void check_float_dtype(const at::Tensor& t, const char* name) {
  TORCH_CHECK(is_float_type(t.scalar_type()), "causal_conv1d: ", name,
              " must be float32, float16 or bfloat16, got ", t.scalar_type());
}

// x and weight: fp32/fp16/bf16 in any pairing. float64 (both together) is
// accepted on CPU only, where it is computed in double so gradcheck can run.
void check_value_dtypes(const at::Tensor& x, const at::Tensor& weight) {
  const bool x64 = x.scalar_type() == at::kDouble;
  const bool w64 = weight.scalar_type() == at::kDouble;
  if (x.is_cpu() && (x64 || w64)) {
    TORCH_CHECK(x64 && w64, "causal_conv1d: float64 needs x and weight both float64, got x ",
                x.scalar_type(), " and weight ", weight.scalar_type());
    return;
  }
  check_float_dtype(x, "x");
  check_float_dtype(weight, "weight");
}

void check_dtype(const at::Tensor& t, const char* name, at::ScalarType want,
                 const char* want_what) {
  TORCH_CHECK(t.scalar_type() == want, "causal_conv1d: ", name, " must have ", want_what,
              " dtype ", want, ", got ", t.scalar_type());
}

void check_device(const at::Tensor& t, const char* name, const at::Tensor& x) {
  TORCH_CHECK(t.device() == x.device(), "causal_conv1d: ", name,
              " must be on the same device as x (", x.device(), "), got ", t.device());
}

void check_shape3(const at::Tensor& t, const char* name, const char* what, int64_t a,
                  int64_t b, int64_t c) {
  TORCH_CHECK(t.dim() == 3 && t.size(0) == a && t.size(1) == b && t.size(2) == c,
              "causal_conv1d: ", name, " must be ", what, " = (", a, ", ", b, ", ", c,
              "), got ", shape_str(t));
}

// A (B, D, n) tensor is usable by the kernels when one of its two inner
// dimensions is unit-stride: channel-first or channel-last memory. With n <= 1
// only stride(1) is ever used, so any strides are fine.
void check_either_layout(const at::Tensor& t, const char* name) {
  TORCH_CHECK(t.stride(2) == 1 || t.stride(1) == 1 || t.size(2) <= 1,
              "causal_conv1d: ", name,
              " must be channel-first (stride(2) == 1) or channel-last (stride(1) == 1), got "
              "strides ",
              t.strides());
}

void check_index_vector(const at::Tensor& t, const char* name, const at::Tensor& x,
                        int64_t batch) {
  check_device(t, name, x);
  check_dtype(t, name, at::kInt, "the int32");
  TORCH_CHECK(t.dim() == 1 && t.size(0) == batch, "causal_conv1d: ", name,
              " must be (batch,) = (", batch, ",), got ", shape_str(t));
  TORCH_CHECK(batch <= 1 || t.stride(0) == 1, "causal_conv1d: ", name,
              " must be contiguous, got stride ", t.stride(0));
}

// x (B, D, L) and weight (D, W): the checks every op starts with.
void check_x_and_weight(const at::Tensor& x, const at::Tensor& weight) {
  TORCH_CHECK(x.dim() == 3, "causal_conv1d: x must be (batch, dim, seqlen), got ", shape_str(x));
  check_device(weight, "weight", x);
  check_value_dtypes(x, weight);
  TORCH_CHECK(weight.dim() == 2 && weight.size(0) == x.size(1) && weight.size(1) >= 2 &&
                  weight.size(1) <= 4,
              "causal_conv1d: weight must be (dim, width) = (", x.size(1),
              ", W) with W in 2..4, got ", shape_str(weight));
}

// Checks shared by fwd and bwd: x, weight, bias, seq_idx, initial_states.
ConvShape check_common(const at::Tensor& x, const at::Tensor& weight,
                       const std::optional<at::Tensor>& bias,
                       const std::optional<at::Tensor>& seq_idx,
                       const std::optional<at::Tensor>& initial_states) {
  check_x_and_weight(x, weight);
  const int64_t batch = x.size(0);
  const int64_t dim = x.size(1);
  const int64_t seqlen = x.size(2);
  const int64_t width = weight.size(1);

  check_either_layout(x, "x");
  // Channel-last only when it is the only way to read x with unit stride
  // along one axis; a size-1 axis makes both readings the same memory.
  const bool channel_last = seqlen > 1 && x.stride(1) == 1 && x.stride(2) != 1;

  if (bias.has_value()) {
    const at::Tensor& b = *bias;
    check_device(b, "bias", x);
    check_dtype(b, "bias", weight.scalar_type(), "weight's");
    TORCH_CHECK(b.dim() == 1 && b.size(0) == dim, "causal_conv1d: bias must be (dim,) = (",
                dim, ",), got ", shape_str(b));
    TORCH_CHECK(dim <= 1 || b.stride(0) == 1, "causal_conv1d: bias must be contiguous, got stride ",
                b.stride(0));
  }
  if (seq_idx.has_value()) {
    const at::Tensor& s = *seq_idx;
    check_device(s, "seq_idx", x);
    check_dtype(s, "seq_idx", at::kInt, "the int32");
    TORCH_CHECK(s.dim() == 2 && s.size(0) == batch && s.size(1) == seqlen,
                "causal_conv1d: seq_idx must be (batch, seqlen) = (", batch, ", ", seqlen,
                "), got ", shape_str(s));
    TORCH_CHECK(s.is_contiguous(), "causal_conv1d: seq_idx must be contiguous, got strides ",
                s.strides());
  }
  if (initial_states.has_value()) {
    const at::Tensor& s = *initial_states;
    check_device(s, "initial_states", x);
    check_dtype(s, "initial_states", x.scalar_type(), "x's");
    check_shape3(s, "initial_states", "(batch, dim, width - 1)", batch, dim, width - 1);
    check_either_layout(s, "initial_states");
  }
  return ConvShape{batch, dim, seqlen, width, channel_last};
}

}  // namespace

ConvShape check_fwd(const at::Tensor& x, const at::Tensor& weight,
                    const std::optional<at::Tensor>& bias,
                    const std::optional<at::Tensor>& seq_idx,
                    const std::optional<at::Tensor>& initial_states,
                    bool return_final_states) {
  ConvShape shape = check_common(x, weight, bias, seq_idx, initial_states);
  TORCH_CHECK(!(seq_idx.has_value() && return_final_states),
              "causal_conv1d: return_final_states is not supported together with seq_idx");
  return shape;
}

ConvShape check_bwd(const at::Tensor& x, const at::Tensor& weight,
                    const std::optional<at::Tensor>& bias, const at::Tensor& dout,
                    const std::optional<at::Tensor>& seq_idx,
                    const std::optional<at::Tensor>& initial_states,
                    const std::optional<at::Tensor>& dfinal_states) {
  ConvShape shape = check_common(x, weight, bias, seq_idx, initial_states);
  check_device(dout, "dout", x);
  check_dtype(dout, "dout", x.scalar_type(), "x's");
  check_shape3(dout, "dout", "(batch, dim, seqlen)", shape.batch, shape.dim, shape.seqlen);
  // dout is read in x's layout class; the Python layer converts it first.
  if (shape.channel_last) {
    TORCH_CHECK(dout.stride(1) == 1 || shape.dim <= 1, "causal_conv1d: dout must be channel-last "
                "(stride(1) == 1) like x, got strides ", dout.strides());
  } else {
    TORCH_CHECK(dout.stride(2) == 1 || shape.seqlen <= 1, "causal_conv1d: dout must be "
                "channel-first (stride(2) == 1) like x, got strides ", dout.strides());
  }
  if (dfinal_states.has_value()) {
    const at::Tensor& s = *dfinal_states;
    TORCH_CHECK(!seq_idx.has_value(),
                "causal_conv1d: dfinal_states is not supported together with seq_idx");
    check_device(s, "dfinal_states", x);
    check_dtype(s, "dfinal_states", x.scalar_type(), "x's");
    check_shape3(s, "dfinal_states", "(batch, dim, width - 1)", shape.batch, shape.dim,
                 shape.width - 1);
    check_either_layout(s, "dfinal_states");
  }
  return shape;
}

UpdateShape check_update(const at::Tensor& x, const at::Tensor& conv_state,
                         const at::Tensor& weight, const std::optional<at::Tensor>& bias,
                         const std::optional<at::Tensor>& cache_seqlens,
                         const std::optional<at::Tensor>& conv_state_indices) {
  check_x_and_weight(x, weight);
  const int64_t batch = x.size(0);
  const int64_t dim = x.size(1);
  const int64_t seqlen = x.size(2);
  const int64_t width = weight.size(1);

  check_device(conv_state, "conv_state", x);
  check_dtype(conv_state, "conv_state", x.scalar_type(), "x's");
  TORCH_CHECK(conv_state.dim() == 3, "causal_conv1d: conv_state must be (batch, dim, state_len), "
              "got ", shape_str(conv_state));
  const int64_t state_len = conv_state.size(2);
  if (conv_state_indices.has_value()) {
    TORCH_CHECK(conv_state.size(1) == dim && state_len >= width - 1,
                "causal_conv1d: conv_state must be (num_states, dim, state_len) = (N, ", dim,
                ", S) with S >= width - 1 = ", width - 1, ", got ", shape_str(conv_state));
    check_index_vector(*conv_state_indices, "conv_state_indices", x, batch);
  } else {
    TORCH_CHECK(conv_state.size(0) == batch && conv_state.size(1) == dim &&
                    state_len >= width - 1,
                "causal_conv1d: conv_state must be (batch, dim, state_len) = (", batch, ", ",
                dim, ", S) with S >= width - 1 = ", width - 1, ", got ",
                shape_str(conv_state));
  }
  if (cache_seqlens.has_value()) {
    check_index_vector(*cache_seqlens, "cache_seqlens", x, batch);
  }
  if (bias.has_value()) {
    const at::Tensor& b = *bias;
    check_device(b, "bias", x);
    check_dtype(b, "bias", weight.scalar_type(), "weight's");
    TORCH_CHECK(b.dim() == 1 && b.size(0) == dim, "causal_conv1d: bias must be (dim,) = (",
                dim, ",), got ", shape_str(b));
    TORCH_CHECK(dim <= 1 || b.stride(0) == 1, "causal_conv1d: bias must be contiguous, got stride ",
                b.stride(0));
  }
  return UpdateShape{batch, dim, seqlen, width, state_len};
}

// empty_strided, not empty(...).transpose(1, 2): a transposed result is a view,
// and autograd forbids in-place ops on views returned by a multi-output op
// (`out += ...` on channel-last x would fail, unlike upstream).
at::Tensor empty_conv_like(const at::Tensor& x, const ConvShape& shape, int64_t n,
                           at::ScalarType dtype) {
  const auto opts = x.options().dtype(dtype);
  const int64_t B = shape.batch, D = shape.dim;
  if (shape.channel_last) {
    return at::empty_strided({B, D, n}, {n * D, 1, D}, opts);
  }
  return at::empty_strided({B, D, n}, {D * n, n, 1}, opts);
}

}  // namespace causal_conv1d
