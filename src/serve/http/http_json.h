// JSON bodies of the KServe v2 metadata endpoints and Triton's repository and statistics
// extensions, in the field names and shapes tritonclient expects.
#pragma once

#include <vector>

#include <nlohmann/json.hpp>

#include "serve/inference_server.h"

namespace kiln::serve {

nlohmann::json serverMetadataJson(const ServerMetadata& m);
nlohmann::json modelMetadataJson(const ModelMetadata& m);
nlohmann::json repositoryIndexJson(const std::vector<RepositoryEntry>& entries);
// {"model_stats": [...]} with durations as {"count": n, "ns": t}.
nlohmann::json statisticsJson(const std::vector<ModelStatistics>& stats);

}  // namespace kiln::serve
