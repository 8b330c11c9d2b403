// model_warmup: sample requests run on every instance before a model version is marked READY
// (zero, random or file data; file data comes from <model>/warmup/<file>, inside the repository).
#pragma once

#include <vector>

#include "kiln/status.h"
#include "model_config.pb.h"
#include "serve/core/instance.h"
#include "serve/core/model_spec.h"
#include "serve/core/repository.h"

namespace kiln::serve {

Status runWarmup(const inference::ModelConfig& cfg, const ModelSpec& spec, const ModelSource& src,
                 const std::vector<Instance*>& instances);

}  // namespace kiln::serve
