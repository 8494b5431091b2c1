#pragma once
// Verification of a checkpoint directory against its family surface, before a byte of weights is
// read: config.json parsed and validated, every safetensors header validated, then every tensor
// the surface expects present with the right shape, dtype and quantization (packed weight + scales
// + biases with the shapes implied by bits and group size, per-layer overrides included), every
// tensor the surface does not expect reported, and a Hugging Face layout recognized with the
// renames mlx-lm's sanitize() applies. The report lists every problem, not only the first.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "famx/io/config.hpp"
#include "famx/io/sanitize.hpp"

namespace famx::io {

// How bad a finding is: an error fails verification, a note does not.
enum class severity { error, note };

// One thing verification found, about one tensor (or config.json / a file as a whole).
struct finding {
  severity level = severity::error;
  std::string kind;    // missing, unexpected, shape, dtype, quantization, rename, dropped, config, unreadable
  std::string tensor;  // tensor name or key path ("" for the checkpoint as a whole)
  std::string found, expected;
  std::string file;    // the file the finding is about, when it is one file

  // "error shape model.layers.0.mlp.gate.weight: found [8, 32], expected [8, 64] (8-bit g64)".
  std::string text() const {
    std::string s = std::string(level == severity::error ? "error " : "note ") + kind + " ";
    if (!file.empty()) s += file + ": ";
    if (!tensor.empty()) s += tensor + ": ";
    return s + "found " + found + ", expected " + expected;
  }
};

// What verify_checkpoint found.
struct verification_report {
  std::string directory;
  std::string family;             // "" when config.json could not be read
  std::string layout = "unknown"; // "mlx", or "hugging face" (mlx-lm must rename on load)
  std::size_t files = 0;          // safetensors files read
  std::size_t tensors = 0;        // tensors in the files
  std::size_t expected = 0;       // file tensors the surface expects
  std::vector<std::string> expected_tensors;  // their names, in surface order
  std::vector<rename_step> renames;
  std::vector<finding> findings;  // errors and notes, in checking order

