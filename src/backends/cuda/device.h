// CUDA device discovery. Safe to call on machines without a GPU or driver: they have no devices.
#pragma once

#include <string>
#include <vector>

#include "kiln/status.h"

namespace kiln::cuda {

struct DeviceInfo {
  int index = 0;
  std::string name;
  std::string uuid;
  int major = 0, minor = 0;  // compute capability
  int multiprocessors = 0;
  size_t totalMemory = 0;
  size_t l2CacheBytes = 0;
  size_t sharedMemPerBlockOptin = 0;
};

// Every visible device; empty (not an error) when there is no GPU or no driver.
std::vector<DeviceInfo> listDevices();
// Why no device is available, for skip messages ("no CUDA driver", "no CUDA device").
std::string noDeviceReason();

// "sm_90" for compute capability 9.0.
std::string archName(const DeviceInfo& d);
// Library versions an engine depends on, as recorded in engine files and checked at load:
// cudart (runtime), cublasLt, cudnn ("9.14.0"). Versions of the libraries loaded now.
std::vector<std::pair<std::string, std::string>> libraryVersions();
// The CUDA driver's version ("13.0"), informational.
std::string driverVersion();

}  // namespace kiln::cuda
