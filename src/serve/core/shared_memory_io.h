// Tensor data in system shared memory: resolving the shared_memory_region / _byte_size / _offset
// parameters of a request's inputs and requested outputs against the registered regions, and
// writing outputs into their regions when the request completes. Frontends only pass the
// parameters through (and leave such inputs without data); everything else happens here, once
// for HTTP and gRPC.
//
// Rules (Triton's): the offset is relative to the region's own offset and defaults to 0; the
// range must lie inside the region; an input's byte size must equal what its shape and datatype
// need (BYTES: the serialized 4-byte-length + bytes form); an output's region range must be at
// least as large as the output turns out to be. Regions are looked up when the request arrives
// and held by it, so unregistering one later does not affect a request already accepted.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kiln/status.h"
#include "serve/core/shared_memory.h"
#include "serve/inference_server.h"

namespace kiln::serve {

// The shared-memory parameters of one tensor.
struct SharedMemoryRef {
  std::string region;
  uint64_t offset = 0;
  uint64_t byteSize = 0;
};

// nullopt when `params` names no region; InvalidArgument (naming `where`) for a region that is
// not a string, a missing or non-integer byte size, a negative offset.
Result<std::optional<SharedMemoryRef>> sharedMemoryRefOf(const Params& params, std::string_view where);

// Gives every input whose parameters name a region the bytes of that region: in place when the
// address suits the element type (the tensor then holds the region), else copied (unaligned
// data, BOOL normalized to 0/1, BYTES parsed into strings). Removes the shared-memory parameters.
Status bindSharedMemoryInputs(const SharedMemoryRegistry& registry, InferRequest& req);

// Where one requested output goes.
struct SharedMemoryOutput {
  std::string name;
  std::shared_ptr<SharedMemoryRegion> region;  // keeps the mapping for the write
  uint8_t* at = nullptr;
  uint64_t byteSize = 0;
};
Result<std::vector<SharedMemoryOutput>> resolveSharedMemoryOutputs(const SharedMemoryRegistry& registry,
                                                                   const InferRequest& req);

// Copies the outputs of a successful response into their regions and marks them inSharedMemory
// (their data dropped). Checks every size before writing anything: an output larger than its
// range fails the response (InvalidArgument, Triton's message) and no region is written.
Status writeSharedMemoryOutputs(const std::vector<SharedMemoryOutput>& targets, InferResponse& resp);

}  // namespace kiln::serve
