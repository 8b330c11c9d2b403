// Triton's shared-memory endpoints on the HTTP frontend:
//
//   GET  /v2/systemsharedmemory/status                  every region: [{name, key, offset, byte_size}]
//   GET  /v2/systemsharedmemory/region/R/status         region R (a one-element array)
//   POST /v2/systemsharedmemory/region/R/register       {"key": "/obj", "offset": N, "byte_size": N}
//   POST /v2/systemsharedmemory/unregister              every region
//   POST /v2/systemsharedmemory/region/R/unregister     region R
//   any  /v2/cudasharedmemory/...                       501: CUDA shared memory is not supported
//   POST /v2/cudasharedmemory[/region/R]/unregister     200: nothing to unregister (Triton's answer
//                                                       without GPUs; perf_analyzer calls it)
//
// A failed system shared-memory call answers 400 with {"error": "..."} whatever the cause, as
// Triton does on these endpoints; a wrong method is 405.
#pragma once

#include <string>
#include <vector>

#include "serve/http/http_server.h"
#include "serve/inference_server.h"

namespace kiln::serve::http {

// `seg`: the percent-decoded path segments; seg[1] is "systemsharedmemory" or "cudasharedmemory".
Response sharedMemoryEndpoint(InferenceServer& server, const Request& req, const std::vector<std::string>& seg);

}  // namespace kiln::serve::http
