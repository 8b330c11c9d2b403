/* A stand-in libnvidia-ml.so.1 for testing SystemMetrics without a GPU: three fake devices with
 * distinct readings, exporting only the NVML entry points Kiln resolves. The ctest that uses it
 * puts its folder first on LD_LIBRARY_PATH, so dlopen("libnvidia-ml.so.1") finds it. */
#include <stdio.h>
#include <string.h>

typedef struct {
  unsigned int gpu, memory;
} Util;
typedef struct {
  unsigned long long total, free, used;
} Mem;

enum { kDevices = 3 };
static int initialized;

int nvmlInit_v2(void) {
  initialized = 1;
  return 0;
}
int nvmlShutdown(void) {
  initialized = 0;
  return 0;
}
int nvmlDeviceGetCount_v2(unsigned int* n) {
  if (!initialized) return 1; /* NVML_ERROR_UNINITIALIZED */
  *n = kDevices;
  return 0;
}
/* A handle is the device index + 1 (never null). */
int nvmlDeviceGetHandleByIndex_v2(unsigned int i, void** handle) {
  if (i >= kDevices) return 2; /* NVML_ERROR_INVALID_ARGUMENT */
  *handle = (void*)(unsigned long)(i + 1);
  return 0;
}
static int indexOf(void* handle) { return (int)(unsigned long)handle - 1; }
int nvmlDeviceGetUUID(void* handle, char* uuid, unsigned int length) {
  snprintf(uuid, length, "GPU-00000000-0000-0000-0000-00000000000%d", indexOf(handle));
  return 0;
}
int nvmlDeviceGetUtilizationRates(void* handle, Util* u) {
  u->gpu = 10u * (unsigned)(indexOf(handle) + 1);
  u->memory = 0;
  return 0;
}
int nvmlDeviceGetMemoryInfo(void* handle, Mem* m) {
  m->total = 80ull << 30;
  m->used = (unsigned long long)(indexOf(handle) + 1) << 30;
  m->free = m->total - m->used;
  return 0;
}
int nvmlDeviceGetPowerUsage(void* handle, unsigned int* mw) {
  if (indexOf(handle) == 2) return 3; /* NVML_ERROR_NOT_SUPPORTED: this board reports no power */
  *mw = 100000u + 1000u * (unsigned)indexOf(handle);
  return 0;
}
