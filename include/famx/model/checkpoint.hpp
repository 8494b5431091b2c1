#pragma once
// model::checkpoint: the weights of one checkpoint directory for the reference forward, read
// through the io layer (config.json via load_model_config, the safetensors files via
// sharded_safetensors, mlx-lm's sanitize() applied for Hugging Face layouts), handed out as fp32
// vectors and model::linear projections, dequantized or kept quantized (weight_path). A
// checkpoint_source hands them to the surface binder (model/weights.hpp), leaf by leaf.

#include <filesystem>
#include <algorithm>
#include <cstdint>
#include <memory>
#include <set>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "famx/io/config.hpp"
#include "famx/io/sanitize.hpp"
#include "famx/io/sharded_safetensors.hpp"
#include "famx/model/weights.hpp"

namespace famx::model {

// How quantized weights run: dequantized once to fp32, or through the quantized kernels.
enum class weight_path { dequantized, quantized };

// An opened checkpoint: config, files and the sanitized tensor table (shared, immutable).
class checkpoint {
 public:
  // Opens `dir` (a family of Families): config.json, the safetensors files and, for a Hugging
  // Face layout, sanitize.
  template <class Families = families::builtin>
  static result<checkpoint> open(const std::filesystem::path& dir) {
    auto st = std::make_shared<state>();
    st->dir = dir.string();
    auto m = io::load_model_config<Families>(dir);
    if (!m) return m.err();
    st->model = std::move(*m);
    auto files = io::sharded_safetensors::open_directory(dir);
    if (!files) return files.err();
    st->files.emplace(std::move(*files));
    std::vector<io::tensor_entry> entries;
    for (const auto& l : st->files->tensors()) entries.push_back(st->files->entry(l));
    const io::sanitize_plan plan = io::plan_sanitize<Families>(entries, st->model.description, st->model.wrapper);
    auto s = io::apply_sanitize(*st->files, plan, st->model.description);
    if (!s) return s.err();
    st->tensors = std::move(*s);
    return checkpoint(std::move(st));
  }

  // The parsed config.json.
  const io::loaded_model& model() const noexcept { return s_->model; }
  // The prefix of every tensor name ("language_model." inside a mistral3 wrapper).
  std::string prefix() const { return io::weight_prefix(s_->model.wrapper); }
  // Whether the checkpoint holds a tensor called `name`.
  bool has(std::string_view name) const { return s_->tensors.find(name) != nullptr; }
  // The checkpoint tensors read so far (after sanitize: `.weight`, `.scales`, `.biases`, ...).
  const std::set<std::string, std::less<>>& read() const noexcept { return s_->read; }
  // A fingerprint of the checkpoint (FNV-1a over config.json's bytes, every tensor's name, dtype and
  // shape, and its first 64 bytes): ranks of a split model compare it to find one pointed elsewhere.
  std::uint64_t fingerprint() const {
    std::uint64_t h = 0xcbf29ce484222325ull;
    const auto mix = [&](const void* p, std::size_t n) {
      for (std::size_t i = 0; i < n; ++i) h = (h ^ static_cast<const unsigned char*>(p)[i]) * 0x100000001b3ull;
    };
    if (auto text = io::read_regular_file(s_->model.file)) mix(text->data(), text->size());
    for (const io::named_view& v : s_->tensors.tensors) {
      mix(v.name.data(), v.name.size());
      const std::string d = std::string(to_string(v.view.type)) + to_string(v.view.dims);
      mix(d.data(), d.size());
      if (v.view.is_contiguous()) mix(v.view.data, std::min<std::size_t>(64, v.view.nbytes()));
    }
    return h;
  }
  // The whole tensor `name` as the files hold it after sanitize (not counted as read).
  result<tensor_view> whole(std::string_view name) const {
    if (const io::named_view* v = s_->tensors.find(name)) return v->view;
    return error(errc::missing, std::string(name), "no such tensor", "a tensor of this name (the shard plan)", s_->dir);
  }
  // This checkpoint with `parts` (contiguous) standing in for the tensors of their names: one rank's
  // slices of a split model. Every tensor read afterwards must be one of them.
  checkpoint with_parts(std::vector<std::pair<std::string, tensor>> parts) const {
    checkpoint c(s_);
    auto o = std::make_shared<io::sanitized_checkpoint>();
    std::ranges::sort(parts, {}, &std::pair<std::string, tensor>::first);
    for (auto& [name, t] : parts) {
      o->owned.push_back(std::move(t));
      o->tensors.push_back({name, o->owned.back().view()});
    }
    c.parts_ = std::move(o);
    return c;
  }

