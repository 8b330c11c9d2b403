// The builder's CUDA target, behind an interface free of CUDA headers (implemented in
// src/build/cuda/ when the CUDA backend is built; otherwise every entry point explains that this
// build has no CUDA). Engines are built on the GPU they target, like TensorRT's: tactics are timed
// there.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "backends/cpu/kernel.h"
#include "build/tactic_timer.h"
#include "build/timing_cache.h"
#include "kiln/builder.h"
#include "plan/plan.h"

namespace kiln::build {

// Whether any CUDA kernel implements a layer like `d` (no device needed).
bool cudaSupportsLayer(const cpu::LayerDesc& d);
bool cudaHasOp(const std::string& domain, const std::string& op);
// Timing-cache device key: GPU name, architecture, library versions.
std::string cudaDeviceKey(int device);
// Compute capability of a device as 10 * major + minor (90 for sm_90); 0 without one.
int cudaComputeCapability(int device);
// Usable CUDA devices (0 without a GPU or in builds without the CUDA backend).
int cudaDeviceCount();

class CudaTactics {
 public:
  // Opens the device (an error says why a CUDA build is impossible here).
  static Result<std::unique_ptr<CudaTactics>> create(const BuildConfig& cfg, TimingCache* cache);
  virtual ~CudaTactics() = default;
  virtual plan::TargetInfo target() const = 0;
  // The scratch limit passed to kernels (and recorded in the plan).
  virtual size_t workspaceLimit() const = 0;
  // Chooses the tactic (and library variant) of device layer `l` at the opt dims: every candidate
  // that supports the layer is created, run, checked against the first candidate's result and
  // timed on the device (level >= 3; cached). `hostValues` holds the values of host-placed
  // tensors at the opt shapes (for inputs kernels read on the host).
  virtual Result<TacticChoice> choose(const plan::Plan& p, const plan::LayerInfo& l, const std::vector<Dims>& dims,
                                      const std::vector<Tensor>& hostValues) = 0;
  // Largest workspace any chosen kernel asked for.
  virtual size_t workspaceUsed() const = 0;
};

}  // namespace kiln::build
