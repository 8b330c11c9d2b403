// Shared-memory endpoints (see http_shared_memory.h).
#include "serve/http/http_shared_memory.h"

#include <nlohmann/json.hpp>

namespace kiln::serve::http {

namespace {

using json = nlohmann::json;

Response badRequest(const Status& st) { return errorResponse(400, st.message()); }

Response statusJson(const std::vector<SharedMemoryRegionStatus>& regions) {
  json a = json::array();
  for (const auto& r : regions)
    a.push_back({{"name", r.name}, {"key", r.key}, {"offset", r.offset}, {"byte_size", r.byteSize}});
  Response out;
  // replace: names and keys are the client's bytes and need not be UTF-8.
  out.body = a.dump(-1, ' ', false, json::error_handler_t::replace);
  return out;
}

// A non-negative integer member: Triton's register body has "byte_size" (required) and "offset".
Result<uint64_t> unsignedField(const json& body, const char* key, bool required) {
  auto it = body.find(key);
  if (it == body.end()) {
    if (required) return InvalidArgument("Shared memory register request has no '{}' field", key);
    return uint64_t{0};
  }
  if (it->is_number_unsigned()) return it->get<uint64_t>();
  if (it->is_number_integer() && it->get<int64_t>() >= 0) return static_cast<uint64_t>(it->get<int64_t>());
  return InvalidArgument("Shared memory register request: '{}' must be a non-negative integer", key);
}

Status registerRegion(InferenceServer& server, const std::string& name, const std::string& bodyText) {
  json body = json::parse(bodyText, nullptr, false);
  if (body.is_discarded() || !body.is_object())
    return InvalidArgument("the register request body must be a JSON object: {{\"key\": \"/name\", \"offset\": 0, "
                           "\"byte_size\": N}}");
  auto key = body.find("key");
  if (key == body.end()) return InvalidArgument("Shared memory register request has no 'key' field");
  if (!key->is_string()) return InvalidArgument("Shared memory register request: 'key' must be a string");
  KILN_ASSIGN_OR_RETURN(uint64_t offset, unsignedField(body, "offset", false));
  KILN_ASSIGN_OR_RETURN(uint64_t byteSize, unsignedField(body, "byte_size", true));
  return server.registerSystemSharedMemory(name, key->get<std::string>(), offset, byteSize);
}

}  // namespace

Response sharedMemoryEndpoint(InferenceServer& server, const Request& req, const std::vector<std::string>& seg) {
  const size_t n = seg.size();
  // /v2/{system,cuda}sharedmemory/ACTION or /v2/{system,cuda}sharedmemory/region/NAME/ACTION
  std::string region, action;
  if (n == 3) {
    action = seg[2];
  } else if (n == 5 && seg[2] == "region") {
    region = seg[3];
    action = seg[4];
  }
  if (seg[1] == "cudasharedmemory") {
    // Nothing can be registered, so unregistering succeeds (as on Triton built without GPUs):
    // perf_analyzer --shared-memory system unregisters CUDA regions too when it exits.
    if (action == "unregister" && req.method == "POST") return Response{};
    return statusResponse(Unsupported("CUDA shared memory is not supported by kiln serve; use system shared memory "
                                      "(/v2/systemsharedmemory) or send tensors in the request"));
  }
  const bool regionAction = !region.empty() && (action == "status" || action == "register" || action == "unregister");
  const bool allAction = region.empty() && (action == "status" || action == "unregister");
  if (!regionAction && !allAction) return errorResponse(404, fmt::format("unknown endpoint '{}'", req.path));

  const bool get = req.method == "GET" || req.method == "HEAD";
  const bool post = req.method == "POST";
  if (action == "status" ? !get : !post)
    return errorResponse(405, fmt::format("{} needs {}", req.path, action == "status" ? "GET" : "POST"));

  if (action == "status") {
    auto st = server.systemSharedMemoryStatus(region);
    return st.ok() ? statusJson(*st) : badRequest(st.status());
  }
  Status st = action == "register" ? registerRegion(server, region, req.body)
                                   : server.unregisterSystemSharedMemory(region);
  return st.ok() ? Response{} : badRequest(st);
}

}  // namespace kiln::serve::http
