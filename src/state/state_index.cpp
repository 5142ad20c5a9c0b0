// state_index: a sorted vector of 32-byte slots keyed on a 64-bit path hash.
#include <algorithm>
#include <atomic>
#include <functional>

#include "state_index_impl.hpp"

namespace ximup {
namespace {

std::uint64_t default_path_hash(std::string_view path) noexcept {
  return static_cast<std::uint64_t>(std::hash<std::string_view>{}(path));
}

std::atomic<detail::path_hash_fn> current_hash{&default_path_hash};

}  // namespace

namespace detail {
path_hash_fn set_state_index_hash(path_hash_fn fn) noexcept {
  return current_hash.exchange(fn != nullptr ? fn : &default_path_hash);
}
}  // namespace detail

void state_index::impl::add(std::string_view path, const input_record& record, bool with_hashes) {
  if (hash_fn == nullptr) hash_fn = current_hash.load();
  slot s{hash_fn(path), record.size, record.mtime_ns, no_digest, static_cast<std::uint8_t>(record.status)};
  if (with_hashes && record.content_hash) {
    s.digest = static_cast<std::uint32_t>(digests.size());
    digests.push_back(*record.content_hash);
  }
  slots.push_back(s);
  ++count;
}

std::unordered_set<std::uint64_t> state_index::impl::finish() {
  if (hash_fn == nullptr) hash_fn = current_hash.load();
  std::sort(slots.begin(), slots.end(), [](const slot& a, const slot& b) { return a.hash < b.hash; });
  std::unordered_set<std::uint64_t> shared;
  // Keep one slot per hash; a shared hash keeps a `collided` slot and its paths go to `colliding`.
  std::size_t out = 0;
  for (std::size_t i = 0; i < slots.size(); ++i) {
    if (out > 0 && slots[out - 1].hash == slots[i].hash) {
      slots[out - 1].status = collided;
      shared.insert(slots[i].hash);
      continue;
    }
    slots[out++] = slots[i];
  }
  slots.resize(out);
  slots.shrink_to_fit();
  digests.shrink_to_fit();
  return shared;
}

void state_index::impl::add_colliding(const std::unordered_set<std::uint64_t>& hashes, std::string_view path,
                                      const input_record& record) {
  if (hashes.contains(hash_fn(path))) colliding.emplace(std::string(path), record);
}

input_record state_index::impl::record_of(const slot& s) const {
  input_record r;
  r.size = s.size;
  r.mtime_ns = s.mtime_ns;
  r.status = static_cast<input_status>(s.status);
  if (s.digest != no_digest) r.content_hash = digests[s.digest];
  return r;
}

state_index::state_index() : impl_(std::make_unique<impl>()) {}
state_index::~state_index() = default;
state_index::state_index(state_index&&) noexcept = default;
state_index& state_index::operator=(state_index&&) noexcept = default;

std::optional<input_record> state_index::find(std::string_view path) const {
  if (!impl_ || impl_->slots.empty()) return std::nullopt;
  const std::uint64_t h = impl_->hash_fn(path);
  const auto it = std::lower_bound(impl_->slots.begin(), impl_->slots.end(), h,
                                   [](const impl::slot& s, std::uint64_t key) { return s.hash < key; });
  if (it == impl_->slots.end() || it->hash != h) return std::nullopt;
  if (it->status == impl::collided) {
    const auto found = impl_->colliding.find(std::string(path));
    if (found == impl_->colliding.end()) return std::nullopt;
    return found->second;
  }
  return impl_->record_of(*it);
}

std::size_t state_index::size() const noexcept {
  return impl_ ? impl_->count : 0;
}

std::size_t state_index::memory_bytes() const noexcept {
  if (!impl_) return 0;
  std::size_t bytes =
      impl_->slots.capacity() * sizeof(impl::slot) + impl_->digests.capacity() * sizeof(sha256_digest);
  for (const auto& [path, record] : impl_->colliding) bytes += path.capacity() + sizeof(record) + 32;
  return bytes;
}

}  // namespace ximup
