#pragma once
// mlx-lm's sanitize(), as a plan and as an operation: plan_sanitize applies the drops every family
// shares (rotary inverse frequencies, a tied lm_head, a wrapper's vision model) and then the
// family's own steps (family_traits<F>::sanitize: its drops and its renames from the Hugging Face
// layout, io/sanitize_steps.hpp) on names, dtypes and shapes only; apply_sanitize computes the
// renamed tensors.

#include <algorithm>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "famx/families/registry.hpp"
#include "famx/io/sanitize_steps.hpp"
#include "famx/io/sharded_safetensors.hpp"

namespace famx::io {

namespace detail {
// The drops every family shares: why sanitize() drops `name`, or "".
inline std::string common_drop_reason(std::string_view name, const families::model_description& d,
                                      std::string_view prefix, std::string_view wrapper) {
  if (name.ends_with("rotary_emb.inv_freq")) return "rotary inverse frequencies (sanitize drops rotary_emb.inv_freq)";
  if (const families::wrapper* w = wrapper.empty() ? nullptr : families::find_wrapper(wrapper, {}))
    for (std::string_view p : w->dropped)
      if (name.starts_with(p)) return "the vision model (" + std::string(wrapper) + " sanitize keeps " + std::string(prefix) + "* only)";
  if (d.tied && name.starts_with(std::string(prefix) + "lm_head.")) return "lm_head of a tie_word_embeddings model (sanitize drops it)";
  return "";
}
}  // namespace detail

// What mlx-lm's sanitize() does to a checkpoint of model d (a family of Families) whose tensors are
// `entries` (sorted by name, as sharded_safetensors lists them); `wrapper` is loaded_model::wrapper.
template <class Families = families::builtin>
sanitize_plan plan_sanitize(std::span<const tensor_entry> entries, const families::model_description& d,
                            std::string_view wrapper = {}) {
  sanitize_plan plan;
  std::set<std::string> used;
  sanitize_context ctx{entries, d, weight_prefix(wrapper), false, used, plan};
  ctx.hf_experts = d.experts > 0 && std::ranges::any_of(entries, [](const tensor_entry& e) {
                     return detail::parse_expert(e.name).has_value();
                   });
  ctx.drop_if([&](std::string_view n) { return detail::common_drop_reason(n, d, ctx.prefix, wrapper); });
  const std::size_t f = Families::index_of(d.family);
  if (f < Families::size)
    Families::visit(f, [&]<class F>() {
      [&]<class... Step>(surface::type_list<Step...>) {
        (sanitize_step<Step>::plan(ctx), ...);
      }(typename families::family_traits<F>::sanitize{});
    });
  std::ranges::sort(plan.dropped, std::less<>{}, &dropped_tensor::name);

  for (const tensor_entry& e : entries)
    if (!used.contains(e.name)) plan.tensors.push_back(e);
  for (std::size_t i = 0; i < plan.steps.size(); ++i)
    for (const tensor_entry& t : plan.steps[i].targets) {
      plan.tensors.push_back(t);
      plan.produced_by[t.name] = i;
    }
  std::ranges::sort(plan.tensors, std::less<>{}, &tensor_entry::name);
  return plan;
}

// A checkpoint after sanitize: views into the files for kept tensors, into `owned` for computed ones.
struct sanitized_checkpoint {
  std::vector<tensor> owned;
  std::vector<named_view> tensors;  // sorted by name

  // The view of the tensor called `name`, or nullptr.
  const named_view* find(std::string_view name) const noexcept {
    auto it = std::ranges::lower_bound(tensors, name, std::less<>{}, &named_view::name);
    return it != tensors.end() && it->name == name ? &*it : nullptr;
  }
};

// Applies `plan` to checkpoint c: runs every rename step's apply (a quantized kv_b_proj is
// requantized with `mode` rounding). Fails with the plan's first problem when it has any.
inline result<sanitized_checkpoint> apply_sanitize(const sharded_safetensors& c, const sanitize_plan& plan,
                                                   const families::model_description& d,
                                                   quant::rounding mode = quant::rounding::gpu) {
  if (!plan.problems.empty()) return plan.problems.front();
  sanitized_checkpoint out;
  std::map<std::string, tensor_view, std::less<>> made;
  const rename_output sink{[&](const std::string& name, tensor t) {
                             out.owned.push_back(std::move(t));
                             made[name] = out.owned.back().view();
                           },
                           [&](const std::string& name, tensor_view v) { made[name] = v; }};
  for (const rename_step& s : plan.steps) {
    std::vector<tensor_view> src;
    for (const std::string& n : s.sources) {
      auto v = c.tensor(n);
      if (!v) return v.err();
      src.push_back(*v);
    }
    if (auto r = s.apply(s, src, d, mode, sink); !r) return r.err();
  }
  for (const tensor_entry& e : plan.tensors) {
    if (auto it = made.find(e.name); it != made.end()) {
      out.tensors.push_back({e.name, it->second});
      continue;
    }
    auto v = c.tensor(e.name);
    if (!v) return v.err();
    out.tensors.push_back({e.name, *v});
  }
  return out;
}

}  // namespace famx::io
