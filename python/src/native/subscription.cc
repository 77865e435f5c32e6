// The Subscription class of storyloom._native.
#include "subscription.h"

namespace storyloom_native {

void bind_subscription(py::module_& m) {
  py::class_<Subscription>(m, "Subscription")
      .def("next", &Subscription::next, py::arg("timeout_s"))
      .def("next_batch", &Subscription::next_batch, py::arg("timeout_s"), py::arg("max_events"))
      .def("close", &Subscription::close);
}

}  // namespace storyloom_native
