// Version policy.
#include "serve/core/version_policy.h"

#include <algorithm>

namespace kiln::serve {

Result<std::vector<int64_t>> selectVersions(const inference::ModelVersionPolicy& policy,
                                            const std::vector<int64_t>& available, const std::string& model) {
  std::vector<int64_t> av = available;
  std::sort(av.begin(), av.end());
  if (av.empty()) return NotFound("model '{}' has no version directories (expected <model>/<N>/model.onnx)", model);
  std::vector<int64_t> out;
  switch (policy.policy_choice_case()) {
    case inference::ModelVersionPolicy::kAll:
      out = av;
      break;
    case inference::ModelVersionPolicy::kSpecific: {
      std::string missing;
      for (int64_t v : policy.specific().versions()) {
        if (std::binary_search(av.begin(), av.end(), v)) out.push_back(v);
        else missing += fmt::format("{}{}", missing.empty() ? "" : ", ", v);
      }
      if (!missing.empty())
        return NotFound("model '{}': version policy asks for version(s) {} which do not exist", model, missing);
      if (out.empty()) return InvalidArgument("model '{}': the specific version policy lists no versions", model);
      std::sort(out.begin(), out.end());
      out.erase(std::unique(out.begin(), out.end()), out.end());
      break;
    }
    default: {
      size_t n = policy.has_latest() && policy.latest().num_versions() > 0 ? policy.latest().num_versions() : 1;
      n = std::min(n, av.size());
      out.assign(av.end() - static_cast<std::ptrdiff_t>(n), av.end());
      break;
    }
  }
  return out;
}

}  // namespace kiln::serve
