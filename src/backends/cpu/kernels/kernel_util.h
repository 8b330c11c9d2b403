// Helpers for writing CPU kernels: dtype dispatch with a clear error, element-wise maps.
#pragma once

#include <cmath>
#include <string_view>
#include <type_traits>

#include "backends/cpu/kernel.h"
#include "backends/fit_output.h"
#include "core/thread_pool.h"
#include "kiln/dtype.h"

namespace kiln::cpu {

// Runs fn(TypeTag<T>) for the input dtype `t` if it is in List; else an Unsupported error.
using backends::fitOutput;  // backends/fit_output.h

template <typename List, typename F>
Status dispatchOr(std::string_view op, DType t, F&& fn) {
  if (dispatchType<List>(t, std::forward<F>(fn))) return Status::OK();
  return unsupportedType(op, t);
}

#define KILN_TYPE(tag) typename decltype(tag)::type

// Function multiversioning for hot loops (AVX-512 / AVX2 / baseline chosen at load time). ifunc
// resolvers run before sanitizer runtimes initialize, so sanitizer builds use the baseline only.
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define KILN_CPU_CLONES
#else
#define KILN_CPU_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#endif

// y[i] = f(x[i]) computed in compute_t<T>, converted back to T.
template <typename List, typename F>
Status unaryMap(const KernelContext& ctx, std::string_view op, F f) {
  const Tensor& x = ctx.in(0);
  Tensor& y = ctx.out(0);
  return dispatchOr<List>(op, x.dtype(), [&](auto tag) {
    using T = KILN_TYPE(tag);
    using C = compute_t<T>;
    const T* px = x.data<T>();
    T* py = y.data<T>();
    parallelFor(x.numel(), 16384, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) py[i] = convertValue<T>(f(static_cast<C>(px[i])));
    });
  });
}

// y[i] = pred(x[i]) -> bool.
template <typename List, typename F>
Status unaryPredicate(const KernelContext& ctx, std::string_view op, F pred) {
  const Tensor& x = ctx.in(0);
  bool* py = ctx.out(0).data<bool>();
  return dispatchOr<List>(op, x.dtype(), [&](auto tag) {
    using T = KILN_TYPE(tag);
    using C = compute_t<T>;
    const T* px = x.data<T>();
    parallelFor(x.numel(), 16384, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) py[i] = pred(static_cast<C>(px[i]));
    });
  });
}

// Copies a tensor's bytes (or strings) into an output of the same element count.
void copyTensorData(const Tensor& src, Tensor& dst);

}  // namespace kiln::cpu
