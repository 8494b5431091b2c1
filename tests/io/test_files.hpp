#pragma once
// Test helpers for io tests: a fresh temporary directory, raw file writing and hand-made
// safetensors bytes.

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <string_view>

namespace famx::test {

// A fresh directory under the system temp directory, removed with its contents on destruction.
class temp_dir {
 public:
  temp_dir() {
    std::random_device rd;
    const auto base = std::filesystem::temp_directory_path();
    do {
      path_ = base / ("famx-test-" + std::to_string(rd()) + std::to_string(rd()));
    } while (!std::filesystem::create_directory(path_));
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const noexcept { return path_; }
  std::filesystem::path operator/(std::string_view name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

// Writes `bytes` to `path` verbatim.
inline void write_bytes(const std::filesystem::path& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// The whole file as a string.
inline std::string read_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// A safetensors file: `header_length` as u64 LE, then `json`, then `data_bytes` bytes 0, 1, 2, ...
inline std::string safetensors_bytes(std::string_view json, std::size_t data_bytes, std::uint64_t header_length) {
  std::string out;
  for (int i = 0; i < 8; ++i) out += static_cast<char>((header_length >> (8 * i)) & 0xff);
  out += json;
  for (std::size_t i = 0; i < data_bytes; ++i) out += static_cast<char>(i & 0xff);
  return out;
}
// The same with the true header length.
inline std::string safetensors_bytes(std::string_view json, std::size_t data_bytes) {
  return safetensors_bytes(json, data_bytes, json.size());
}

}  // namespace famx::test
