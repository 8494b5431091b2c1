#pragma once
// comm::communicator: the collectives a split model needs, as an interface with two backends
// (comm/threads.hpp: one thread per rank in one process; comm/mpi.hpp: Open MPI ranks). Every
// collective only moves bytes; sums are formed locally (comm/reduce.hpp), so every rank holds the
// same bits for any rank count. Every collective carries a sequence number and a timeout: a rank that
// throws, exits or stops answering makes the others fail with a famx::error naming that rank, the
// collective and its sequence number, never hang.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace famx::comm {

// What every rank's collectives did so far.
struct comm_stats {
  std::uint64_t collectives = 0;    // collectives called (send and recv included)
  std::uint64_t bytes_sent = 0;     // payload bytes this rank gave to other ranks, once per receiving rank
  std::uint64_t bytes_received = 0; // payload bytes this rank got from other ranks
  std::chrono::nanoseconds time{0}; // wall time spent inside collectives
};

// A group of `size()` ranks; this object is rank `rank()`. All ranks must call the same collectives
// in the same order (a mismatch is an error naming both collectives); send and recv are matched per
// pair of ranks, in order. `what` names the call site in errors ("layers.3.self_attn.o_proj all_sum").
// Output buffers must not overlap input buffers. Bad arguments throw errc::invalid_value; after a
// call threw errc::collective, this rank's communicator is broken and every later call throws.
class communicator {
 public:
  virtual ~communicator() = default;

  // This rank, in [0, size()).
  virtual int rank() const noexcept = 0;
  // The number of ranks.
  virtual int size() const noexcept = 0;
  // How long a collective waits for the other ranks before it throws.
  virtual std::chrono::milliseconds timeout() const noexcept = 0;

  // out[r * in.size() ..] = rank r's `in`, for every r (every rank passes the same in.size()).
  virtual void all_gather(std::span<const std::byte> in, std::span<std::byte> out, std::string_view what) = 0;
  // out = the ranks' `in` concatenated in rank order; counts[r] = rank r's byte count.
  virtual void all_gather_v(std::span<const std::byte> in, std::vector<std::byte>& out, std::vector<std::size_t>& counts,
                            std::string_view what) = 0;
  // recv[r] = what rank r put in its send[rank()] (send.size() == size()).
  virtual void all_to_all_v(std::span<const std::vector<std::byte>> send, std::vector<std::vector<std::byte>>& recv,
                            std::string_view what) = 0;
  // buf on every rank = buf on rank `root`.
  virtual void broadcast(std::span<std::byte> buf, int root, std::string_view what) = 0;
  // Sends buf to rank `to` (matched by a recv of the same size on `to`).
  virtual void send(std::span<const std::byte> buf, int to, std::string_view what) = 0;
  // Receives buf from rank `from`.
  virtual void recv(std::span<std::byte> buf, int from, std::string_view what) = 0;
  // Returns when every rank has called it.
  virtual void barrier(std::string_view what) = 0;

  // What this rank's collectives did so far.
  virtual const comm_stats& stats() const noexcept = 0;
};

}  // namespace famx::comm
