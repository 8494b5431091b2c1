#pragma once
// Writing safetensors files from tensor views, and sharded checkpoints with their index.
//
// Layout written: the data area holds the tensors by decreasing element size, then by name, so each
// tensor starts at a multiple of its element size; the JSON header lists "__metadata__" (when
// there is metadata) then the tensors in that same order, and is padded with spaces to a multiple
// of 8 bytes, as the reference implementation does. Views may be strided; their elements are
// written in row-major order.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <simdjson.h>

#include "famx/core/error.hpp"
#include "famx/core/tensor.hpp"
#include "famx/io/detail/json_text.hpp"
#include "famx/io/safetensors_dtype.hpp"
#include "famx/io/safetensors_header.hpp"
#include "famx/io/safetensors_index.hpp"

namespace famx::io {

// A tensor to write: its name and a view of its elements.
struct named_view {
  std::string name;
  tensor_view view;
};

namespace detail {

// A file written to `<path>.tmp` and renamed to `path` on commit(); removed if never committed.
class staged_file {
 public:
  explicit staged_file(std::filesystem::path path)
      : path_(std::move(path)), tmp_(path_.string() + ".tmp"), f_(std::fopen(tmp_.c_str(), "wb")) {}
  staged_file(const staged_file&) = delete;
  staged_file& operator=(const staged_file&) = delete;
  ~staged_file() {
    if (f_ != nullptr) std::fclose(f_);
    if (!committed_) {
      std::error_code ec;
      std::filesystem::remove(tmp_, ec);
    }
  }

  bool ok() const noexcept { return f_ != nullptr && std::ferror(f_) == 0; }
  void write(const void* p, std::size_t n) noexcept {
    if (f_ != nullptr && n > 0) std::fwrite(p, 1, n, f_);
  }
  // Closes and renames into place; false on any write, close or rename failure.
  bool commit() noexcept {
    if (f_ == nullptr) return false;
    const bool good = std::ferror(f_) == 0;
    const bool closed = std::fclose(f_) == 0;
    f_ = nullptr;
    if (!good || !closed) return false;
    std::error_code ec;
    std::filesystem::rename(tmp_, path_, ec);
    committed_ = !ec;
    return committed_;
  }

