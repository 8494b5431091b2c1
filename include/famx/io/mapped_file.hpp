#pragma once
// famx::io::mapped_file: a read-only POSIX memory mapping of a whole file (RAII, move-only).

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <filesystem>
#include <span>
#include <string>
#include <system_error>
#include <utility>

#include "famx/core/error.hpp"

namespace famx::io {

// A read-only, private mapping of a regular file. The bytes stay valid (and at the same address)
// until the mapping is destroyed, also across moves. Truncating the file while it is mapped is
// outside the contract (the kernel then raises SIGBUS on access).
class mapped_file {
 public:
  mapped_file() = default;
  mapped_file(const mapped_file&) = delete;
  mapped_file& operator=(const mapped_file&) = delete;
  mapped_file(mapped_file&& o) noexcept
      : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}
  mapped_file& operator=(mapped_file&& o) noexcept {
    if (this != &o) {
      unmap();
      data_ = std::exchange(o.data_, nullptr);
      size_ = std::exchange(o.size_, 0);
    }
    return *this;
  }
  ~mapped_file() { unmap(); }

  // Maps the file at `path`; errc::io naming the file when it cannot be opened, is not a regular
  // file or cannot be mapped. An empty file gives an empty mapping.
  static result<mapped_file> open(const std::filesystem::path& path) {
    auto fail = [&](std::string found) {
      return error(errc::io, "", std::move(found), "a readable regular file", path.string());
    };
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
      return fail("something that is not a regular file");
    }
    mapped_file m;
    m.size_ = static_cast<std::size_t>(st.st_size);
    if (m.size_ > 0) {
      void* p = ::mmap(nullptr, m.size_, PROT_READ, MAP_PRIVATE, fd, 0);
      if (p == MAP_FAILED) {
        const int e = errno;
        ::close(fd);
        return fail("a file that cannot be mapped (" + os_error(e) + ")");
      }
      m.data_ = static_cast<const std::byte*>(p);
    }
    ::close(fd);
    return m;
  }

  // The file's bytes.
  std::span<const std::byte> bytes() const noexcept { return {data_, size_}; }
  std::size_t size() const noexcept { return size_; }

 private:
  void unmap() noexcept {
    if (data_ != nullptr) ::munmap(const_cast<std::byte*>(data_), size_);
    data_ = nullptr;
    size_ = 0;
  }

  const std::byte* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace famx::io
