#pragma once
// famx::io::read_regular_file: the whole text of a regular file (config.json, an index, a
// tokenizer config), read without ever blocking: a FIFO, a device or a directory is an error
// naming the file, never an open() that waits for a writer.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <system_error>

#include <simdjson.h>

#include "famx/core/error.hpp"

namespace famx::io {

// Largest file read_regular_file reads by default (real config and index files are far smaller).
inline constexpr std::size_t max_text_file_bytes = std::size_t{1} << 28;

// The bytes of the regular file at `path`, padded for simdjson; errc::io naming the file when it
// cannot be opened or read, is not a regular file, or is larger than `max_bytes`. `expected`
// describes the file in the error ("a readable config.json").
inline result<simdjson::padded_string> read_regular_file(const std::filesystem::path& path,
                                                         const std::string& expected = "a readable regular file",
                                                         std::size_t max_bytes = max_text_file_bytes) {
  auto fail = [&](std::string found) { return error(errc::io, "", std::move(found), expected, path.string()); };
  auto os_error = [](int e) { return std::generic_category().message(e); };
  // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer.
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return fail("a file that cannot be opened (" + os_error(errno) + ")");
  struct ::stat st {};
  if (::fstat(fd, &st) != 0) {
    const int e = errno;
    ::close(fd);
    return fail("a file that cannot be inspected (" + os_error(e) + ")");
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return fail(S_ISDIR(st.st_mode) ? "a directory" : "something that is not a regular file (a FIFO, socket or device)");
  }
  if (static_cast<std::uint64_t>(st.st_size) > max_bytes) {
    ::close(fd);
    return fail("a file of " + std::to_string(st.st_size) + " bytes (at most " + std::to_string(max_bytes) + " are read)");
  }
  std::string text;
  char buf[65536];
  for (;;) {
    const ::ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int e = errno;
      ::close(fd);
      return fail("a file that cannot be read (" + os_error(e) + ")");
    }
    if (n == 0) break;
    if (text.size() + static_cast<std::size_t>(n) > max_bytes) {
      ::close(fd);
      return fail("a file longer than " + std::to_string(max_bytes) + " bytes");
    }
    text.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return simdjson::padded_string(text);
}

}  // namespace famx::io
