// CPU reference kernel for Einsum: a general equation evaluator (implicit and explicit output,
// ellipsis broadcasting, repeated labels within an operand = diagonals, summed labels, size-1
// broadcasting like numpy). Every distinct label (and each ellipsis position) becomes an axis; an
// operand's stride on an axis is the sum of the strides of its dims carrying that label (0 where a
// size-1 dim broadcasts). Output elements are computed in parallel, each summing the product of
// the operands over the summed axes. Correctness over speed: no contraction reordering.
#include <cctype>
#include <map>
#include <string>
#include <vector>

#include "backends/cpu/kernels/families.h"
#include "core/einsum_equation.h"
#include "backends/cpu/kernels/kernel_util.h"

namespace kiln::cpu {

namespace {

// The evaluation plan: axes 0..numEll-1 are the ellipsis dims, then one axis per letter.
struct Plan {
  int numEll = 0;
  std::vector<int64_t> size;                 // per axis
  std::vector<std::vector<int64_t>> stride;  // per input, per axis (elements)
  std::vector<int> outAxes, sumAxes;
};

Result<Plan> makePlan(const std::string& equation, const std::vector<const Tensor*>& ins, const Dims& yDims) {
  KILN_ASSIGN_OR_RETURN(EinsumEquation parsed, parseEinsumEquation(equation));
  const std::string& eq = parsed.text;
  const std::vector<EinsumTerm>& terms = parsed.inputs;
  if (terms.size() != ins.size())
    return InvalidArgument("Einsum: equation '{}' has {} operands but the node has {} inputs", eq, terms.size(),
                           ins.size());
  Plan p;
  std::vector<int> ellRank(ins.size(), 0);
  bool anyEllipsis = false;
  for (size_t i = 0; i < ins.size(); ++i) {
    const int nl = static_cast<int>(terms[i].labels.size());
    const int er = ins[i]->rank() - nl;
    if (er < 0 || (terms[i].ellipsis < 0 && er != 0))
      return InvalidArgument("Einsum: operand {} has shape {} but its subscripts '{}' need rank {}", i,
                             ins[i]->dims().toString(), terms[i].labels, nl);
    ellRank[i] = er;
    p.numEll = std::max(p.numEll, er);
    anyEllipsis |= terms[i].ellipsis >= 0;
  }
  std::map<char, int> axisOf;
  for (const EinsumTerm& t : terms)
    for (char c : t.labels)
      if (!axisOf.count(c)) axisOf[c] = 0;
  int next = p.numEll;
  for (auto& [c, a] : axisOf) a = next++;  // ASCII order
  p.size.assign(next, 1);
  std::vector<bool> seen(next, false);
  p.stride.assign(ins.size(), std::vector<int64_t>(next, 0));
  // Sizes first (size-1 dims broadcast), then strides.
  auto axisOfDim = [&](size_t i, int d) {
    const EinsumTerm& t = terms[i];
    const int er = ellRank[i];
    if (t.ellipsis >= 0 && d >= t.ellipsis && d < t.ellipsis + er) return p.numEll - er + (d - t.ellipsis);
    const int li = t.ellipsis >= 0 && d >= t.ellipsis + er ? d - er : d;
    return axisOf[t.labels[li]];
  };
  for (size_t i = 0; i < ins.size(); ++i)
    for (int d = 0; d < ins[i]->rank(); ++d) {
      const int a = axisOfDim(i, d);
      const int64_t n = ins[i]->dims()[d];
      if (!seen[a] || p.size[a] == 1) {
        p.size[a] = seen[a] && n == 1 ? p.size[a] : n;
        seen[a] = true;
      } else if (n != 1 && n != p.size[a]) {
        return InvalidArgument("Einsum: operand {} dim {} has size {} but the same label has size {} elsewhere", i, d,
                               n, p.size[a]);
      }
    }
  for (size_t i = 0; i < ins.size(); ++i) {
    const Dims st = contiguousStrides(ins[i]->dims());
    for (int d = 0; d < ins[i]->rank(); ++d) {
      const int a = axisOfDim(i, d);
      if (ins[i]->dims()[d] != 1 || p.size[a] == 1) p.stride[i][a] += st[d];
    }
  }
  // Output axes.
  std::vector<bool> inOut(next, false);
  auto addOut = [&](int a) {
    p.outAxes.push_back(a);
    inOut[a] = true;
  };
  if (parsed.explicitOutput) {
    const EinsumTerm& out = parsed.output;
    if (out.ellipsis < 0 && p.numEll > 0)
      return InvalidArgument("Einsum: equation '{}' broadcasts '...' dims but the output has no '...'", eq);
    for (int j = 0; j <= static_cast<int>(out.labels.size()); ++j) {
      if (j == out.ellipsis)
        for (int a = 0; a < p.numEll; ++a) addOut(a);
      if (j == static_cast<int>(out.labels.size())) break;
      auto it = axisOf.find(out.labels[j]);
      if (it == axisOf.end())
        return InvalidArgument("Einsum: output label '{}' does not appear in the inputs", out.labels[j]);
      if (inOut[it->second]) return InvalidArgument("Einsum: output label '{}' repeats", out.labels[j]);
      addOut(it->second);
    }
  } else {
    std::map<char, int> count;
    for (const EinsumTerm& t : terms)
      for (char c : t.labels) ++count[c];
    for (int a = 0; a < p.numEll; ++a) addOut(a);
    (void)anyEllipsis;
    for (const auto& [c, k] : count)
      if (k == 1) addOut(axisOf[c]);
  }
  for (int a = 0; a < next; ++a)
    if (!inOut[a]) p.sumAxes.push_back(a);
  if (static_cast<int>(p.outAxes.size()) != yDims.rank())
    return InvalidArgument("Einsum: output has rank {} but the equation gives {}", yDims.rank(), p.outAxes.size());
  for (int j = 0; j < yDims.rank(); ++j)
    if (yDims[j] != p.size[p.outAxes[j]])
      return InvalidArgument("Einsum: output dim {} is {} but the equation gives {}", j, yDims[j],
                             p.size[p.outAxes[j]]);
  return p;
}

template <typename T, typename Acc>
void evaluate(const Plan& p, const std::vector<const T*>& in, T* y, int64_t outCount) {
  const size_t nIn = in.size();
  int64_t sumCount = 1;
  for (int a : p.sumAxes) sumCount *= p.size[a];
  parallelFor(outCount, std::max<int64_t>(1, 8192 / std::max<int64_t>(1, sumCount * nIn)), [&](int64_t b, int64_t e) {
    std::vector<int64_t> base(nIn), off(nIn), idx(p.sumAxes.size());
    for (int64_t o = b; o < e; ++o) {
      std::fill(base.begin(), base.end(), 0);
      int64_t rem = o;
      for (int j = static_cast<int>(p.outAxes.size()) - 1; j >= 0; --j) {
        const int a = p.outAxes[j];
        const int64_t c = rem % p.size[a];
        rem /= p.size[a];
        for (size_t i = 0; i < nIn; ++i) base[i] += c * p.stride[i][a];
      }
      Acc acc = Acc(0);
      if (sumCount > 0) {
        std::fill(idx.begin(), idx.end(), 0);
        off = base;
        while (true) {
          Acc prod = static_cast<Acc>(static_cast<compute_t<T>>(in[0][off[0]]));
          for (size_t i = 1; i < nIn; ++i) prod = prod * static_cast<Acc>(static_cast<compute_t<T>>(in[i][off[i]]));
          acc = acc + prod;
          int k = static_cast<int>(p.sumAxes.size()) - 1;
          for (; k >= 0; --k) {
            const int a = p.sumAxes[k];
            for (size_t i = 0; i < nIn; ++i) off[i] += p.stride[i][a];
            if (++idx[k] < p.size[a]) break;
            for (size_t i = 0; i < nIn; ++i) off[i] -= p.size[a] * p.stride[i][a];
            idx[k] = 0;
          }
          if (k < 0) break;
        }
      }
      y[o] = convertValue<T>(acc);
    }
  });
}

Status Einsum(const KernelContext& ctx) {
  std::vector<const Tensor*> ins;
  for (int i = 0; i < ctx.numInputs(); ++i) {
    if (!ctx.hasInput(i)) return InvalidArgument("Einsum: input {} is missing", i);
    if (ctx.in(i).dtype() != ctx.in(0).dtype()) return InvalidArgument("Einsum: inputs must share one type");
    ins.push_back(&ctx.in(i));
  }
  Tensor& y = ctx.out(0);
  KILN_ASSIGN_OR_RETURN(Plan p, makePlan(ctx.attrs.getString("equation"), ins, y.dims()));
  if (y.numel() == 0) return Status::OK();
  return dispatchOr<NumericTypes>("Einsum", y.dtype(), [&](auto tag) {
    using T = KILN_TYPE(tag);
    std::vector<const T*> ptrs;
    for (const Tensor* t : ins) ptrs.push_back(t->data<T>());
    if constexpr (std::is_floating_point_v<compute_t<T>>) {
      evaluate<T, double>(p, ptrs, y.data<T>(), y.numel());
    } else {
      evaluate<T, uint64_t>(p, ptrs, y.data<T>(), y.numel());  // wraps like numpy's fixed-width ints
    }
  });
}

}  // namespace

void RegisterEinsumKernel(KernelRegistry& r) { r.addFn("Einsum", "cpu_ref_Einsum", &Einsum); }

}  // namespace kiln::cpu
