// Reference selective scan: plain LibTorch ops, sequential over L, never optimised. Computes in
// float32 (float64 for float64 inputs) and lets autograd differentiate it. This is the truth the
// CPU and CUDA kernels are tested against (MambaMixer §3.1 with the selection of
// B, C, Delta; state-spaces/mamba `selective_scan_ref`).
#include "mmx/ops/selective_scan.h"

namespace mmx {

SelectiveScanResult selective_scan_ref(const torch::Tensor& u, const torch::Tensor& delta, const torch::Tensor& A,
                                       const torch::Tensor& B, const torch::Tensor& C,
                                       const SelectiveScanExtras& extras, const SelectiveScanOptions& options) {
  check_selective_scan_args(u, delta, A, B, C, extras);
  const auto ct = u.scalar_type() == torch::kFloat64 ? torch::kFloat64 : torch::kFloat32;
  const int64_t batch = u.size(0), E = u.size(1), L = u.size(2), N = A.size(1), G = B.size(1);

  auto uf = u.to(ct);
  auto dt = delta.to(ct);
  if (extras.delta_bias.defined()) dt = dt + extras.delta_bias.to(ct).view({1, E, 1});
  if (options.delta_softplus) dt = torch::softplus(dt, /*beta=*/1, /*threshold=*/20);
  // Expand groups to channels: (batch, G, N, L) -> (batch, E, N, L), channel e reads group e/(E/G).
  // Per-step slices come from unbind (one stack in backward, not L zero-filled tensors).
  const auto Bt = B.to(ct).repeat_interleave(E / G, /*dim=*/1).unbind(3);  // L x (batch, E, N)
  const auto Ct = C.to(ct).repeat_interleave(E / G, /*dim=*/1).unbind(3);
  const auto dtt = dt.unbind(2);  // L x (batch, E)
  const auto dtu = (dt * uf).unbind(2);
  const auto Af = A.to(ct).unsqueeze(0);  // (1, E, N)

  auto h = extras.h0.defined() ? extras.h0.to(ct) : torch::zeros({batch, E, N}, uf.options());
  std::vector<torch::Tensor> ys(static_cast<size_t>(L));
  for (int64_t k = 0; k < L; ++k) {
    const auto t = static_cast<size_t>(options.reverse ? L - 1 - k : k);
    h = torch::exp(dtt[t].unsqueeze(-1) * Af) * h + dtu[t].unsqueeze(-1) * Bt[t];
    ys[t] = (h * Ct[t]).sum(-1);
  }
  auto out = torch::stack(ys, /*dim=*/-1);
  if (extras.D.defined()) out = out + extras.D.to(ct).view({1, E, 1}) * uf;
  if (extras.z.defined()) out = out * torch::silu(extras.z.to(ct));
  SelectiveScanResult r;
  r.out = out.to(u.scalar_type());
  if (options.return_last_state) r.last_state = h;
  return r;
}

}  // namespace mmx