  // Number of error findings.
  std::size_t errors() const {
    std::size_t n = 0;
    for (const auto& f : findings) n += f.level == severity::error;
    return n;
  }
  // True when nothing is wrong: the checkpoint loads as the family surface says.
  bool ok() const { return errors() == 0; }
};

namespace detail {

inline bool is_float(dtype t) noexcept { return t == dtype::f32 || t == dtype::f16 || t == dtype::bf16; }

inline finding from_error(std::string kind, const error& e) {
  return {severity::error, std::move(kind), e.path(), e.found(), e.expected(), e.file()};
}

// " (the packed width of 3-bit codes)" when `words` packed words over `in` columns is another width.
inline std::string implied_bits(std::int64_t words, std::int64_t in) {
  for (int b : {2, 3, 4, 5, 6, 8})
    if (in > 0 && in * b % 32 == 0 && in * b / 32 == words) return " (the packed width of " + std::to_string(b) + "-bit codes)";
  return "";
}

// Checks one surface tensor t against the sanitized checkpoint; marks the file tensors it owns.
inline void check_tensor(const surface::tensor_entry& t, const loaded_model& m, const sanitize_plan& plan,
                         std::set<std::string, std::less<>>& matched, verification_report& rep) {
  auto add = [&](std::string kind, const std::string& name, std::string found, std::string expected) {
    std::string origin = plan.origin(name);
    if (!origin.empty()) expected += " (" + origin + ")";
    rep.findings.push_back({severity::error, std::move(kind), name, std::move(found), std::move(expected), {}});
  };
  // mlx-lm quantizes a module whose `.scales` the checkpoint holds; a packed u32 weight or
  // `.biases` without scales is a triplet that lost its scales, and is checked as one.
  const bool has_scales = plan.find(t.module + ".scales") != nullptr;
  const tensor_entry* w = plan.find(t.module + ".weight");
  const bool triplet = has_scales || plan.find(t.module + ".biases") != nullptr || (w != nullptr && w->type == dtype::u32);
  if (triplet && t.packs && !m.quantization)
    add("quantization", t.module, "a quantized triplet (weight, scales, biases)",
        "a float module: config.json has no MLX \"quantization\" key");
  const auto q = load_format(t, m.quantization, triplet);
  const std::string fmt_text =
      q ? to_string(*q) + (m.quantization && m.quantization->find(t.module) ? " from the override quantization." + t.module
                                                                            : std::string(" from the global quantization"))
        : "";
  if (q && t.dims.dim(-1) % q->group_size != 0) {
    add("quantization", t.module, "in = " + std::to_string(t.dims.dim(-1)) + " " + t.dims_text,
        "a multiple of the group size of " + fmt_text);
    return;
  }
  for (const stored_entry& s : stored_entries(t, q)) {
    ++rep.expected;
    rep.expected_tensors.push_back(s.name);
    const tensor_entry* e = plan.find(s.name);
    if (e == nullptr) {
      if (plan.blocked.contains(s.name)) continue;  // its rename problem is already reported
      std::string what = s.role == stored_role::floating ? "a float tensor " + to_string(s.dims) + " " + t.dims_text
                                                         : to_string(s.dims) + " for " + fmt_text;
      add("missing", s.name, "no such tensor", what);
      continue;
    }
    matched.insert(s.name);
    const std::string where = s.role == stored_role::floating ? " " + t.dims_text : " for " + fmt_text;
    if (s.role == stored_role::packed && e->type != dtype::u32) {
      add("dtype", s.name, std::string(to_string(e->type)), "u32 packed codes" + where);
    } else if (s.role == stored_role::floating && !is_float(e->type)) {
      const bool packed = e->type == dtype::u32;
      add(packed ? "quantization" : "dtype", s.name,
          std::string(to_string(e->type)) + " " + to_string(e->dims),
          packed ? "a float tensor: the module is not quantized (" +
                       (m.quantization && m.quantization->find(t.module) ? "quantization." + t.module + " is false"
                                                                         : "no " + t.module + ".scales and no override") + ")"
                 : "a float dtype (f32, f16 or bf16)" + where);
      continue;
    } else if ((s.role == stored_role::scales || s.role == stored_role::biases) && !is_float(e->type)) {
      add("dtype", s.name, std::string(to_string(e->type)), "f32, f16 or bf16" + where);
    } else if (s.role == stored_role::biases) {
      if (const tensor_entry* sc = plan.find(t.module + ".scales"); sc && sc->type != e->type)
        add("dtype", s.name, std::string(to_string(e->type)), std::string(to_string(sc->type)) + " like the scales");
    }
    if (!(e->dims == s.dims)) {
      std::string found = to_string(e->dims);
      if (s.role == stored_role::packed) found += implied_bits(e->dims.dim(-1), t.dims.dim(-1));
      add("shape", s.name, std::move(found), to_string(s.dims) + where);
    }
  }
}

}  // namespace detail

// Verifies the checkpoint in directory `dir` (config.json + model*.safetensors, or an index) of a
// family of Families. Never throws for bad input: every problem is a finding.
template <class Families = families::builtin>
verification_report verify_checkpoint(const std::filesystem::path& dir) {
  verification_report rep;
  rep.directory = dir.string();
  auto model = load_model_config<Families>(dir);
  if (!model) {
    rep.findings.push_back(detail::from_error("config", model.err()));
    return rep;
  }
  const loaded_model& m = *model;
  rep.family = m.description.family;
  auto ckpt = sharded_safetensors::open_directory(dir);
  if (!ckpt) {
    rep.findings.push_back(detail::from_error("unreadable", ckpt.err()));
    return rep;
  }
  rep.files = ckpt->files().size();
  std::vector<tensor_entry> entries;
  entries.reserve(ckpt->tensors().size());
  for (const auto& l : ckpt->tensors()) entries.push_back(ckpt->entry(l));
  rep.tensors = entries.size();

  const sanitize_plan plan = plan_sanitize<Families>(entries, m.description, m.wrapper);
  rep.layout = plan.needs_renames() ? "hugging face" : "mlx";
  rep.renames = plan.steps;
  for (const error& e : plan.problems) rep.findings.push_back(detail::from_error("rename", e));
  for (const rename_step& s : plan.steps)
    for (const tensor_entry& t : s.targets)
      rep.findings.push_back({severity::note, "rename", t.name, plan.origin(t.name),
                              "the mlx-lm layout (" + std::string(s.kind) + " in sanitize)", {}});
  for (const dropped_tensor& t : plan.dropped)
    rep.findings.push_back({severity::note, "dropped", t.name, t.reason, "not part of the surface", {}});

  std::set<std::string, std::less<>> matched;
  for (const surface::tensor_entry& t : mlx_tensors(m.description, weight_prefix(m.wrapper)))
    detail::check_tensor(t, m, plan, matched, rep);
  for (const tensor_entry& e : plan.tensors)
    if (!matched.contains(e.name))
      rep.findings.push_back({severity::error, "unexpected", e.name, std::string(to_string(e.type)) + " " + to_string(e.dims),
                              "only the " + rep.family + " surface's tensors for this config", {}});
  return rep;
}

// The report as text: a summary line, then one line per finding (renames and drops summarized
// per kind unless `all_notes`).
inline std::string render_text(const verification_report& r, bool all_notes = false) {
  std::string s = "famx verify " + r.directory + "\n  family: " + (r.family.empty() ? "?" : r.family) +
                  "\n  layout: " + r.layout + "\n  files: " + std::to_string(r.files) +
                  ", tensors: " + std::to_string(r.tensors) + ", expected by the surface: " + std::to_string(r.expected) + "\n";
  std::map<std::string, std::size_t> notes;
  for (const finding& f : r.findings) {
    if (f.level == severity::note && !all_notes) {
      if (notes[f.kind]++ == 0) s += "  " + f.text() + "\n";
      continue;
    }
    s += "  " + f.text() + "\n";
  }
  for (const auto& [kind, n] : notes)
    if (n > 1) s += "  (" + std::to_string(n - 1) + " more " + kind + " notes; --all lists them)\n";
  s += r.ok() ? "  verified: OK\n" : "  verified: FAILED, " + std::to_string(r.errors()) + " error(s)\n";
  return s;
}

// The report as one JSON object (stable keys: directory, family, layout, files, tensors, expected,
// ok, errors, findings[{level, kind, tensor, found, expected, file}]).
inline std::string render_json(const verification_report& r) {
  using families::detail::json_quote;
  std::string s = "{\"directory\":" + json_quote(r.directory) + ",\"family\":" + json_quote(r.family) +
                  ",\"layout\":" + json_quote(r.layout) + ",\"files\":" + std::to_string(r.files) +
                  ",\"tensors\":" + std::to_string(r.tensors) + ",\"expected\":" + std::to_string(r.expected) +
                  ",\"ok\":" + (r.ok() ? "true" : "false") + ",\"errors\":" + std::to_string(r.errors()) + ",\"findings\":[";
  for (std::size_t i = 0; i < r.findings.size(); ++i) {
    const finding& f = r.findings[i];
    s += std::string(i ? "," : "") + "{\"level\":" + (f.level == severity::error ? "\"error\"" : "\"note\"") +
         ",\"kind\":" + json_quote(f.kind) + ",\"tensor\":" + json_quote(f.tensor) + ",\"found\":" + json_quote(f.found) +
         ",\"expected\":" + json_quote(f.expected) + ",\"file\":" + json_quote(f.file) + "}";
  }
  return s + "]}";
}

}  // namespace famx::io
