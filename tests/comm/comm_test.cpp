// The collectives on the in-process backend: exact bytes at 1-4 ranks, all_sum against famx::tree_sum,
// and failures (a rank that throws, returns, stays away or disagrees) that end quickly with an error
// naming the rank, the collective and its sequence number.
#include <doctest/doctest.h>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <mutex>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "famx/comm/reduce.hpp"
#include "famx/comm/threads.hpp"
#include "famx/comm/typed.hpp"
#include "famx/core/tree_sum.hpp"

namespace {

using namespace std::chrono_literals;
using famx::comm::communicator;
using bytes = std::vector<std::byte>;

std::byte b(int v) { return static_cast<std::byte>(v); }

// What one rank saw: every collective's output and its stats at the end.
struct seen {
  bytes gathered, gathered_v, broadcast, received;
  std::vector<std::size_t> counts;
  std::vector<bytes> exchanged;
  famx::comm::comm_stats stats;
};

// Rank r's contributions, defined independently of the backend.
bytes gather_in(int r) { return {b(16 * r), b(16 * r + 1), b(16 * r + 2), b(16 * r + 3), b(16 * r + 4)}; }
bytes gather_v_in(int r) {
  bytes v;
  for (int i = 0; i <= r; ++i) v.push_back(b(10 * r + i));
  return v;
}
bytes to_peer(int r, int q) {  // what rank r sends rank q in all_to_all_v: (r + q) % 3 bytes
  bytes v;
  for (int i = 0; i < (r + q) % 3; ++i) v.push_back(b(64 + 8 * r + q + i));
  return v;
}
bytes token(int r) { return {b(200 + r), b(201 + r), b(202 + r)}; }

// Runs fn on n threads with a short timeout and returns the error message run_threads rethrew.
template <class F>
std::string failure(int n, F fn, std::chrono::milliseconds timeout = 5000ms) {
  try {
    famx::comm::run_threads(n, fn, {timeout});
  } catch (const std::exception& e) {
    return e.what();
  }
  return "no error";
}

// Collects the messages of the errors the ranks saw (they may arrive from any thread).
struct messages {
  std::mutex m;
  std::vector<std::string> all;
  void add(const std::string& s) {
    std::lock_guard lk(m);
    all.push_back(s);
  }
};

}  // namespace

TEST_CASE("comm: every collective at 1, 2, 3 and 4 ranks gives the exact bytes") {
  for (int n = 1; n <= 4; ++n) {
    CAPTURE(n);
    std::vector<seen> ranks(static_cast<std::size_t>(n));
    famx::comm::run_threads(n, [&](communicator& c) {
      const int r = c.rank();
      REQUIRE(c.size() == n);
      seen& s = ranks[static_cast<std::size_t>(r)];
      const bytes in = gather_in(r);
      s.gathered.resize(in.size() * static_cast<std::size_t>(n));
      c.all_gather(in, s.gathered, "all_gather test");
      c.all_gather_v(gather_v_in(r), s.gathered_v, s.counts, "all_gather_v test");
      std::vector<bytes> send;
      for (int q = 0; q < n; ++q) send.push_back(to_peer(r, q));
      c.all_to_all_v(send, s.exchanged, "all_to_all_v test");
      s.broadcast = token(r);
      c.broadcast(s.broadcast, n - 1, "broadcast test");
      c.barrier("barrier test");
      if (n > 1) {  // a ring: every rank sends to the next and receives from the previous
        c.send(token(r), (r + 1) % n, "ring send");
        s.received.resize(3);
        c.recv(s.received, (r + n - 1) % n, "ring recv");
      }
      s.stats = c.stats();
    }, {5000ms});
    const std::size_t others = static_cast<std::size_t>(n - 1);
    for (int r = 0; r < n; ++r) {
      CAPTURE(r);
      const seen& s = ranks[static_cast<std::size_t>(r)];
      bytes gathered, gathered_v;
      std::vector<std::size_t> counts;
      for (int q = 0; q < n; ++q) {
        const bytes g = gather_in(q), v = gather_v_in(q);
        gathered.insert(gathered.end(), g.begin(), g.end());
        gathered_v.insert(gathered_v.end(), v.begin(), v.end());
        counts.push_back(v.size());
        CHECK(s.exchanged[static_cast<std::size_t>(q)] == to_peer(q, r));
      }
      CHECK(s.gathered == gathered);
      CHECK(s.gathered_v == gathered_v);
      CHECK(s.counts == counts);
      CHECK(s.broadcast == token(n - 1));
      if (n > 1) CHECK(s.received == token((r + n - 1) % n));
      // Stats: 6 collectives (+ send and recv), the bytes other ranks got from this one and it from them.
      std::size_t sent = 5 * others + gather_v_in(r).size() * others, received = 5 * others;
      for (int q = 0; q < n; ++q)
        if (q != r) {
          sent += to_peer(r, q).size();
          received += gather_v_in(q).size() + to_peer(q, r).size();
        }
      if (r == n - 1) sent += 3 * others;
      else received += 3;
      if (n > 1) {
        sent += 3;
        received += 3;
      }
      CHECK(s.stats.collectives == (n > 1 ? 7u : 5u));
      CHECK(s.stats.bytes_sent == sent);
      CHECK(s.stats.bytes_received == received);
      CHECK(s.stats.time.count() > 0);
    }
  }
}

