#pragma once
// comm/typed.hpp: the byte collectives on spans of a trivially copyable T (floats, token ids, counts).

#include <span>
#include <string_view>
#include <type_traits>

#include "famx/comm/communicator.hpp"

namespace famx::comm {

// The element types the typed collectives take.
template <class T>
concept plain = std::is_trivially_copyable_v<T> && !std::is_const_v<T>;

// out[r * in.size() ..] = rank r's in.
template <plain T>
void all_gather(communicator& c, std::span<const T> in, std::span<T> out, std::string_view what) {
  c.all_gather(std::as_bytes(in), std::as_writable_bytes(out), what);
}
// buf on every rank = buf on rank `root`.
template <plain T>
void broadcast(communicator& c, std::span<T> buf, int root, std::string_view what) {
  c.broadcast(std::as_writable_bytes(buf), root, what);
}
// Sends buf to rank `to`.
template <plain T>
void send(communicator& c, std::span<const T> buf, int to, std::string_view what) {
  c.send(std::as_bytes(buf), to, what);
}
// Receives buf from rank `from`.
template <plain T>
void recv(communicator& c, std::span<T> buf, int from, std::string_view what) {
  c.recv(std::as_writable_bytes(buf), from, what);
}

}  // namespace famx::comm
