// Shared pieces of the oneDNN tactics.
//
// A oneDNN kernel keeps two levels of caches:
//   - per kernel (shared by every execution context, behind a mutex): one immutable Entry per
//     run-time shape with the primitives (created with scratchpad_mode::user, so they run from
//     several threads at once) and the constant weights reordered into the primitive's layout;
//   - per execution context (KernelState, never shared between threads): a stream and, per shape,
//     the memory objects bound to that context (user tensors re-pointed only when an address
//     changes; reorder buffers and scratchpads owned by the state).
// A run with a shape seen before therefore allocates nothing in Kiln; primitives execute through
// the C API with a fixed-size argument array.
#pragma once

#include <array>
#include <memory>
#include <mutex>
#include <vector>

#include <oneapi/dnnl/dnnl.hpp>

#include "backends/cpu/kernel.h"
#include "backends/cpu/kernels/fused.h"

namespace kiln::cpu::dnnl_util {

// The process-wide CPU engine.
dnnl::engine& engine();

inline dnnl::memory::dims toDnnl(const Dims& d) { return dnnl::memory::dims(d.begin(), d.end()); }

// A contiguous row-major f32 memory descriptor.
inline dnnl::memory::desc plainF32(const dnnl::memory::dims& d) {
  dnnl::memory::dims strides(d.size(), 1);
  for (int i = static_cast<int>(d.size()) - 2; i >= 0; --i) strides[i] = strides[i + 1] * d[i + 1];
  return dnnl::memory::desc(d, dnnl::memory::data_type::f32, strides);
}

// A channels-last f32 descriptor of logical NC... dims (memory order N, spatial..., C).
inline dnnl::memory::desc channelsLastF32(const dnnl::memory::dims& d) {
  const size_t r = d.size();
  dnnl::memory::dims strides(r);
  strides[1] = 1;
  int64_t s = d[1];
  for (size_t i = r - 1; i >= 2; --i) {
    strides[i] = s;
    s *= d[i];
  }
  strides[0] = s;
  return dnnl::memory::desc(d, dnnl::memory::data_type::f32, strides);
}

// Attributes every Kiln primitive uses: a user-provided scratchpad.
inline dnnl::primitive_attr userScratchpad() {
  dnnl::primitive_attr a;
  a.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return a;
}

// Attributes with a fused epilogue: a sum post-op (the residual, already in dst) then an eltwise
// activation. False if oneDNN has no eltwise for the activation.
bool epilogueAttr(const EpilogueSpec& ep, bool sum, dnnl::primitive_attr* out);

// A primitive with its scratchpad descriptor (empty prim: nothing to run).
struct Prim {
  dnnl::primitive prim;
  dnnl::memory::desc scratch;
  explicit operator bool() const { return static_cast<bool>(prim); }
};

// A reorder between two layouts; empty when they are equal.
Prim makeReorder(const dnnl::memory::desc& from, const dnnl::memory::desc& to);

// A shape key without heap storage: dims of the run's tensors, rank-prefixed.
class ShapeKey {
 public:
  void add(const Dims& d) {
    push(d.rank());
    for (int64_t x : d) push(x);
  }
  void push(int64_t x) {
    if (n_ < static_cast<int>(v_.size())) v_[n_] = x;
    ++n_;  // an overflowing key never equals a stored one (see valid())
  }
  bool valid() const { return n_ <= static_cast<int>(v_.size()); }
  bool operator==(const ShapeKey& o) const {
    if (n_ != o.n_ || !valid()) return false;
    for (int i = 0; i < n_; ++i)
      if (v_[i] != o.v_[i]) return false;
    return true;
  }

 private:
  std::array<int64_t, 64> v_{};  // enough for 4 rank-12 shapes
  int n_ = 0;
};

// Primitive arguments for one execution (at most 8).
class Args {
 public:
  Args& add(int arg, const dnnl::memory& m) {
    a_[n_++] = dnnl_exec_arg_t{arg, m.get()};
    return *this;
  }
  int size() const { return n_; }
  const dnnl_exec_arg_t* data() const { return a_; }

