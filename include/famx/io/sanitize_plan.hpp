#pragma once
// What mlx-lm's sanitize() does to one checkpoint, as a plan: the tensors it drops and why, and the
// renames it applies from the Hugging Face layout, each rename carrying the functions of the step
// that planned it (how to compute its targets and how to say where they come from). The steps
// themselves are io::sanitize_step<Step> (io/sanitize_steps.hpp), one per families::sanitize tag.

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "famx/core/error.hpp"
#include "famx/core/tensor.hpp"
#include "famx/families/describe.hpp"
#include "famx/io/safetensors.hpp"
#include "famx/quant/quantize.hpp"

namespace famx::io {

struct rename_step;

// Where a rename's computed tensors go: owned tensors, or views of its sources.
struct rename_output {
  std::function<void(const std::string&, tensor)> keep;       // a computed tensor
  std::function<void(const std::string&, tensor_view)> view;  // a view of a source (no copy)
};

// One rename: the checkpoint tensors it reads, the tensors it produces (name, dtype, shape) and its
// step's functions.
struct rename_step {
  std::string_view kind;  // the step's name: "stack_experts", "split_kv_b", ...
  std::vector<std::string> sources;
  std::vector<tensor_entry> targets;  // byte ranges unused
  // "stacked from model.layers.1.mlp.experts.{0..7}.up_proj.weight".
  std::string (*origin)(const rename_step&) = nullptr;
  // Computes the targets from the sources' views (in `sources` order).
  result<void> (*apply)(const rename_step&, std::span<const tensor_view>, const families::model_description&,
                        quant::rounding, const rename_output&) = nullptr;
};

// A tensor sanitize() drops, and why.
struct dropped_tensor {
  std::string name;
  std::string reason;
};

// What sanitize() does to one checkpoint.
struct sanitize_plan {
  std::vector<rename_step> steps;
  std::vector<dropped_tensor> dropped;  // sorted by name
  std::vector<error> problems;  // Hugging Face tensors that cannot be renamed (an expert missing, a bad shape)
  std::set<std::string, std::less<>> blocked;  // targets not produced because of a problem
  std::vector<tensor_entry> tensors;           // the checkpoint as mlx-lm holds it after sanitize, sorted by name
  std::map<std::string, std::size_t, std::less<>> produced_by;  // target name -> index into steps

  // Whether the checkpoint is in a Hugging Face layout (needs renames before mlx-lm can load it).
  bool needs_renames() const noexcept { return !steps.empty() || !problems.empty(); }
  // The tensor called `name` after sanitize, or nullptr.
  const tensor_entry* find(std::string_view name) const noexcept {
    auto it = std::ranges::lower_bound(tensors, name, std::less<>{}, &tensor_entry::name);
    return it != tensors.end() && it->name == name ? &*it : nullptr;
  }
  // Where a produced tensor comes from ("stacked from ...", "split from ..."), else "".
  std::string origin(std::string_view name) const {
    const auto it = produced_by.find(name);
    if (it == produced_by.end()) return "";
    const rename_step& s = steps[it->second];
    return s.origin ? s.origin(s) : "";
  }
};

// What a step sees while planning: the checkpoint's tensors (sorted by name), the model, where
// tensor names start, whether the checkpoint stores experts one by one (the Hugging Face layout),
// the tensors earlier steps already claimed, and the plan it adds to.
struct sanitize_context {
  std::span<const tensor_entry> entries;
  const families::model_description& model;
  std::string prefix;
  bool hf_experts = false;
  std::set<std::string>& used;
  sanitize_plan& plan;

  // The entry called `name`, or nullptr.
  const tensor_entry* find(std::string_view name) const noexcept {
    auto it = std::ranges::lower_bound(entries, name, std::less<>{}, &tensor_entry::name);
    return it != entries.end() && it->name == name ? &*it : nullptr;
  }
  // Drops every unclaimed tensor for which reason(name) is not empty.
  template <class F>
  void drop_if(F&& reason) {
    for (const tensor_entry& e : entries) {
      if (used.contains(e.name)) continue;
      std::string why = reason(std::string_view(e.name));
      if (why.empty()) continue;
      plan.dropped.push_back({e.name, std::move(why)});
      used.insert(e.name);
    }
  }
};

// The io side of sanitize step Step (a families::sanitize tag): `plan(sanitize_context&)`; rename
// steps also `origin` and `apply`, which plan stores in the rename_steps it adds.
template <class Step>
struct sanitize_step {
  static_assert(!std::is_same_v<Step, Step>, "famx: no io::sanitize_step for this families::sanitize step");
};

}  // namespace famx::io
