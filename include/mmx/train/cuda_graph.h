// One training step captured in a CUDA graph and replayed: PyTorch's "whole network capture"
// recipe (torch.cuda.graphs: warm-up iterations on a side stream, then capture on that stream)
// around at::cuda::CUDAGraph, with a capture that throws midway backed out so that eager steps
// can run instead. Used by mmx::train::TSM2TrainStep.
#pragma once

#include <torch/torch.h>

#include <functional>
#include <memory>
#include <string>

namespace mmx::train {

/// A captured step. Move-only; the graph and its memory pool live until destruction.
class CudaGraph {
 public:
  /// True in builds with the CUDA kernels (MMX_WITH_CUDA); otherwise capture() and replay() throw.
  static bool available();

  CudaGraph();
  ~CudaGraph();
  CudaGraph(CudaGraph&&) noexcept;
  CudaGraph& operator=(CudaGraph&&) noexcept;

  /// On the CUDA device `device`: synchronises, runs `warm_up` on a side stream (cuBLAS/cuDNN
  /// workspaces, kernel attributes), puts the default CUDA generator's offset back to its value
  /// before the warm-up (so its dropout draws are undone and the first replay draws what an eager
  /// step would), frees the allocator's cached blocks, then captures `body` on the side stream
  /// with the default generator registered (every replay advances its Philox offset). Returns ""
  /// when captured, else the text of the exception that stopped the capture (the capture is then
  /// backed out: stream capture ended, allocator pool released, generator capture flags cleared).
  /// Exceptions thrown by `warm_up` propagate. Errors: c10::Error in a build without CUDA.
  std::string capture(torch::Device device, const std::function<void()>& warm_up, const std::function<void()>& body);
  /// True once capture() succeeded.
  bool captured() const;
  /// Replays the captured graph. Errors: c10::Error before a successful capture.
  void replay();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mmx::train
