#pragma once
// The checkpoint archive verify_fuzz reads (and tests/io/fuzz_corpus_test.cpp replays): files, each
// `<name> <length>[ <data bytes>]\n<length bytes>`. config.json and model.safetensors.index.json
// hold their text; a `.safetensors` file holds its header JSON, framed here (8-byte length) and
// followed by <data bytes> zero bytes of tensor data (at most 16 MiB). Names are plain file names
// ([A-Za-z0-9._-], no ".."), at most 8 files; unpacking stops at the first malformed entry.
// pack_checkpoint.py writes one from a checkpoint directory.

#include <charconv>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

namespace famx::test {

namespace archive_detail {
inline bool plain_name(std::string_view n) {
  if (n.empty() || n.size() > 64 || n == "." || n.find("..") != std::string_view::npos) return false;
  for (char c : n)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
      return false;
  return true;
}

template <class T>
bool number(std::string_view s, T& v) {
  const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  return !s.empty() && r.ec == std::errc{} && r.ptr == s.data() + s.size();
}

}  // namespace archive_detail

// Writes the archive's files into dir; stops at the first malformed entry.
inline void unpack_archive(std::string_view in, const std::filesystem::path& dir) {
  for (int files = 0; files < 8 && !in.empty(); ++files) {
    const auto nl = in.find('\n');
    if (nl == std::string_view::npos) return;
    std::string_view head = in.substr(0, nl);
    in.remove_prefix(nl + 1);
    const auto sp = head.find(' ');
    if (sp == std::string_view::npos) return;
    const std::string_view name = head.substr(0, sp);
    std::string_view rest = head.substr(sp + 1);
    std::uint64_t data_bytes = 0, length = 0;
    if (const auto sp2 = rest.find(' '); sp2 != std::string_view::npos) {
      if (!archive_detail::number(rest.substr(sp2 + 1), data_bytes) || data_bytes > (std::uint64_t{1} << 24)) return;
      rest = rest.substr(0, sp2);
    }
    if (!archive_detail::plain_name(name) || !archive_detail::number(rest, length) || length > in.size()) return;
    const std::string_view content = in.substr(0, length);
    in.remove_prefix(length);
    std::ofstream out(dir / std::string(name), std::ios::binary | std::ios::trunc);
    if (name.ends_with(".safetensors")) {
      char len[8];
      for (int i = 0; i < 8; ++i) len[i] = static_cast<char>(length >> (8 * i) & 0xff);
      out.write(len, 8);
      out.write(content.data(), static_cast<std::streamsize>(content.size()));
      const std::string zeros(65536, '\0');
      for (std::uint64_t left = data_bytes; left > 0;) {
        const std::uint64_t n = left < zeros.size() ? left : zeros.size();
        out.write(zeros.data(), static_cast<std::streamsize>(n));
        left -= n;
      }
    } else {
      out.write(content.data(), static_cast<std::streamsize>(content.size()));
    }
  }
}


}  // namespace famx::test