TEST_CASE("comm: the typed collectives move whole values") {
  std::array<std::array<int, 4>, 3> got{};
  std::array<std::array<float, 2>, 3> tok{};
  famx::comm::run_threads(3, [&](communicator& c) {
    const int r = c.rank();
    const std::array<int, 1> mine{100 + r};
    std::array<int, 3> all{};
    famx::comm::all_gather<int>(c, mine, all, "ids");
    std::copy(all.begin(), all.end(), got[static_cast<std::size_t>(r)].begin());
    std::array<float, 2> t{r == 2 ? 0.5f : -1.0f, r == 2 ? 7.0f : -1.0f};
    famx::comm::broadcast<float>(c, t, 2, "token");
    tok[static_cast<std::size_t>(r)] = t;
  });
  for (int r = 0; r < 3; ++r) {
    CHECK(got[static_cast<std::size_t>(r)] == std::array<int, 4>{100, 101, 102, 0});
    CHECK(tok[static_cast<std::size_t>(r)] == std::array<float, 2>{0.5f, 7.0f});
  }
}

TEST_CASE("comm: sum_over_ranks is famx::tree_sum of every element's rank terms") {
  std::mt19937 rng(13);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (std::size_t n = 1; n <= 17; ++n) {
    CAPTURE(n);
    const std::size_t len = 2500;  // more than one of sum_over_ranks's blocks, the last one partial
    std::vector<float> gathered(n * len);
    for (auto& v : gathered) v = u(rng) * (rng() % 3 == 0 ? 1e6f : 1.0f);
    std::vector<float> expected(len);
    for (std::size_t i = 0; i < len; ++i) {
      std::vector<float> terms(n);
      for (std::size_t r = 0; r < n; ++r) terms[r] = gathered[r * len + i];
      expected[i] = famx::tree_sum(terms.data(), n);
    }
    std::vector<float> out(len);
    famx::comm::sum_over_ranks(gathered, n, out);
    CHECK(std::memcmp(out.data(), expected.data(), len * sizeof(float)) == 0);
  }
}

TEST_CASE("comm: all_sum gives every rank tree_sum's bits over the ranks, at 1 to 8 ranks") {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  const std::size_t len = 777;
  for (int n = 1; n <= 8; ++n) {
    CAPTURE(n);
    std::vector<std::vector<float>> x(static_cast<std::size_t>(n), std::vector<float>(len));
    for (auto& v : x)
      for (auto& e : v) e = u(rng) * (rng() % 2 ? 1e5f : 1e-3f);
    std::vector<float> expected(len);
    bool differs_from_left_to_right = false;
    for (std::size_t i = 0; i < len; ++i) {
      std::vector<float> terms;
      float sequential = 0.0f;
      for (const auto& v : x) {
        terms.push_back(v[i]);
        sequential += v[i];
      }
      expected[i] = famx::tree_sum(terms.data(), terms.size());
      differs_from_left_to_right |= sequential != expected[i];
    }
    if (n == 4 || n >= 6) CHECK(differs_from_left_to_right);  // the order is observable here
    std::vector<std::vector<float>> got = x;
    famx::comm::run_threads(n, [&](communicator& c) {
      famx::comm::all_sum(c, got[static_cast<std::size_t>(c.rank())], "all_sum test");
    });
    for (int r = 0; r < n; ++r) CHECK(std::memcmp(got[static_cast<std::size_t>(r)].data(), expected.data(), len * sizeof(float)) == 0);
  }
}

