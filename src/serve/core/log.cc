// Log lines on stderr, one write per line so concurrent lines do not interleave.
#include "serve/core/log.h"

#include <sys/time.h>
#include <unistd.h>

#include <ctime>

namespace kiln::serve::log {

namespace {
std::atomic<int> gVerbose{0};
}

void setVerbose(int level) { gVerbose = level; }
int verbose() { return gVerbose.load(std::memory_order_relaxed); }

void write(Level level, const std::string& line) {
  timeval tv;
  gettimeofday(&tv, nullptr);
  tm t;
  localtime_r(&tv.tv_sec, &t);
  char c = level == Level::kError ? 'E' : level == Level::kWarning ? 'W' : 'I';
  std::string out = fmt::format("{}{:02}{:02} {:02}:{:02}:{:02}.{:06} {}\n", c, t.tm_mon + 1, t.tm_mday, t.tm_hour,
                                t.tm_min, t.tm_sec, static_cast<long>(tv.tv_usec), line);
  ssize_t ignored = ::write(2, out.data(), out.size());
  (void)ignored;
}

}  // namespace kiln::serve::log
