// The op schemas of the causal_conv1d namespace. Device kernels register
// against them with TORCH_LIBRARY_IMPL (cpu/, cuda/); fake tensors and
// autograd are registered from Python (causal_conv1d/_ops.py). No CPython API:
// the library is loaded with torch.ops.load_library.
#include <torch/library.h>

TORCH_LIBRARY(causal_conv1d, m) {
  m.def(
      "fwd(Tensor x, Tensor weight, Tensor? bias, Tensor? seq_idx, Tensor? initial_states, "
      "bool return_final_states, bool silu) -> (Tensor out, Tensor final_states)");
  m.def(
      "bwd(Tensor x, Tensor weight, Tensor? bias, Tensor dout, Tensor? seq_idx, "
      "Tensor? initial_states, Tensor? dfinal_states, bool return_dinitial_states, bool silu, "
      "bool deterministic) -> (Tensor dx, Tensor dweight, Tensor dbias, Tensor dinitial_states)");
  // conv_state is updated in place; the schema says so for functionalization.
  m.def(
      "update(Tensor x, Tensor(a!) conv_state, Tensor weight, Tensor? bias, bool silu, "
      "Tensor? cache_seqlens, Tensor? conv_state_indices) -> Tensor");
}