  // The float tensor `name` in fp32, checked to hold `numel` elements.
  result<std::vector<float>> floats(const std::string& name, std::size_t numel) const {
    auto v = view(name);
    if (!v) return v.err();
    if (v->type != dtype::f32 && v->type != dtype::f16 && v->type != dtype::bf16)
      return error(errc::wrong_type, name, std::string(to_string(v->type)), "a float tensor (f32, f16 or bf16)", s_->dir);
    if (static_cast<std::size_t>(v->numel()) != numel || !v->is_contiguous())
      return error(errc::shape_mismatch, name, to_string(v->dims), std::to_string(numel) + " contiguous elements", s_->dir);
    std::vector<float> out(numel);
    for (std::size_t i = 0; i < numel; ++i) out[i] = load_float(v->data, v->type, i);
    return out;
  }

  // The projections stored under `module` (`module.weight`, quantized with `.scales` / `.biases`
  // or float): one per leading index of a [n, rows, cols] stack (experts, heads), or n = 1 for a
  // [rows, cols] matrix (then pass n = 0). `module.bias` is read when `bias` is set.
  // Quantized weights are dequantized unless `path` is quantized; `keep_dense` also keeps fp32.
  result<std::vector<linear>> linears(const std::string& module, std::size_t n, std::size_t rows, std::size_t cols,
                                      weight_path path, bool bias = false, bool keep_dense = false) const {
    auto w = view(module + ".weight");
    if (!w) return w.err();
    const std::size_t count = n == 0 ? 1 : n;
    std::vector<linear> out(count);
    const bool packed = has(module + ".scales");
    const std::size_t rank = n == 0 ? 2 : 3;
    const std::size_t width = packed ? 0 : cols;
    if (w->dims.rank() != rank || (n != 0 && static_cast<std::size_t>(w->dims[0]) != n) ||
        static_cast<std::size_t>(w->dims.dim(-2)) != rows || (!packed && static_cast<std::size_t>(w->dims.dim(-1)) != width))
      return error(errc::shape_mismatch, module + ".weight", to_string(w->dims),
                   (n ? "[" + std::to_string(n) + ", " : "[") + std::to_string(rows) + ", " +
                       (packed ? "in*bits/32" : std::to_string(cols)) + "]",
                   s_->dir);
    if (packed) {
      auto fmt = format_of(module);
      if (!fmt) return fmt.err();
      auto sc = view(module + ".scales"), bi = view(module + ".biases");
      if (!sc) return sc.err();
      if (!bi) return bi.err();
      for (std::size_t e = 0; e < count; ++e) {
        const auto at = [&](const tensor_view& t) { return n == 0 ? t : t[static_cast<std::int64_t>(e)]; };
        if (n != 0 && (sc->dims.rank() != 3 || bi->dims.rank() != 3 || static_cast<std::size_t>(sc->dims[0]) != n ||
                       static_cast<std::size_t>(bi->dims[0]) != n))
          return error(errc::shape_mismatch, module + ".scales", to_string(sc->dims), "a stack of " + std::to_string(n), s_->dir);
        auto q = quant::make_qmatrix_view(at(*w), at(*sc), at(*bi), *fmt, module);
        if (!q) {
          error bad = q.err();
          return bad.at_file(s_->dir);
        }
        if (q->cols != cols)
          return error(errc::shape_mismatch, module + ".weight", to_string(w->dims),
                       std::to_string(cols) + " columns once unpacked", s_->dir);
        linear& l = out[e];
        l.rows = rows, l.cols = cols;
        if (path == weight_path::quantized) l.quantized = *q;
        if (path == weight_path::dequantized || keep_dense) {
          const tensor d = quant::dequantize(*q, dtype::f32);
          l.dense.assign(d.as<float>().begin(), d.as<float>().end());
        }
      }
    } else {
      auto all = floats(module + ".weight", count * rows * cols);
      if (!all) return all.err();
      for (std::size_t e = 0; e < count; ++e) {
        out[e].rows = rows, out[e].cols = cols;
        out[e].dense.assign(all->begin() + static_cast<std::ptrdiff_t>(e * rows * cols),
                            all->begin() + static_cast<std::ptrdiff_t>((e + 1) * rows * cols));
      }
    }
    if (bias) {
      auto b = floats(module + ".bias", count * rows);
      if (!b) return b.err();
      for (std::size_t e = 0; e < count; ++e)
        out[e].bias.assign(b->begin() + static_cast<std::ptrdiff_t>(e * rows), b->begin() + static_cast<std::ptrdiff_t>((e + 1) * rows));
    }
    return out;
  }
  // One [rows, cols] projection (see linears).
  result<linear> linear_of(const std::string& module, std::size_t rows, std::size_t cols, weight_path path,
                           bool bias = false) const {
    auto l = linears(module, 0, rows, cols, path, bias);
    if (!l) return l.err();
    return std::move(l->front());
  }

