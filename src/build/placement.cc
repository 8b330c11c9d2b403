// Placement of CUDA plans (see placement.h).
#include "build/placement.h"

#include <algorithm>
#include <map>
#include <tuple>

#include <fmt/format.h>

#include "backends/cpu/kernel.h"
#include "backends/host_inputs.h"
#include "runtime/layer_desc.h"

namespace kiln::build {

namespace {

bool isHostSlot(const plan::LayerInfo& l, size_t i) { return cuda::isHostInput(l.domain, l.op, i); }

using plan::kMaxHostInputValues;

bool hostInputEligible(const plan::TensorInfo& t) {
  return t.dims.size() <= 1 && t.dtype != DType::kString && plan::isStatic(t) &&
         plan::staticDims(t).numel() <= kMaxHostInputValues;
}

// Ops that read only their input's dims, never its data.
bool readsDimsOnly(const plan::LayerInfo& l) { return l.domain.empty() && (l.op == "Shape" || l.op == "Size"); }

std::string producerText(const plan::Plan& p, const std::vector<int>& producer, int32_t id) {
  if (p.tensors[id].kind == plan::TensorKind::kInput) return fmt::format("model input '{}'", p.tensors[id].name);
  int l = producer[id];
  return l < 0 ? fmt::format("'{}'", p.tensors[id].name)
               : fmt::format("'{}' (output of {} '{}')", p.tensors[id].name, p.layers[l].op, p.layers[l].name);
}

plan::LayerInfo makeUpload(const plan::Plan& p, int32_t hostId, int32_t deviceId) {
  plan::LayerInfo up;
  up.name = p.tensors[hostId].name + "/upload";
  up.op = "HostToDevice";
  up.domain = "kiln";
  up.opset = 1;
  up.inputs = {hostId};
  up.outputs = {deviceId};
  up.fusedFrom = {};
  up.precision = std::string(dtypeName(p.tensors[hostId].dtype));
  return up;
}

}  // namespace

Result<int> placeForCuda(plan::Plan& p) {
  const size_t nl = p.layers.size();
  std::vector<int> producer(p.tensors.size(), -1);
  for (size_t l = 0; l < nl; ++l)
    for (int32_t id : p.layers[l].outputs)
      if (id >= 0) producer[id] = static_cast<int>(l);

  // Backwards: a layer goes to the host when it reads dims only, or when everything it produces is
  // needed only on the host (by host slots or other host layers) and none of it is a model output.
  std::vector<bool> hostNeeded(p.tensors.size(), false), deviceNeeded(p.tensors.size(), false);
  std::vector<bool> onHost(nl, false);
  for (size_t r = nl; r-- > 0;) {
    const plan::LayerInfo& l = p.layers[r];
    bool host = readsDimsOnly(l);
    if (!host) {
      bool any = false, all = true;
      for (int32_t id : l.outputs) {
        if (id < 0) continue;
        any = true;
        all &= hostNeeded[id] && !deviceNeeded[id] && p.tensors[id].kind == plan::TensorKind::kIntermediate;
      }
      host = any && all;
    }
    onHost[r] = host;
    for (size_t i = 0; i < l.inputs.size(); ++i) {
      int32_t id = l.inputs[i];
      if (id < 0) continue;
      if (host) {
        if (!readsDimsOnly(l)) hostNeeded[id] = true;
      } else if (isHostSlot(l, i)) {
        hostNeeded[id] = true;
      } else {
        deviceNeeded[id] = true;
      }
    }
  }

  // Forwards: host layers must have their data on the host; device layers' host slots too.
  std::vector<bool> hostTensor(p.tensors.size(), false);
  std::vector<std::tuple<size_t, int32_t, int32_t>> outputUploads;  // (layer, host tensor, output)
  for (size_t t = 0; t < p.tensors.size(); ++t) hostTensor[t] = p.tensors[t].kind == plan::TensorKind::kConstant;
  // Model inputs whose values are read on the host (TopK's K, NonMaxSuppression's thresholds, a
  // Trilu offset: what TensorRT calls shape tensors) are host inputs: the caller passes them in
  // host memory, and a device layer that also reads one as data gets it through an upload.
  // Only small shape-like values qualify: anything larger read on the host would be model work
  // silently moved off the GPU.
  for (size_t t = 0; t < p.tensors.size(); ++t) {
    if (p.tensors[t].kind != plan::TensorKind::kInput || !hostNeeded[t] || !hostInputEligible(p.tensors[t])) continue;
    hostTensor[t] = true;
    p.tensors[t].placement = plan::Placement::kHost;
  }
  int hostLayers = 0;
  for (size_t l = 0; l < nl; ++l) {
    plan::LayerInfo& layer = p.layers[l];
    layer.placement = onHost[l] ? plan::Placement::kHost : plan::Placement::kTarget;
    for (size_t i = 0; i < layer.inputs.size(); ++i) {
      int32_t id = layer.inputs[i];
      if (id < 0 || hostTensor[id]) continue;
      bool needsHostData = onHost[l] ? !readsDimsOnly(layer) : isHostSlot(layer, i);
      if (needsHostData)
        return Unsupported("layer '{}' ({}) reads {} on the host, but that value is computed on the GPU from tensor "
                           "data: a CUDA engine needs every shape-like value (shapes, axes, sizes, slice bounds) to "
                           "follow from the input shapes, host inputs and constants{}", layer.name, layer.op,
                           producerText(p, producer, id),
                           p.tensors[id].kind == plan::TensorKind::kInput
                               ? fmt::format(" (a host input holds at most {} values in a static shape of rank 0 or "
                                             "1; make this input a constant, e.g. with fixed values in the model)",
                                             kMaxHostInputValues)
                               : "");
    }
    if (onHost[l]) {
      ++hostLayers;
      for (int32_t& id : layer.outputs) {
        if (id < 0) continue;
        if (p.tensors[id].kind == plan::TensorKind::kOutput) {
          // A model output computed on the host (e.g. Shape of an input): the layer writes a host
          // tensor and an upload layer fills the caller's device buffer.
          plan::TensorInfo t = p.tensors[id];
          t.name = t.name + "/host";
          t.kind = plan::TensorKind::kIntermediate;
          t.ioIndex = -1;
          p.tensors.push_back(std::move(t));
          int32_t hostId = static_cast<int32_t>(p.tensors.size() - 1);
          outputUploads.emplace_back(l, hostId, id);
          id = hostId;
        }
        hostTensor.resize(p.tensors.size(), false);
        hostTensor[id] = true;
        p.tensors[id].placement = plan::Placement::kHost;
      }
    }
  }

  // Uploads: device layers reading a host-computed tensor as data.
  std::map<int32_t, int32_t> uploaded;  // host tensor -> device copy
  std::vector<plan::LayerInfo> layers;
  layers.reserve(nl);
  for (size_t l = 0; l < nl; ++l) {
    plan::LayerInfo layer = std::move(p.layers[l]);
    if (layer.placement == plan::Placement::kTarget) {
      for (size_t i = 0; i < layer.inputs.size(); ++i) {
        int32_t id = layer.inputs[i];
        if (id < 0 || p.tensors[id].kind == plan::TensorKind::kConstant || !hostTensor[id] || isHostSlot(layer, i))
          continue;
        auto it = uploaded.find(id);
        if (it == uploaded.end()) {
          plan::TensorInfo t = p.tensors[id];
          t.name = t.name + "/device";
          t.placement = plan::Placement::kTarget;
          t.kind = plan::TensorKind::kIntermediate;
          t.ioIndex = -1;  // the device copy of a host input is not itself an engine input
          p.tensors.push_back(std::move(t));
          int32_t dev = static_cast<int32_t>(p.tensors.size() - 1);
          layers.push_back(makeUpload(p, id, dev));
          it = uploaded.emplace(id, dev).first;
        }
        layer.inputs[i] = it->second;
      }
    }
    layers.push_back(std::move(layer));
    for (const auto& [at, hostId, outId] : outputUploads) {
      if (at != l) continue;
      layers.push_back(makeUpload(p, hostId, outId));
    }
  }
  p.layers = std::move(layers);
  return hostLayers;
}

void planHostArena(plan::Plan& p) {
  uint64_t off = 0;
  for (auto& t : p.tensors) {
    if (t.placement != plan::Placement::kHost) continue;
    uint64_t bytes = t.maxBytes;
    if (t.kind == plan::TensorKind::kInput) {
      // A host input's pinned copy, which the layers read: a captured graph's uploads read pinned
      // memory at fixed addresses, whatever buffer the caller passes.
      bytes = static_cast<uint64_t>(plan::staticDims(t).numel()) * dtypeSize(t.dtype);  // static (hostInputEligible)
    } else if (t.kind != plan::TensorKind::kIntermediate) {
      continue;
    }
    t.hostOffset = off;
    off += (bytes + 63) / 64 * 64;
  }
  p.memory.hostArenaBytes = off;
}

Result<std::vector<Tensor>> evaluateHostLayers(const plan::Plan& p, const std::vector<Dims>& dims) {
  std::vector<Tensor> values(p.tensors.size());
  for (size_t t = 0; t < p.tensors.size(); ++t)
    if (p.tensors[t].kind == plan::TensorKind::kConstant) values[t] = p.tensors[t].constant;
  for (const plan::LayerInfo& l : p.layers) {
    if (l.placement != plan::Placement::kHost) continue;
    const cpu::KernelDef* def = cpu::KernelRegistry::global().findTactic(l.tactic);
    if (!def) return InternalError("host layer '{}' ({}) has no CPU tactic '{}'", l.name, l.op, l.tactic);
    KILN_ASSIGN_OR_RETURN(auto kernel, def->create(runtime::describeLayer(p, l)));
    std::vector<Tensor> ins(l.inputs.size());
    std::vector<const Tensor*> inPtrs;
    bool unknown = false;
    for (size_t i = 0; i < l.inputs.size(); ++i) {
      int32_t id = l.inputs[i];
      if (id < 0) {
        inPtrs.push_back(nullptr);
        continue;
      }
      // Device data a host layer reads only the dims of (Shape/Size): a view without data.
      ins[i] = values[id].dtype() != DType::kUndefined ? values[id] : Tensor::borrow(p.tensors[id].dtype, dims[id], nullptr);
      // A host input's value (and what is computed from it) is known only at run time.
      unknown |= values[id].dtype() == DType::kUndefined && !readsDimsOnly(l) && p.tensors[id].placement == plan::Placement::kHost;
      inPtrs.push_back(&ins[i]);
    }
    if (unknown) continue;  // its outputs stay undefined: layers reading them are not timed
    std::vector<Tensor*> outPtrs;
    for (int32_t id : l.outputs) {
      if (id < 0) {
        outPtrs.push_back(nullptr);
        continue;
      }
      values[id] = Tensor::allocate(p.tensors[id].dtype, dims[id]);
      outPtrs.push_back(&values[id]);
    }
    auto state = kernel->createState();
    cpu::KernelContext ctx{l.attrs, inPtrs, outPtrs, state.get()};
    Status st = kernel->run(ctx);
    if (!st.ok()) return std::move(st).withContext(fmt::format("host layer '{}' ({}) at the opt shapes", l.name, l.op));
  }
  return values;
}

}  // namespace kiln::build
