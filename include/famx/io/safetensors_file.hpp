#pragma once
// famx::io::safetensors_file: one memory-mapped, validated safetensors file whose tensors are
// tensor_views into the mapping (no tensor data is copied).

#include <cstddef>
#include <filesystem>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "famx/core/error.hpp"
#include "famx/core/tensor.hpp"
#include "famx/io/mapped_file.hpp"
#include "famx/io/safetensors_header.hpp"

namespace famx::io {

// A mapped safetensors file with its validated header. Views stay valid while the object lives
// (moves keep them valid). A view's data is aligned to its element size when the header length
// and offsets are (files written by famx and by the reference implementation are).
class safetensors_file {
 public:
  // Maps and validates the file at `path`; every error names the file.
  static result<safetensors_file> open(const std::filesystem::path& path) {
    auto mapped = mapped_file::open(path);
    if (!mapped) return mapped.err();
    auto header = parse_safetensors_header(mapped->bytes(), path.string());
    if (!header) return header.err();
    return safetensors_file(path, std::move(*mapped), std::move(*header));
  }

  const std::filesystem::path& path() const noexcept { return path_; }
  const safetensors_header& header() const noexcept { return header_; }
  // Every tensor, sorted by name.
  std::span<const tensor_entry> tensors() const noexcept { return header_.tensors; }
  const std::map<std::string, std::string, std::less<>>& metadata() const noexcept { return header_.metadata; }
  // The tensor called `name`, or nullptr.
  const tensor_entry* find(std::string_view name) const noexcept { return header_.find(name); }

  // The raw bytes of a tensor of this file.
  std::span<const std::byte> bytes(const tensor_entry& t) const noexcept {
    return map_.bytes().subspan(static_cast<std::size_t>(header_.data_offset + t.begin),
                                static_cast<std::size_t>(t.nbytes()));
  }
  // A contiguous view of a tensor of this file.
  tensor_view view(const tensor_entry& t) const noexcept {
    return tensor_view::contiguous(bytes(t).data(), t.type, t.dims);
  }
  // The view of the tensor called `name`; errc::missing naming the file and tensor if absent.
  result<tensor_view> tensor(std::string_view name) const {
    if (const tensor_entry* t = find(name)) return view(*t);
    return error(errc::missing, detail::printable(name), "no such tensor", "a tensor of this name",
                 path_.string());
  }

 private:
  safetensors_file(std::filesystem::path path, mapped_file map, safetensors_header header)
      : path_(std::move(path)), map_(std::move(map)), header_(std::move(header)) {}

  std::filesystem::path path_;
  mapped_file map_;
  safetensors_header header_;
};

}  // namespace famx::io
