// The Inbox class of storyloom._native.
#include "outcomes.h"

namespace storyloom_native {

void bind_outcomes(py::module_& m) {
  py::class_<Inbox, std::shared_ptr<Inbox>>(m, "Inbox")
      .def(py::init<>())
      .def("next_batch", &Inbox::next_batch, py::arg("timeout_s"), py::arg("max_outcomes"))
      .def("close", &Inbox::close)
      .def_property_readonly("closed", &Inbox::closed);
}

}  // namespace storyloom_native
