// NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss on [n, c, d] scores:
//   loss[n, d] = -weight[t] * v[n, t, d], t = label[n, d], v = x (NLL) or log-softmax_c(x) (SCE);
// a label equal to ignore_index weighs 0 and loses 0; `mean` is sum(loss) / sum(weight) (NaN when
// every position weighs 0, as on the CPU).
//  - column kernel (NLL, and SCE with d > 1): one thread per (n, d), a two-pass max / sum-exp over
//    c in the CPU's order, coalesced across d;
//  - row kernel (SCE with d == 1): a warp per row, or a whole block per row for long rows.
// Sums and weights accumulate in float (double for float64). For kSum/kMean each block reduces its
// positions to one (loss, weight) pair: a single block writes the result itself, otherwise the
// pairs go to the workspace and one more single-block kernel adds them in a fixed order (no float
// atomics, so CUDA graph replays are bit-identical).
//
// Labels outside [0, c) that are not ignore_index make the CPU reference fail; an enqueue cannot
// report that (it never reads device memory on the host), so here such a position reads nothing
// and counts like an ignored one: loss 0, weight 0.
#include <algorithm>

#include "backends/cuda/kernels/loss_launch.h"
#include "backends/cuda/kernels/reduce_common.cuh"

namespace kiln::cuda::loss {

namespace {

using rn::StatT;
using rn::toC;
using rn::fromC;

constexpr int kBlock = 256;
constexpr int64_t kBlockRowMinC = 1024;  // longer SCE rows get a whole block each

template <typename A>
struct Pair {
  A loss, w;
};

template <typename A>
__device__ __forceinline__ void addPair(Pair<A>& a, const Pair<A>& b) {
  a.loss += b.loss;
  a.w += b.w;
}

template <typename C>
__device__ __forceinline__ Pair<C> blockSum(Pair<C> acc, Pair<C>* smem) {
  return rn::blockReduce(acc, Pair<C>{C(0), C(0)}, smem, [](Pair<C>& a, const Pair<C>& b) { addPair(a, b); });
}

template <typename T, typename I>
struct View {
  const T* x;
  const I* labels;
  const T* weight;
  T* loss;
  T* logProb;
  Pair<StatT<T>>* partials;
  int64_t n, c, d;
  bool hasIgnore;
  int64_t ignoreIndex;
  Reduction red;
};

// Loss and weight of position p (= n * d + dd) whose class values are x[base + k * stride];
// `m` and `ls` are the row's max and log-sum-exp for SCE. Ignored and out-of-range labels give
// (0, 0) without reading x.
template <bool kSoftmax, typename T, typename I, typename C>
__device__ __forceinline__ Pair<C> positionLoss(const View<T, I>& v, int64_t p, const T* base, int64_t stride, C m,
                                                C ls) {
  const int64_t t = static_cast<int64_t>(v.labels[p]);
  if ((v.hasIgnore && t == v.ignoreIndex) || t < 0 || t >= v.c) return {C(0), C(0)};
  const C w = v.weight ? toC<C>(v.weight[t]) : C(1);
  C val = toC<C>(base[t * stride]);
  if constexpr (kSoftmax) val = (val - m) - ls;
  return {-(w * val), w};
}

template <typename T, typename C>
__device__ __forceinline__ T finalValue(const Pair<C>& s, Reduction red) {
  return fromC<T>(red == Reduction::kMean ? s.loss / s.w : s.loss);
}

// Every thread of the block calls this once, after its positions: a single block writes the
// result, several leave their partial pair for lossFinalKernel.
template <typename T, typename I, typename C>
__device__ __forceinline__ void finishBlock(const View<T, I>& v, Pair<C> acc, Pair<C>* smem) {
  acc = blockSum(acc, smem);
  if (threadIdx.x != 0) return;
  if (gridDim.x == 1) *v.loss = finalValue<T>(acc, v.red);
  else v.partials[blockIdx.x] = acc;
}

template <typename T, typename I, bool kSoftmax>
__global__ void __launch_bounds__(kBlock) lossColumnKernel(View<T, I> v) {
  using C = StatT<T>;
  __shared__ Pair<C> smem[32];
  Pair<C> acc{C(0), C(0)};
  KILN_GRID_STRIDE_LOOP(p, v.n * v.d) {
    const int64_t nn = p / v.d, dd = p - nn * v.d;
    const T* base = v.x + nn * v.c * v.d + dd;
    C m = C(0), ls = C(0);
    if constexpr (kSoftmax) {
      m = -rn::infinityOf<C>();
      for (int64_t k = 0; k < v.c; ++k) {
        const C e = toC<C>(base[k * v.d]);
        m = e > m ? e : m;
      }
      C s = C(0);
      for (int64_t k = 0; k < v.c; ++k) s += rn::expC(toC<C>(base[k * v.d]) - m);
      ls = rn::logC(s);
      if (v.logProb) {
        T* lp = v.logProb + (base - v.x);
        for (int64_t k = 0; k < v.c; ++k) lp[k * v.d] = fromC<T>((toC<C>(base[k * v.d]) - m) - ls);
      }
    }
    const Pair<C> r = positionLoss<kSoftmax>(v, p, base, v.d, m, ls);
    if (v.red == Reduction::kNone) v.loss[p] = fromC<T>(r.loss);
    else addPair(acc, r);
  }
  if (v.red != Reduction::kNone) finishBlock(v, acc, smem);
}

// Reduction over the G threads of one row: a warp (G = 32) or the whole block (G = kBlock).
template <int G, typename C, typename F>
__device__ __forceinline__ C rowReduce(C x, C identity, C* smem, F f) {
  if constexpr (G == 32) return rn::groupReduce(x, 32, f);
  else return rn::blockReduce(x, identity, smem, f);
}

// SCE on contiguous rows (d == 1): G threads per row; the row loop is uniform over each group.
template <typename T, typename I, int G>
__global__ void __launch_bounds__(kBlock) sceRowKernel(View<T, I> v) {
  using C = StatT<T>;
  __shared__ Pair<C> smem[32];
  __shared__ C rowSmem[32];
  constexpr int kRowsPerBlock = kBlock / G;
  const int lane = static_cast<int>(threadIdx.x) % G;
  const auto maxOp = [](C& a, const C& b) { a = b > a ? b : a; };
  const auto addOp = [](C& a, const C& b) { a += b; };
  Pair<C> acc{C(0), C(0)};
  for (int64_t row = static_cast<int64_t>(blockIdx.x) * kRowsPerBlock + threadIdx.x / G; row < v.n;
       row += static_cast<int64_t>(gridDim.x) * kRowsPerBlock) {
    const T* xr = v.x + row * v.c;
    C m = -rn::infinityOf<C>();
    for (int64_t k = lane; k < v.c; k += G) {
      const C e = toC<C>(xr[k]);
      m = e > m ? e : m;
    }
    m = rowReduce<G>(m, -rn::infinityOf<C>(), rowSmem, maxOp);
    C s = C(0);
    for (int64_t k = lane; k < v.c; k += G) s += rn::expC(toC<C>(xr[k]) - m);
    s = rowReduce<G>(s, C(0), rowSmem, addOp);
    const C ls = rn::logC(s);
    if (v.logProb) {
      T* lp = v.logProb + row * v.c;
      for (int64_t k = lane; k < v.c; k += G) lp[k] = fromC<T>((toC<C>(xr[k]) - m) - ls);
    }
    if (lane == 0) {
      const Pair<C> r = positionLoss<true>(v, row, xr, 1, m, ls);
      if (v.red == Reduction::kNone) v.loss[row] = fromC<T>(r.loss);
      else addPair(acc, r);
    }
  }
  if (v.red != Reduction::kNone) finishBlock(v, acc, smem);
}

// Adds the partial pairs of `blocks` blocks in a fixed order.
template <typename T>
__global__ void __launch_bounds__(kBlock) lossFinalKernel(const Pair<StatT<T>>* partials, int blocks, T* out,
                                                          Reduction red) {
  using C = StatT<T>;
  __shared__ Pair<C> smem[32];
  Pair<C> acc{C(0), C(0)};
  for (int i = static_cast<int>(threadIdx.x); i < blocks; i += kBlock) addPair(acc, partials[i]);
  acc = blockSum(acc, smem);
  if (threadIdx.x == 0) *out = finalValue<T>(acc, red);
}

template <typename T, typename I>
cudaError_t launchTyped(const LossArgs& a, cudaStream_t s) {
  using C = StatT<T>;
  const bool reduce = a.reduction != Reduction::kNone;
  const int64_t positions = a.n * a.d;
  if (!reduce && positions == 0) return cudaSuccess;  // nothing to write (log_prob is empty too)
  const bool rows = a.softmax && a.d == 1;
  const bool blockRows = rows && a.c >= kBlockRowMinC;
  const int64_t perBlock = !rows ? kBlock : blockRows ? 1 : kBlock / 32;
  unsigned grid = rn::gridFor(positions, perBlock, a.smCount, blockRows ? 4 : 8);
  if (reduce) {
    // Without room for the partials one block does it all (slower, same semantics).
    const size_t room = a.workspace ? a.workspaceSize / sizeof(Pair<C>) : 0;
    grid = static_cast<unsigned>(std::min<size_t>({grid, room, size_t{kMaxLossPartials}}));
    if (grid < 1) grid = 1;
  }
  View<T, I> v{static_cast<const T*>(a.x),
               static_cast<const I*>(a.labels),
               static_cast<const T*>(a.weight),
               static_cast<T*>(a.loss),
               static_cast<T*>(a.logProb),
               static_cast<Pair<C>*>(a.workspace),
               a.n,
               a.c,
               a.d,
               a.hasIgnore,
               a.ignoreIndex,
               a.reduction};
  if (!rows) {
    if (a.softmax) lossColumnKernel<T, I, true><<<grid, kBlock, 0, s>>>(v);
    else lossColumnKernel<T, I, false><<<grid, kBlock, 0, s>>>(v);
  } else if (blockRows) {
    sceRowKernel<T, I, kBlock><<<grid, kBlock, 0, s>>>(v);
  } else {
    sceRowKernel<T, I, 32><<<grid, kBlock, 0, s>>>(v);
  }
  cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess || !reduce || grid == 1) return e;
  lossFinalKernel<T><<<1, kBlock, 0, s>>>(v.partials, static_cast<int>(grid), v.loss, a.reduction);
  return cudaGetLastError();
}

}  // namespace

bool lossSupportsTypes(DType scores, DType labels) {
  return rn::inSet<rn::FloatSet>(scores) && (labels == DType::kInt32 || labels == DType::kInt64);
}

cudaError_t launchLoss(const LossArgs& a, cudaStream_t s) {
  if (!lossSupportsTypes(a.dtype, a.labelDtype)) return cudaErrorInvalidValue;
  cudaError_t err = cudaErrorInvalidValue;
  rn::dispatch<rn::FloatSet>(a.dtype, [&](auto tag) {
    using T = KILN_RN_TYPE(tag);
    err = a.labelDtype == DType::kInt32 ? launchTyped<T, int32_t>(a, s) : launchTyped<T, int64_t>(a, s);
  });
  return err;
}

}  // namespace kiln::cuda::loss