 private:
  struct state {
    std::string dir;
    io::loaded_model model;
    std::optional<io::sharded_safetensors> files;
    io::sanitized_checkpoint tensors;
    mutable std::set<std::string, std::less<>> read;
  };
  explicit checkpoint(std::shared_ptr<const state> s) : s_(std::move(s)) {}

  result<tensor_view> view(const std::string& name) const {
    if (parts_) {
      if (const io::named_view* v = parts_->find(name)) {
        s_->read.insert(name);
        return v->view;
      }
      return error(errc::missing, name, "a tensor this rank does not hold", "one of the rank's slices (the shard plan)", s_->dir);
    }
    if (const io::named_view* v = s_->tensors.find(name)) {
      s_->read.insert(name);
      return v->view;
    }
    return error(errc::missing, name, "no such tensor", "a tensor of this name (the family surface)", s_->dir);
  }
  // The affine format of a quantized module: its override in the quantization dict, else the global one.
  result<quant::affine_format> format_of(const std::string& module) const {
    const auto& q = s_->model.quantization;
    if (!q) return error(errc::missing, "quantization", "no quantization dict, but " + module + ".scales exists",
                         "the MLX quantization key for a quantized checkpoint", s_->model.file);
    if (const auto* o = q->find(module)) {
      if (!o->format) return error(errc::inconsistent, "quantization." + module, "false", "a format: " + module + " is quantized", s_->model.file);
      return *o->format;
    }
    return q->global;
  }

  std::shared_ptr<const state> s_;
  std::shared_ptr<const io::sanitized_checkpoint> parts_;  // a rank's slices, when set
};

// A checkpoint as the surface binder reads it: each leaf's tensors as its bound value, quantized
// weights dequantized or kept for the kernels (path).
struct checkpoint_source {
  const checkpoint& ck;
  weight_path path = weight_path::dequantized;

  // The value of a leaf whose tensors are `e` (its weight first; a linear's bias second).
  template <class Leaf>
  result<typename leaf_value<Leaf>::type> load(const std::vector<surface::tensor_entry>& e) const {
    using T = typename leaf_value<Leaf>::type;
    const surface::tensor_entry& w = e.front();
    const auto dim = [&](std::size_t i) { return static_cast<std::size_t>(w.dims[i]); };
    if constexpr (std::is_same_v<T, linear>) {
      return ck.linear_of(w.module, dim(0), dim(1), path, e.size() > 1);
    } else if constexpr (std::is_same_v<T, std::vector<linear>>) {
      return ck.linears(w.module, dim(0), dim(1), dim(2), path);
    } else if constexpr (std::is_same_v<T, affine_norm>) {
      auto weight = ck.floats(w.name, dim(0));
      if (!weight) return weight.err();
      auto bias = ck.floats(e.back().name, dim(0));
      if (!bias) return bias.err();
      return affine_norm{std::move(*weight), std::move(*bias)};
    } else {
      return ck.floats(w.name, static_cast<std::size_t>(w.numel()));
    }
  }
};

}  // namespace famx::model
