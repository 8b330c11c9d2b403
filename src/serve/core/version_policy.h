// Which versions of a model to serve, per the config's version_policy (Triton semantics):
// latest N (default 1), all, or specific versions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kiln/status.h"
#include "model_config.pb.h"

namespace kiln::serve {

// `available`: the version directories present. Returns the versions to load, ascending. An
// error when a specific version is missing or nothing is available.
Result<std::vector<int64_t>> selectVersions(const inference::ModelVersionPolicy& policy,
                                            const std::vector<int64_t>& available, const std::string& model);

}  // namespace kiln::serve
