// numpy's legacy random numbers (RandomState), which the ONNX reference uses for Dropout's
// training-mode masks: seeding RandomState with an int is MT19937's init_genrand, which is what
// std::mt19937(seed) does, and random_sample()/uniform(0, 1) builds a 53-bit double from two
// 32-bit draws (genrand_res53).
#pragma once

#include <cstdint>
#include <random>

namespace kiln::cpu {

inline double numpyUniform(std::mt19937& g) {
  const uint32_t a = static_cast<uint32_t>(g()) >> 5, b = static_cast<uint32_t>(g()) >> 6;
  return (a * 67108864.0 + b) / 9007199254740992.0;
}

}  // namespace kiln::cpu
