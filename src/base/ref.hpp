// Ref<T>: an owning pointer to an intrusively refcounted object (kref / get_file / fput).
//
// T provides get() and put(); Ref calls them. A raw T* is a borrowed, non-owning pointer.
#pragma once

#include <utility>

namespace ustack {

template <class T>
class Ref {
 public:
  Ref() = default;
  // Adopts a reference the caller already holds (no get()).
  static Ref adopt(T* p) {
    Ref r;
    r.p_ = p;
    return r;
  }
  Ref(const Ref& o) : p_(o.p_) {
    if (p_) p_->get();
  }
  Ref(Ref&& o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
  Ref& operator=(Ref o) noexcept {
    std::swap(p_, o.p_);
    return *this;
  }
  ~Ref() {
    if (p_) p_->put();
  }
  T* get() const { return p_; }
  T* operator->() const { return p_; }
  T& operator*() const { return *p_; }
  explicit operator bool() const { return p_ != nullptr; }
  // Gives up ownership without put(): the caller now owns the reference.
  T* release() { return std::exchange(p_, nullptr); }

 private:
  T* p_ = nullptr;
};

}  // namespace ustack
