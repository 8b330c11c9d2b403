// The server's log: one line per event on stderr, "I1203 10:15:02.123 model 'x' ...", in the
// spirit of Triton's log format. Levels: error/warning/info always; verbose lines when
// --log-verbose >= their level.
#pragma once

#include <atomic>
#include <string>

#include <fmt/format.h>

namespace kiln::serve::log {

enum class Level { kError, kWarning, kInfo, kVerbose };

void setVerbose(int level);
int verbose();
void write(Level level, const std::string& line);

template <typename... Args>
void info(fmt::format_string<Args...> f, Args&&... args) {
  write(Level::kInfo, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void warn(fmt::format_string<Args...> f, Args&&... args) {
  write(Level::kWarning, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void error(fmt::format_string<Args...> f, Args&&... args) {
  write(Level::kError, fmt::format(f, std::forward<Args>(args)...));
}
// Formatted only when enabled: verbose lines sit on hot paths.
#define KILN_SERVE_VLOG(level, ...)                                                       \
  do {                                                                                    \
    if (::kiln::serve::log::verbose() >= (level))                                        \
      ::kiln::serve::log::write(::kiln::serve::log::Level::kVerbose, fmt::format(__VA_ARGS__)); \
  } while (0)

}  // namespace kiln::serve::log
