#pragma once
// famx::io::sharded_safetensors: the safetensors files of one checkpoint (sharded with an index, or
// not), validated across files, with one name -> tensor_view lookup over all of them.

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "famx/core/error.hpp"
#include "famx/core/tensor.hpp"
#include "famx/io/detail/json_text.hpp"
#include "famx/io/read_file.hpp"
#include "famx/io/safetensors_file.hpp"
#include "famx/io/safetensors_index.hpp"

namespace famx::io {

// The file name of a sharded checkpoint's index.
inline constexpr std::string_view safetensors_index_name = "model.safetensors.index.json";

// Several safetensors files read as one: every tensor in exactly one file and, with an index,
// exactly in the file the index names, and total_size equal to the bytes of all tensors.
class sharded_safetensors {
 public:
  // Where a tensor lives: files()[file].tensors()[entry].
  struct location {
    std::size_t file = 0;
    std::size_t entry = 0;
  };

  // Opens a checkpoint directory: through model.safetensors.index.json when present, otherwise
  // every model*.safetensors file in it (the files mlx-lm loads).
  static result<sharded_safetensors> open_directory(const std::filesystem::path& dir) {
    std::error_code ec;
    if (std::filesystem::exists(dir / safetensors_index_name, ec)) return open_index(dir / safetensors_index_name);
    std::vector<std::filesystem::path> paths;
    for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
      const std::string name = it->path().filename().string();
      if (name.starts_with("model") && name.ends_with(".safetensors")) paths.push_back(it->path());
    }
    if (ec) return error(errc::io, "", "a directory that cannot be listed (" + ec.message() + ")", "a checkpoint directory", dir.string());
    if (paths.empty())
      return error(errc::missing, "", "no model*.safetensors and no " + std::string(safetensors_index_name),
                   "a safetensors checkpoint", dir.string());
    std::ranges::sort(paths);
    sharded_safetensors out;
    for (const auto& p : paths) {
      auto f = safetensors_file::open(p);
      if (!f) return f.err();
      out.files_.push_back(std::move(*f));
    }
    if (auto r = out.build(); !r) return r.err();
    return out;
  }

  // Opens an index file and the shards it names (in the index's directory).
  static result<sharded_safetensors> open_index(const std::filesystem::path& index_path) {
    auto text = read_regular_file(index_path, "a readable index file");
    if (!text) return text.err();
    auto index = parse_safetensors_index(std::string_view(text->data(), text->size()), index_path.string());
    if (!index) return index.err();
    sharded_safetensors out;
    out.index_path_ = index_path;
    for (const std::string& file : index->files()) {
      auto f = safetensors_file::open(index_path.parent_path() / file);
      if (!f) {
        if (f.err().code() != errc::io) return f.err();
        const auto user = std::ranges::find(index->weight_map, file, [](const auto& e) -> const std::string& { return e.second; });
        return error(errc::missing, "weight_map." + detail::printable(user->first),
                     "shard \"" + detail::printable(file) + "\" that cannot be opened (" + f.err().found() + ")",
                     "an existing shard file", index_path.string());
      }
      out.files_.push_back(std::move(*f));
    }
    out.index_ = std::move(*index);
    if (auto r = out.build(); !r) return r.err();
    return out;
  }

  // The files, sorted by path.
  std::span<const safetensors_file> files() const noexcept { return files_; }
  // The index, when the checkpoint has one.
  const std::optional<safetensors_index>& index() const noexcept { return index_; }
  // Every tensor's location, sorted by tensor name.
  std::span<const location> tensors() const noexcept { return tensors_; }
  // The entry of a location.
  const tensor_entry& entry(const location& l) const noexcept { return files_[l.file].tensors()[l.entry]; }

  // The location of the tensor called `name`, or nullptr.
  const location* find(std::string_view name) const noexcept {
    auto it = std::ranges::lower_bound(tensors_, name, std::less<>{},
                                       [&](const location& l) -> const std::string& { return entry(l).name; });
    return it != tensors_.end() && entry(*it).name == name ? &*it : nullptr;
  }
  // The view of the tensor called `name`; errc::missing naming the tensor if no file holds it.
  result<tensor_view> tensor(std::string_view name) const {
    if (const location* l = find(name)) return files_[l->file].view(entry(*l));
    return error(errc::missing, detail::printable(name), "no such tensor", "a tensor of this name",
                 index_ ? index_path_.string() : files_.front().path().parent_path().string());
  }

 private:
  sharded_safetensors() = default;

  // Builds the name table and checks it across files (and against the index, when there is one).
  result<void> build() {
    for (std::size_t f = 0; f < files_.size(); ++f)
      for (std::size_t e = 0; e < files_[f].tensors().size(); ++e) tensors_.push_back({f, e});
    std::ranges::stable_sort(tensors_, std::less<>{}, [&](const location& l) -> const std::string& { return entry(l).name; });
    for (std::size_t i = 1; i < tensors_.size(); ++i) {
      const location a = tensors_[i - 1], b = tensors_[i];
      if (entry(a).name == entry(b).name)
        return error(errc::inconsistent, detail::printable(entry(b).name),
                     "the tensor also in " + files_[a.file].path().string(), "each tensor in exactly one file",
                     files_[b.file].path().string());
    }
    if (!index_) return {};
    std::uint64_t total = 0;
    for (const location& l : tensors_) {
      const tensor_entry& t = entry(l);
      const std::string* listed = index_->file_of(t.name);
      const std::string here = files_[l.file].path().filename().string();
      if (listed == nullptr)
        return error(errc::inconsistent, detail::printable(t.name), "a tensor the index does not list",
                     "only tensors listed in " + index_path_.filename().string(), files_[l.file].path().string());
      if (*listed != here)
        return error(errc::inconsistent, detail::printable(t.name), "the tensor in this file",
                     "it in " + detail::printable(*listed) + ", as the index says", files_[l.file].path().string());
      total += t.nbytes();
    }
    for (const auto& [name, file] : index_->weight_map)
      if (find(name) == nullptr)
        return error(errc::missing, detail::printable(name), "no such tensor in this file",
                     "the tensor " + index_path_.filename().string() + " lists here",
                     (index_path_.parent_path() / file).string());
    if (index_->total_size && *index_->total_size != total)
      return error(errc::inconsistent, "metadata.total_size", std::to_string(*index_->total_size),
                   std::to_string(total) + ", the bytes of all tensors", index_path_.string());
    return {};
  }

  std::vector<safetensors_file> files_;
  std::optional<safetensors_index> index_;
  std::filesystem::path index_path_;
  std::vector<location> tensors_;
};

}  // namespace famx::io
