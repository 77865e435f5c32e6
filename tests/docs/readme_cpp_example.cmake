# The README's "Using it from C++" block, as written, made into a program the
# tests run (twice, on one store: the example must be safe to run again).
# Its statements become the body of main(); what follows them waits for the
# run it started and exits 0 only when that run completed.
set(readme "${PROJECT_SOURCE_DIR}/README.md")
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${readme}")
file(READ "${readme}" text)
set(heading "## Using it from C++\n\n```cpp\n")
string(FIND "${text}" "${heading}" at)
if(at EQUAL -1)
  message(FATAL_ERROR "README.md has no \"## Using it from C++\" section opening with a cpp block")
endif()
string(LENGTH "${heading}" heading_length)
math(EXPR at "${at} + ${heading_length}")
string(SUBSTRING "${text}" ${at} -1 text)
string(FIND "${text}" "```" end)
string(SUBSTRING "${text}" 0 ${end} block)
# Includes go to file scope; the rest, using-directive included, into main().
string(REGEX MATCHALL "#include[^\n]*\n" file_scope "${block}")
string(REGEX REPLACE "#include[^\n]*\n" "" body "${block}")
string(JOIN "" file_scope ${file_scope})
set(source "// Generated from README.md by tests/docs/readme_cpp_example.cmake: do not edit.
#include <chrono>
#include <cstdio>
#include <thread>
${file_scope}
int main() {
${body}
  for (int i = 0; i < 1200; ++i) {
    auto now = engine->get(run.id);
    if (is_finished(now.status)) {
      std::fprintf(stderr, \"readme example: run %s is %s\\n\", run.id.c_str(), to_string(now.status));
      return now.status == RunStatus::completed ? 0 : 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  std::fprintf(stderr, \"readme example: run %s did not finish in 60 s\\n\", run.id.c_str());
  return 2;
}
")
file(CONFIGURE OUTPUT "${CMAKE_CURRENT_BINARY_DIR}/readme_cpp_example.cc" CONTENT "${source}" @ONLY)
add_executable(readme_cpp_example "${CMAKE_CURRENT_BINARY_DIR}/readme_cpp_example.cc")
target_link_libraries(readme_cpp_example PRIVATE storyloom_core)
add_test(NAME DocsReadme.TheCppExampleRunsTwiceAndItsRunCompletes
         COMMAND sh -c "rm -rf readme_cpp && mkdir readme_cpp && cd readme_cpp && \"$0\" && \"$0\""
                 $<TARGET_FILE:readme_cpp_example>
         WORKING_DIRECTORY "${CMAKE_CURRENT_BINARY_DIR}")
set_tests_properties(DocsReadme.TheCppExampleRunsTwiceAndItsRunCompletes PROPERTIES TIMEOUT 180)
