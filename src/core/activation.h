// Activations that fused layers apply in their epilogue, shared by the IR (attribute parsing),
// every backend's kernels and the passes that create fused layers.
#pragma once

#include <cmath>
#include <string_view>

namespace kiln {

enum class Activation { kNone, kRelu, kLeakyRelu, kClip, kSigmoid, kTanh, kHardSwish, kSilu, kGeluErf, kGeluTanh };

// Attribute spelling ("" for none) <-> enum.
inline const char* activationName(Activation a) {
  switch (a) {
    case Activation::kNone: return "";
    case Activation::kRelu: return "Relu";
    case Activation::kLeakyRelu: return "LeakyRelu";
    case Activation::kClip: return "Clip";
    case Activation::kSigmoid: return "Sigmoid";
    case Activation::kTanh: return "Tanh";
    case Activation::kHardSwish: return "HardSwish";
    case Activation::kSilu: return "Silu";
    case Activation::kGeluErf: return "Gelu";
    case Activation::kGeluTanh: return "GeluTanh";
  }
  return "";
}
inline bool parseActivation(std::string_view s, Activation* out) {
  for (Activation a : {Activation::kNone, Activation::kRelu, Activation::kLeakyRelu, Activation::kClip,
                       Activation::kSigmoid, Activation::kTanh, Activation::kHardSwish, Activation::kSilu,
                       Activation::kGeluErf, Activation::kGeluTanh})
    if (s == activationName(a)) {
      *out = a;
      return true;
    }
  return false;
}

// y = act(x). alpha: LeakyRelu slope / Clip min; beta: Clip max.
template <typename T>
inline T applyActivation(Activation a, T x, T alpha, T beta) {
  switch (a) {
    case Activation::kNone: return x;
    case Activation::kRelu: return x > T(0) ? x : T(0);
    case Activation::kLeakyRelu: return x >= T(0) ? x : alpha * x;
    case Activation::kClip: return x < alpha ? alpha : (x > beta ? beta : x);
    case Activation::kSigmoid: return T(1) / (T(1) + std::exp(-x));
    case Activation::kTanh: return std::tanh(x);
    case Activation::kHardSwish: {
      T t = x / T(6) + T(0.5);
      return x * (t < T(0) ? T(0) : (t > T(1) ? T(1) : t));
    }
    case Activation::kSilu: return x / (T(1) + std::exp(-x));
    case Activation::kGeluErf: return T(0.5) * x * (T(1) + std::erf(x * T(0.7071067811865476)));
    case Activation::kGeluTanh:
      return T(0.5) * x * (T(1) + std::tanh(T(0.7978845608028654) * (x + T(0.044715) * x * x * x)));
  }
  return x;
}

}  // namespace kiln
