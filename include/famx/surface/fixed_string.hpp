#pragma once
// fixed_string<N>: a C++20 string usable as a non-type template parameter (module names, config
// keys), with compile-time concatenation.

#include <algorithm>
#include <cstddef>
#include <string_view>

namespace famx::surface {

// A string literal of N-1 characters held by value; structural, so it can be a template argument.
template <std::size_t N>
struct fixed_string {
  char v[N]{};

  constexpr fixed_string() = default;
  constexpr fixed_string(const char (&s)[N]) { std::copy_n(s, N, v); }  // NOLINT: implicit by design

  // Characters without the terminating NUL.
  static constexpr std::size_t size() noexcept { return N - 1; }
  constexpr std::string_view view() const noexcept { return {v, N - 1}; }

  template <std::size_t M>
  constexpr bool operator==(const fixed_string<M>& o) const noexcept {
    return view() == o.view();
  }
};

// "a" + "b" at compile time.
template <std::size_t A, std::size_t B>
constexpr fixed_string<A + B - 1> operator+(const fixed_string<A>& a, const fixed_string<B>& b) {
  fixed_string<A + B - 1> r;
  std::copy_n(a.v, A - 1, r.v);
  std::copy_n(b.v, B, r.v + A - 1);
  return r;
}

// "a" + "." + "b", or b alone when a is empty.
template <fixed_string A, fixed_string B>
constexpr auto join_path() {
  if constexpr (A.size() == 0) return B;
  else return A + fixed_string(".") + B;
}

}  // namespace famx::surface