TEST_CASE("comm: all_sum of a power-of-two split reproduces the unsplit tree_sum") {
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  const std::size_t terms = 96, len = 300;  // 96 groups: shares of 48, 24 and 12 for 2, 4 and 8 ranks
  std::vector<float> t(terms * len);        // term k of element i at t[i * terms + k]
  for (auto& v : t) v = u(rng) * (rng() % 2 ? 1e4f : 1e-4f);
  std::vector<float> whole(len);
  for (std::size_t i = 0; i < len; ++i) {
    std::vector<float> row(t.begin() + static_cast<std::ptrdiff_t>(i * terms), t.begin() + static_cast<std::ptrdiff_t>((i + 1) * terms));
    whole[i] = famx::tree_sum(row.data(), terms);
  }
  for (int n : {2, 4, 8}) {
    CAPTURE(n);
    const std::size_t share = terms / static_cast<std::size_t>(n);
    std::vector<std::vector<float>> got(static_cast<std::size_t>(n));
    famx::comm::run_threads(n, [&](communicator& c) {
      std::vector<float>& partial = got[static_cast<std::size_t>(c.rank())];
      partial.resize(len);
      for (std::size_t i = 0; i < len; ++i) {  // this rank's contiguous share of each element's terms
        std::vector<float> mine(share);
        std::memcpy(mine.data(), &t[i * terms + static_cast<std::size_t>(c.rank()) * share], share * sizeof(float));
        partial[i] = famx::tree_sum(mine.data(), share);
      }
      famx::comm::all_sum(c, partial, "split all_sum");
    });
    for (int r = 0; r < n; ++r) CHECK(std::memcmp(got[static_cast<std::size_t>(r)].data(), whole.data(), len * sizeof(float)) == 0);
  }
}

TEST_CASE("comm: a rank that throws makes the others fail at once, naming it") {
  messages seen_by_others;
  const auto start = std::chrono::steady_clock::now();
  const std::string e = failure(3, [&](communicator& c) {
    c.barrier("load");
    if (c.rank() == 1) throw std::runtime_error("boom on rank 1");
    std::vector<float> x(8, 1.0f);
    try {
      famx::comm::all_sum(c, x, "layers.0.mlp.down_proj all_sum");
    } catch (const famx::error& err) {
      CHECK(err.code() == famx::errc::collective);
      seen_by_others.add(err.what());
      throw;
    }
  });
  CHECK(std::chrono::steady_clock::now() - start < 2s);  // not the 5 s timeout
  CHECK(e == "boom on rank 1");                          // the root cause, not the followers' errors
  REQUIRE(seen_by_others.all.size() == 2);
  for (const std::string& m : seen_by_others.all)
    CHECK(m == "layers.0.mlp.down_proj all_sum: found rank 1 failed (boom on rank 1), expected rank 1 in all_gather #2");
}

TEST_CASE("comm: a rank that returns early makes the others fail, naming the collective and its number") {
  const auto start = std::chrono::steady_clock::now();
  const std::string e = failure(3, [&](communicator& c) {
    c.barrier("load");
    if (c.rank() == 2) return;
    c.barrier("layers.0 done");
  });
  CHECK(std::chrono::steady_clock::now() - start < 2s);
  CHECK(e == "layers.0 done: found rank 2 returned before barrier #2, expected rank 2 in barrier #2");
}

TEST_CASE("comm: a rank that stays away makes the others time out, naming it and the collective") {
  const auto start = std::chrono::steady_clock::now();
  messages late;
  const std::string e = failure(3, [&](communicator& c) {
    c.barrier("load");
    if (c.rank() == 2) std::this_thread::sleep_for(600ms);
    try {
      std::vector<float> x(4, 1.0f);
      famx::comm::all_sum(c, x, "layers.5.self_attn.o_proj all_sum");
    } catch (const famx::error& err) {
      if (c.rank() == 2) late.add(err.what());
      throw;
    }
  }, 200ms);
  CHECK(std::chrono::steady_clock::now() - start < 3s);
  CHECK(e == "layers.5.self_attn.o_proj all_sum: found no word from rank 2 within 200 ms, expected rank 2 in all_gather #2");
  REQUIRE(late.all.size() == 1);  // the late rank learns why the others left
  CHECK(late.all[0].starts_with("layers.5.self_attn.o_proj all_sum: found rank 0 failed (layers.5.self_attn.o_proj all_sum: found no word") !=
        late.all[0].starts_with("layers.5.self_attn.o_proj all_sum: found rank 1 failed (layers.5.self_attn.o_proj all_sum: found no word"));
}

