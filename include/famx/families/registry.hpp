#pragma once
// The family registry, generated from one list of family types: family_list<F...> finds a family
// by architectures[0] (checked first) or model_type (each trait lists its own aliases, e.g. mlx-lm's
// MODEL_REMAPPING mistral -> llama, kimi_k2 -> deepseek_v3) and visits it (calls a generic callable
// with the family's tag type). `builtin` lists famx's families; an engine with a family of its own
// appends it (`family_list_append<builtin, my_family>`) and passes that list to the io and model
// entry points. Wrapper configs (mlx-lm's mistral3 holding its text model in text_config) are
// described by `wrapper` rows.

#include <array>
#include <cstddef>
#include <string>
#include <string_view>

#include "famx/families/deepseek_v32.hpp"
#include "famx/families/glm4_moe.hpp"
#include "famx/families/ministral3.hpp"
#include "famx/families/qwen3_next.hpp"

namespace famx::families {

// A list of family tags, in registry order.
template <class... F>
struct family_list {
  static constexpr std::size_t size = sizeof...(F);

  // The index of the family whose name (its own model_type) is `name`, or size.
  static constexpr std::size_t index_of(std::string_view name) noexcept {
    std::size_t i = 0;
    (void)((family_traits<F>::name == name ? true : (++i, false)) || ...);
    return i;
  }
  // The family of a config: architectures[0] first, then model_type (aliases included).
  static result<std::size_t> find(std::string_view architecture, std::string_view model_type,
                                  std::string_view file = {}) {
    std::size_t i = 0, found = size;
    auto by_arch = [&]<class G>() {
      for (auto a : family_traits<G>::architectures)
        if (found == size && !architecture.empty() && a == architecture) found = i;
      ++i;
    };
    (by_arch.template operator()<F>(), ...);
    i = 0;
    auto by_type = [&]<class G>() {
      for (auto m : family_traits<G>::model_types)
        if (found == size && !model_type.empty() && m == model_type) found = i;
      ++i;
    };
    (by_type.template operator()<F>(), ...);
    if (found < size) return found;
    return error(errc::unknown_family, architecture.empty() ? "model_type" : "architectures.0",
                 "architecture \"" + std::string(architecture) + "\", model_type \"" + std::string(model_type) + "\"",
                 supported(), std::string(file));
  }
  // Calls f.template operator()<Family>() with the tag type of family i (< size); returns its result.
  template <class Fn>
  static decltype(auto) visit(std::size_t i, Fn&& f) {
    return detail::for_kind<surface::type_list<F...>>::call(i, std::forward<Fn>(f));
  }
  // The name of family i.
  static constexpr std::string_view name(std::size_t i) noexcept {
    std::string_view n;
    std::size_t j = 0;
    (void)(((j++ == i) ? (n = family_traits<F>::name, true) : false) || ...);
    return n;
  }
  // "an architecture in {...} or a model_type in {...}".
  static std::string supported() {
    std::string a, m;
    auto add = [&]<class G>() {
      for (auto s : family_traits<G>::architectures) a += (a.empty() ? "" : ", ") + std::string(s);
      for (auto s : family_traits<G>::model_types) m += (m.empty() ? "" : ", ") + std::string(s);
    };
    (add.template operator()<F>(), ...);
    return "an architecture in {" + a + "} or a model_type in {" + m + "} (or a mistral3 wrapper holding one in text_config)";
  }
};

namespace detail {
template <class List, class... G>
struct append_families;
template <class... F, class... G>
struct append_families<family_list<F...>, G...> {
  using type = family_list<F..., G...>;
};
}  // namespace detail

// List with families G... appended.
template <class List, class... G>
using family_list_append = typename detail::append_families<List, G...>::type;

// The families famx implements, one per HF model_type: the only list to extend with a new family.
using builtin = family_list<llama, qwen3, qwen3_moe, qwen3_next, deepseek_v3, deepseek_v32, glm4_moe, ministral3>;

// A config that wraps a text model (a vision-language checkpoint): selected by its model_type or
// architectures[0]; the text model's config is under `config_key`, its weights under
// `weight_prefix`; the text model is the family `inner_model_type` names when its own model_type
// says so, else `default_family`. mlx-lm defaults tie_word_embeddings to false there and drops the
// other model's weights (names starting with `dropped`).
struct wrapper {
  std::string_view model_type, architecture, config_key, weight_prefix, inner_model_type, default_family;
  std::array<std::string_view, 2> dropped;
};

// The wrappers famx reads (mlx-lm's mistral3: ministral3 when text_config says so, else llama).
inline constexpr std::array<wrapper, 1> wrappers = {{
    {"mistral3", "Mistral3ForConditionalGeneration", "text_config", "language_model.", "ministral3", "llama",
     {"vision_tower.", "multi_modal_projector."}},
}};

// The wrapper a config's model_type or architectures[0] names, or nullptr.
constexpr const wrapper* find_wrapper(std::string_view model_type, std::string_view architecture) noexcept {
  for (const auto& w : wrappers)
    if (w.model_type == model_type || w.architecture == architecture) return &w;
  return nullptr;
}

}  // namespace famx::families