 private:
  dnnl_exec_arg_t a_[8];
  int n_ = 0;
};

// A memory object bound to a user tensor, re-pointed only when the address changes.
class UserMemory {
 public:
  UserMemory() = default;
  explicit UserMemory(const dnnl::memory::desc& md) : mem_(md, engine(), nullptr) {}
  const dnnl::memory& at(const void* p) {
    if (p != ptr_) {
      mem_.set_data_handle(const_cast<void*>(p));
      ptr_ = p;
    }
    return mem_;
  }

 private:
  dnnl::memory mem_;
  const void* ptr_ = nullptr;
};

// The memory objects one primitive needs in one context besides its tensors: its scratchpad.
struct BoundPrim {
  const Prim* p = nullptr;
  dnnl::memory scratch;  // owned by the context
  BoundPrim() = default;
  explicit BoundPrim(const Prim& prim) : p(&prim) {
    if (prim && prim.scratch.get_size() > 0) scratch = dnnl::memory(prim.scratch, engine());
  }
  explicit operator bool() const { return p && p->prim; }
};

// Runs a bound primitive on `s` with `args` (plus its scratchpad); InternalError on failure.
Status execute(dnnl::stream& s, const BoundPrim& bp, Args args, std::string_view what);

// Per-context state of a oneDNN kernel: a stream and per-shape bindings of type B (which holds
// `ShapeKey key`).
template <typename B>
struct ContextState final : KernelState {
  dnnl::stream stream{engine()};
  std::vector<std::unique_ptr<B>> bound;
  B* find(const ShapeKey& k) {
    for (auto& b : bound)
      if (b->key == k) return b.get();
    return nullptr;
  }
};

// Per-kernel cache of shape entries (shared by all contexts).
template <typename E>
class EntryCache {
 public:
  // The entry for `key`, created by `make()` (-> Result<std::shared_ptr<E>>) on first use.
  template <typename F>
  Result<std::shared_ptr<const E>> get(const ShapeKey& key, F&& make) {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [k, e] : entries_)
      if (k == key) return std::shared_ptr<const E>(e);
    KILN_ASSIGN_OR_RETURN(std::shared_ptr<E> e, make());
    if (key.valid()) entries_.emplace_back(key, e);
    return std::shared_ptr<const E>(std::move(e));
  }
  std::mutex& mutex() { return mu_; }

 private:
  std::mutex mu_;
  std::vector<std::pair<ShapeKey, std::shared_ptr<E>>> entries_;
};

// Weights reordered once per oneDNN layout when they are constant (keyed by the primitive's
// weights descriptor; different run-time shapes usually share one). Not thread-safe: used while
// an EntryCache creates an entry.
class PackedWeights {
 public:
  PackedWeights() = default;
  explicit PackedWeights(Tensor w) : w_(std::move(w)) {}
  bool constant() const { return w_.defined(); }
  // The constant weights (user layout `user`) in layout `want`.
  Result<dnnl::memory> get(const dnnl::memory::desc& user, const dnnl::memory::desc& want);

 private:
  Tensor w_;
  std::vector<std::pair<dnnl::memory::desc, dnnl::memory>> packed_;
};

}  // namespace kiln::cpu::dnnl_util

namespace kiln::cpu {

// Kernel factories (dnnl_conv.cc, dnnl_matmul.cc, dnnl_pool.cc).
Result<std::unique_ptr<Kernel>> createDnnlConv(const LayerDesc& d, bool transpose);
Result<std::unique_ptr<Kernel>> createDnnlMatMul(const LayerDesc& d, bool gemm);
Result<std::unique_ptr<Kernel>> createDnnlFusedConv(const LayerDesc& d);
Result<std::unique_ptr<Kernel>> createDnnlFusedMatMul(const LayerDesc& d);
enum class DnnlPoolKind { kMax, kAverage, kGlobalAverage };
Result<std::unique_ptr<Kernel>> createDnnlPool(const LayerDesc& d, DnnlPoolKind kind);

}  // namespace kiln::cpu
