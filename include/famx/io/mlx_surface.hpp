#pragma once
// The tensors an MLX checkpoint of a model holds (the family surface, which names the modules as
// mlx-lm holds them after sanitize), under the weight prefix of a wrapper, and for each tensor the
// file tensors that store it (a float tensor, or the packed weight + scales + biases triplet of an
// affine format), with the format chosen by mlx-lm's load rule (spec 5.6).

#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "famx/families/describe.hpp"
#include "famx/families/registry.hpp"
#include "famx/io/quantization.hpp"

namespace famx::io {

// Where a checkpoint's tensor names start: "" or the wrapper's prefix ("language_model." in mistral3).
inline std::string weight_prefix(std::string_view wrapper) {
  const families::wrapper* w = wrapper.empty() ? nullptr : families::find_wrapper(wrapper, {});
  return w ? std::string(w->weight_prefix) : "";
}

// The decoder layer index of `model.layers.<i>.*` after `prefix`, or nullopt.
inline std::optional<std::int64_t> layer_of(std::string_view name, std::string_view prefix) {
  constexpr std::string_view layers = "model.layers.";
  if (!name.starts_with(prefix) || !name.substr(prefix.size()).starts_with(layers)) return std::nullopt;
  const std::string_view rest = name.substr(prefix.size() + layers.size());
  std::int64_t i = 0;
  const auto r = std::from_chars(rest.data(), rest.data() + rest.size(), i);
  if (r.ec != std::errc{} || r.ptr == rest.data() || r.ptr == rest.data() + rest.size() || *r.ptr != '.')
    return std::nullopt;
  return i;
}

// The tensors mlx-lm holds for model d, in checkpoint order, names and module paths prefixed with
// `prefix`.
inline std::vector<surface::tensor_entry> mlx_tensors(const families::model_description& d,
                                                      std::string_view prefix = {}) {
  std::vector<surface::tensor_entry> out = d.tensors;
  for (surface::tensor_entry& t : out) {
    t.name.insert(0, prefix);
    t.module.insert(0, prefix);
  }
  return out;
}

// The format mlx-lm loads module tensor t in (spec 5.6): the override for its module when the
// quantization dict has one (`false`: float); otherwise the global format when the module can be
// quantized and the checkpoint holds `<module>.scales`; otherwise float (nullopt).
inline std::optional<quant::affine_format> load_format(const surface::tensor_entry& t,
                                                       const std::optional<quantization_config>& q,
                                                       bool has_scales) {
  if (!t.packs || !q) return std::nullopt;
  if (const auto* o = q->find(t.module)) return o->format;
  if (t.rule == surface::quant_rule::never || !has_scales) return std::nullopt;
  return q->global;
}

// What one file tensor is to the module that owns it.
enum class stored_role { floating, packed, scales, biases };

// One tensor a checkpoint file must hold: its name, its shape and its role.
struct stored_entry {
  std::string name;
  shape dims;
  stored_role role = stored_role::floating;
};

// The file tensors storing t in format f: `t.name` itself (float, logical shape), or
// `<module>.weight` u32 [..., in*bits/32] with `<module>.scales` and `<module>.biases` [..., in/group].
// A quantized shape that cannot hold whole groups is returned as is; the caller checks in % group.
inline std::vector<stored_entry> stored_entries(const surface::tensor_entry& t,
                                                const std::optional<quant::affine_format>& f) {
  if (!f) return {{t.name, t.dims, stored_role::floating}};
  const auto in = static_cast<std::size_t>(t.dims.dim(-1));
  shape packed = t.dims, groups = t.dims;
  packed[t.dims.rank() - 1] = static_cast<std::int64_t>(f->packed_words(in));
  groups[t.dims.rank() - 1] = static_cast<std::int64_t>(f->groups(in));
  return {{t.module + ".weight", packed, stored_role::packed},
          {t.module + ".scales", groups, stored_role::scales},
          {t.module + ".biases", groups, stored_role::biases}};
}

}  // namespace famx::io
