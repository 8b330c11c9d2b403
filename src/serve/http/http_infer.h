// KServe v2 inference over HTTP: the request body (JSON, optionally followed by binary tensor
// data per the binary tensor data extension) to an InferRequest, and an InferResponse back to a
// body. Everything a client sends is checked before anything is allocated for it: shapes (rank,
// element counts without overflow), datatypes, element types and ranges of JSON data, binary
// sizes against the Inference-Header-Content-Length split, trailing bytes. An input in shared
// memory (parameter shared_memory_region) comes out without data, for the server to bind; an
// output the server wrote to shared memory goes back as name, datatype and shape only.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kiln/status.h"
#include "serve/http/http_server.h"
#include "serve/inference_server.h"

namespace kiln::serve::http {

// How the client wants each output back (decided by the request, applied to the response).
struct OutputEncoding {
  bool binaryByDefault = false;            // request parameter binary_data_output
  std::vector<std::pair<std::string, bool>> perOutput;  // outputs[i].parameters.binary_data
  bool binaryFor(const std::string& name) const;
};

struct ParsedInfer {
  std::unique_ptr<InferRequest> request;  // model/version/complete are the caller's to set
  OutputEncoding encoding;
};

// `headerLength`: the Inference-Header-Content-Length header, if present (the JSON part's size;
// the rest of the body is binary tensor data).
Result<ParsedInfer> parseInferRequest(std::shared_ptr<const std::string> body, const std::string* headerLength);

// The HTTP response for a completed request: 200 with JSON (and binary outputs after it, with
// Inference-Header-Content-Length), or the error mapped to its status.
Response encodeInferResponse(const InferResponse& resp, const OutputEncoding& enc);

}  // namespace kiln::serve::http