 private:
  std::filesystem::path path_, tmp_;
  std::FILE* f_;
  bool committed_ = false;
};

// Writes the elements of v in row-major order: one write per contiguous block.
inline void write_elements(staged_file& out, const tensor_view& v) {
  if (v.is_contiguous()) {
    out.write(v.data, v.nbytes());
    return;
  }
  for (std::int64_t i = 0; i < v.dims[0]; ++i) write_elements(out, v[i]);
}

inline error write_error(const std::filesystem::path& path) {
  return error(errc::io, "", "a file that cannot be written", "a writable path", path.string());
}

}  // namespace detail

// Writes `tensors` (and `metadata` as "__metadata__") as a safetensors file at `path`. Names must
// be unique, valid UTF-8 and not "__metadata__"; dimensions non-negative. The file is written
// under a temporary name and renamed into place.
inline result<void> write_safetensors(const std::filesystem::path& path, std::span<const named_view> tensors,
                                      const std::map<std::string, std::string, std::less<>>& metadata = {}) {
  auto fail = [&](errc c, std::string name, std::string found, std::string expected) {
    return error(c, detail::printable(name), std::move(found), std::move(expected), path.string());
  };
  std::vector<const named_view*> order;
  for (const named_view& t : tensors) {
    if (!simdjson::validate_utf8(t.name)) return fail(errc::invalid_value, t.name, "a name that is not UTF-8", "a UTF-8 name");
    if (t.name == "__metadata__") return fail(errc::invalid_value, t.name, "the reserved name", "a tensor name");
    for (const std::int64_t d : t.view.dims.dims())
      if (d < 0) return fail(errc::invalid_value, t.name, "shape " + to_string(t.view.dims), "non-negative dimensions");
    if (t.view.data == nullptr && t.view.numel() > 0)
      return fail(errc::invalid_value, t.name, "a view without data", "a view of its elements");
    order.push_back(&t);
  }
  for (const auto& [k, v] : metadata)
    if (!simdjson::validate_utf8(k) || !simdjson::validate_utf8(v))
      return fail(errc::invalid_value, "__metadata__." + k, "text that is not UTF-8", "UTF-8 text");
  std::ranges::sort(order, std::less<>{}, &named_view::name);
  const auto dup = std::ranges::adjacent_find(order, std::equal_to<>{}, &named_view::name);
  if (dup != order.end()) return fail(errc::inconsistent, (*dup)->name, "the name twice", "unique tensor names");
  std::ranges::stable_sort(order, std::greater<>{}, [](const named_view* t) { return size_of(t->view.type); });

  std::string json = "{";
  if (!metadata.empty()) {
    json += "\"__metadata__\":{";
    bool first = true;
    for (const auto& [k, v] : metadata) {
      if (!std::exchange(first, false)) json += ',';
      detail::append_json_string(json, k);
      json += ':';
      detail::append_json_string(json, v);
    }
    json += '}';
  }
  std::uint64_t offset = 0;
  for (const named_view* t : order) {
    if (json.size() > 1) json += ',';
    detail::append_json_string(json, t->name);
    json += ":{\"dtype\":\"";
    json += safetensors_name(t->view.type);
    json += "\",\"shape\":[";
    for (std::size_t i = 0; i < t->view.dims.rank(); ++i)
      json += (i ? "," : "") + std::to_string(t->view.dims[i]);
    const std::uint64_t end = offset + t->view.nbytes();
    json += "],\"data_offsets\":[" + std::to_string(offset) + "," + std::to_string(end) + "]}";
    offset = end;
  }
  json += '}';
  json.append((8 - json.size() % 8) % 8, ' ');

  detail::staged_file out(path);
  unsigned char len[8];
  for (std::size_t i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>(json.size() >> (8 * i));
  out.write(len, sizeof len);
  out.write(json.data(), json.size());
  for (const named_view* t : order) detail::write_elements(out, t->view);
  if (!out.commit()) return detail::write_error(path);
  return {};
}

// Writes an index file ("metadata": {"total_size"}, "weight_map" sorted by tensor name), in the
// layout Hugging Face and mlx-lm write.
inline result<void> write_safetensors_index(const std::filesystem::path& path, const safetensors_index& index) {
  std::string json = "{\n  \"metadata\": {";
  if (index.total_size) json += "\n    \"total_size\": " + std::to_string(*index.total_size) + "\n  ";
  json += "},\n  \"weight_map\": {";
  bool first = true;
  for (const auto& [name, file] : index.weight_map) {
    json += std::exchange(first, false) ? "\n    " : ",\n    ";
    detail::append_json_string(json, name);
    json += ": ";
    detail::append_json_string(json, file);
  }
  json += first ? "}\n}\n" : "\n  }\n}\n";
  detail::staged_file out(path);
  out.write(json.data(), json.size());
  if (!out.commit()) return detail::write_error(path);
  return {};
}

// Writes `tensors` into directory `dir` as a checkpoint: a single `model.safetensors` when they fit
// in `max_shard_bytes`, otherwise `model-0000k-of-0000n.safetensors` shards filled in name order
// (a shard exceeds the limit only to hold one tensor larger than it) plus
// `model.safetensors.index.json`. `metadata` goes into every file. Returns the files written.
inline result<std::vector<std::filesystem::path>> write_sharded_safetensors(
    const std::filesystem::path& dir, std::span<const named_view> tensors, std::uint64_t max_shard_bytes,
    const std::map<std::string, std::string, std::less<>>& metadata = {}) {
  std::vector<named_view> sorted(tensors.begin(), tensors.end());
  std::ranges::sort(sorted, std::less<>{}, &named_view::name);
  std::vector<std::vector<named_view>> shards(1);
  std::uint64_t in_shard = 0, total = 0;
  for (named_view& t : sorted) {
    const std::uint64_t n = t.view.nbytes();
    if (!shards.back().empty() && in_shard + n > max_shard_bytes) {
      shards.emplace_back();
      in_shard = 0;
    }
    in_shard += n;
    total += n;
    shards.back().push_back(std::move(t));
  }
  std::vector<std::filesystem::path> written;
  if (shards.size() == 1) {
    written.push_back(dir / "model.safetensors");
    if (auto r = write_safetensors(written.back(), shards[0], metadata); !r) return r.err();
    return written;
  }
  auto five = [](std::size_t i) {
    std::string s = std::to_string(i);
    return std::string(s.size() < 5 ? 5 - s.size() : 0, '0') + s;
  };
  safetensors_index index;
  index.total_size = total;
  for (std::size_t k = 0; k < shards.size(); ++k) {
    const std::string file = "model-" + five(k + 1) + "-of-" + five(shards.size()) + ".safetensors";
    written.push_back(dir / file);
    if (auto r = write_safetensors(written.back(), shards[k], metadata); !r) return r.err();
    for (const named_view& t : shards[k]) index.weight_map.emplace_back(t.name, file);
  }
  std::ranges::sort(index.weight_map);
  written.push_back(dir / "model.safetensors.index.json");
  if (auto r = write_safetensors_index(written.back(), index); !r) return r.err();
  return written;
}

}  // namespace famx::io
