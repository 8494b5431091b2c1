// libFuzzer target: mlx-lm's sanitize planner over fuzzed tensor names, dtypes and shapes.
// Input: the first byte picks a tiny model of io::tiny_models (its parsed config is the model);
// the rest is one tensor per line, `name dtype d0,d1,...` (dtype a safetensors name: BF16, U32,
// F8_E4M3, ...). Lines that do not parse are skipped. io::plan_sanitize must plan or report
// problems, never crash; every tensor it keeps or produces appears once.
#include <algorithm>
#include <array>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "famx/io/config.hpp"
#include "famx/io/safetensors_dtype.hpp"
#include "famx/io/sanitize.hpp"
#include "famx/io/tiny_checkpoint.hpp"

namespace {

// The parsed config of tiny model i, parsed once.
const famx::io::loaded_model& tiny(std::size_t i) {
  static std::array<std::optional<famx::io::loaded_model>, famx::io::tiny_models.size()> cache;
  if (!cache[i]) cache[i] = famx::io::parse_model_config(famx::io::tiny_models[i].config_json, "tiny").value();
  return *cache[i];
}

// One `name dtype d0,d1,...` line as a tensor entry placed at `offset`; nullopt when malformed.
std::optional<famx::io::tensor_entry> parse_line(std::string_view line, std::uint64_t& offset) {
  const auto a = line.find(' '), b = line.find(' ', a == std::string_view::npos ? a : a + 1);
  if (a == std::string_view::npos || b == std::string_view::npos || a == 0) return std::nullopt;
  famx::io::tensor_entry e;
  e.name = std::string(line.substr(0, a));
  const auto type = famx::io::parse_safetensors_dtype(line.substr(a + 1, b - a - 1));
  if (!type) return std::nullopt;
  e.type = *type;
  std::string_view dims = line.substr(b + 1);
  std::uint64_t numel = 1;
  while (!dims.empty() && e.dims.rank() < famx::shape::max_rank) {
    const auto comma = dims.find(',');
    const std::string_view item = dims.substr(0, comma);
    std::int64_t v = 0;
    const auto r = std::from_chars(item.data(), item.data() + item.size(), v);
    if (r.ec != std::errc{} || r.ptr != item.data() + item.size() || v < 0 || v > (std::int64_t{1} << 24)) return std::nullopt;
    e.dims.push_back(v);
    if (__builtin_mul_overflow(numel, static_cast<std::uint64_t>(v), &numel)) return std::nullopt;
    if (comma == std::string_view::npos) break;
    dims.remove_prefix(comma + 1);
  }
  std::uint64_t bytes = 0;
  if (__builtin_mul_overflow(numel, famx::size_of(e.type), &bytes) || bytes > (std::uint64_t{1} << 40)) return std::nullopt;
  e.begin = offset;
  e.end = offset += bytes;
  return e;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const auto& m = tiny(data[0] % famx::io::tiny_models.size());
  std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  std::vector<famx::io::tensor_entry> entries;
  std::uint64_t offset = 0;
  while (!text.empty()) {
    const auto nl = text.find('\n');
    if (auto e = parse_line(text.substr(0, nl), offset)) entries.push_back(std::move(*e));
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
  // As sharded_safetensors lists them: sorted by name, each name once.
  std::stable_sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  entries.erase(std::unique(entries.begin(), entries.end(), [](const auto& a, const auto& b) { return a.name == b.name; }),
                entries.end());

  const auto plan = famx::io::plan_sanitize(entries, m.description, m.wrapper);
  std::set<std::string_view> names;
  for (const auto& t : plan.tensors)
    if (!names.insert(t.name).second) __builtin_trap();
  for (const auto& e : plan.problems)
    if (e.message().empty()) __builtin_trap();
  return 0;
}