TEST_CASE("comm: ranks in different collectives fail with an error naming both") {
  const std::string kinds = failure(2, [](communicator& c) {
    bytes x(4, b(1));
    if (c.rank() == 0) {
      bytes out(8);
      c.all_gather(x, out, "layers.1 all_sum");
    } else {
      c.broadcast(x, 0, "sampled token");
    }
  });
  CHECK(kinds.find("all_gather #1 of 4 bytes (\"layers.1 all_sum\")") != std::string::npos);
  CHECK(kinds.find("broadcast #1 of 4 bytes from rank 0 (\"sampled token\")") != std::string::npos);
  CHECK(kinds.find("on every rank, as on rank ") != std::string::npos);

  const std::string sizes = failure(3, [](communicator& c) {
    bytes x(c.rank() == 2 ? 6 : 4, b(1)), out(x.size() * 3);
    c.all_gather(x, out, "sizes");
  });
  CHECK((sizes == "sizes: found rank 2 in all_gather #1 of 6 bytes (\"sizes\"), expected all_gather #1 of 4 bytes (\"sizes\") on every rank, as on rank 0" ||
         sizes == "sizes: found rank 0 in all_gather #1 of 4 bytes (\"sizes\"), expected all_gather #1 of 6 bytes (\"sizes\") on every rank, as on rank 2" ||
         sizes == "sizes: found rank 1 in all_gather #1 of 4 bytes (\"sizes\"), expected all_gather #1 of 6 bytes (\"sizes\") on every rank, as on rank 2" ||
         sizes == "sizes: found rank 2 in all_gather #1 of 6 bytes (\"sizes\"), expected all_gather #1 of 4 bytes (\"sizes\") on every rank, as on rank 1"));

  const std::string roots = failure(2, [](communicator& c) {
    bytes x(2);
    c.barrier("first");
    c.broadcast(x, c.rank(), "token");
  });
  CHECK(roots.find("broadcast #2 of 2 bytes from rank 0") != std::string::npos);
  CHECK(roots.find("broadcast #2 of 2 bytes from rank 1") != std::string::npos);
}

TEST_CASE("comm: send and recv are checked pair by pair") {
  const std::string size = failure(2, [](communicator& c) {
    if (c.rank() == 0) c.send(bytes(4), 1, "hidden state");
    else {
      bytes in(8);
      c.recv(in, 0, "stage 1 input");
    }
  });
  CHECK(size == "stage 1 input: found rank 0 in send #1 to rank 1 of 4 bytes (\"hidden state\"), "
                "expected recv #1 from rank 0 of 8 bytes, as on rank 1");
  const auto start = std::chrono::steady_clock::now();
  const std::string silent = failure(2, [](communicator& c) {
    if (c.rank() == 1) {
      bytes in(4);
      c.recv(in, 0, "stage 1 input");
    } else {
      std::this_thread::sleep_for(400ms);
    }
  }, 100ms);
  CHECK(std::chrono::steady_clock::now() - start < 2s);
  CHECK(silent == "stage 1 input: found no word from rank 0 within 100 ms, expected rank 0 in send #1 to rank 1");
}

TEST_CASE("comm: bad arguments are errors, and a communicator that threw stays broken") {
  messages m;
  famx::comm::run_threads(2, [&](communicator& c) {
    bytes in(4), out(7);
    try {
      c.all_gather(in, out, "gather");
    } catch (const famx::error& e) {
      CHECK(e.code() == famx::errc::invalid_value);
      m.add(e.what());
    }
    try {
      c.send(in, c.rank(), "to myself");
    } catch (const famx::error& e) {
      m.add(e.what());
    }
    try {
      c.broadcast(in, 2, "root");
    } catch (const famx::error& e) {
      m.add(e.what());
    }
  });
  CHECK(m.all.size() == 6);
  for (const std::string& s : m.all)
    CHECK((s == "gather all_gather: found out of 7 bytes, expected 2 ranks x 4 bytes = 8 bytes" ||
           s == "to myself send: found rank 0, expected another rank than 0 in [0, 2)" ||
           s == "to myself send: found rank 1, expected another rank than 1 in [0, 2)" ||
           s == "root broadcast: found rank 2, expected a rank in [0, 2)"));
  CHECK(failure(0, [](communicator&) {}) == "run_threads: found 0 ranks, expected at least 1 rank");

  const std::string e = failure(2, [](communicator& c) {
    try {
      if (c.rank() == 1) c.barrier("only one");
    } catch (const famx::error&) {
      c.barrier("after the error");  // throws: this communicator is broken
    }
  }, 100ms);
  CHECK(e == "after the error: found barrier #2 on rank 1 after an earlier collective failed there, "
             "expected no call on a communicator after it threw");
}
