// Capture and replay of one training step in a CUDA graph (see include/mmx/train/cuda_graph.h).
#include "mmx/train/cuda_graph.h"

#include <exception>
#include <mutex>

#ifdef MMX_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <ATen/cuda/CUDAGeneratorImpl.h>
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAGuard.h>
#endif

namespace mmx::train {

#ifdef MMX_WITH_CUDA
namespace {

// at::cuda::CUDAGraph that can back out of a capture which threw midway: ends the stream capture,
// returns the caching allocator to normal allocation for the stream, and clears the capture flag
// of the registered RNG states, so eager steps can run afterwards.
struct AbortableGraph : at::cuda::CUDAGraph {
  void abort_capture() noexcept {
    cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
    if (cudaStreamIsCapturing(capture_stream_.stream(), &status) == cudaSuccess &&
        status != cudaStreamCaptureStatusNone) {
      cudaGraph_t partial = nullptr;
      if (cudaStreamEndCapture(capture_stream_.stream(), &partial) == cudaSuccess && partial) cudaGraphDestroy(partial);
    }
    if (capture_dev_ != UNDEFINED_DEVICE && !capture_ended_) {
      try {
        c10::cuda::CUDACachingAllocator::endAllocateToPool(capture_dev_, mempool_id_);
      } catch (const std::exception&) {
      }
    }
    for (auto& entry : captured_generator_states_) entry.first->capturing_ = false;
    (void)cudaGetLastError();
  }
};

}  // namespace

struct CudaGraph::Impl {
  std::unique_ptr<AbortableGraph> graph;
  bool captured = false;
};

bool CudaGraph::available() { return true; }

std::string CudaGraph::capture(torch::Device device, const std::function<void()>& warm_up,
                               const std::function<void()>& body) {
  TORCH_CHECK(device.is_cuda(), "CudaGraph::capture: a CUDA device is required, got ", device);
  torch::cuda::synchronize(device.index());
  // The warm-up's dropout draws are undone too: the first replay uses the generator offset an
  // eager step would (so a resumed run repeats an uninterrupted one).
  auto gen = at::cuda::detail::getDefaultCUDAGenerator(device.index());
  uint64_t rng_offset = 0;
  {
    std::lock_guard<std::mutex> lock(gen.mutex());
    rng_offset = gen.get_offset();
  }
  auto side = at::cuda::getStreamFromPool(/*isHighPriority=*/false, device.index());
  {
    c10::cuda::CUDAStreamGuard guard(side);
    warm_up();
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_offset(rng_offset);
  }
  side.synchronize();
  c10::cuda::CUDACachingAllocator::emptyCache();
  impl_->graph = std::make_unique<AbortableGraph>();
  std::string failure;
  try {
    c10::cuda::CUDAStreamGuard guard(side);
    // Dropout and DropPath draw from the default generator: registered so that every replay
    // advances its Philox offset (capture_begin registers it too; this is idempotent).
    impl_->graph->register_generator_state(gen);
    impl_->graph->capture_begin();
    body();
    impl_->graph->capture_end();
    impl_->captured = true;
  } catch (const std::exception& e) {
    impl_->graph->abort_capture();
    failure = e.what();
  }
  torch::cuda::synchronize(device.index());
  return failure;
}

void CudaGraph::replay() {
  TORCH_CHECK(impl_->captured, "CudaGraph::replay: no captured graph");
  impl_->graph->replay();
}
#else
struct CudaGraph::Impl {
  bool captured = false;
};

bool CudaGraph::available() { return false; }

std::string CudaGraph::capture(torch::Device, const std::function<void()>&, const std::function<void()>&) {
  TORCH_CHECK(false, "CudaGraph::capture: built without the CUDA kernels");
  return {};
}

void CudaGraph::replay() { TORCH_CHECK(false, "CudaGraph::replay: built without the CUDA kernels"); }
#endif

CudaGraph::CudaGraph() : impl_(std::make_unique<Impl>()) {}
CudaGraph::~CudaGraph() = default;
CudaGraph::CudaGraph(CudaGraph&&) noexcept = default;
CudaGraph& CudaGraph::operator=(CudaGraph&&) noexcept = default;

bool CudaGraph::captured() const { return impl_ && impl_->captured; }

}  // namespace mmx::train
