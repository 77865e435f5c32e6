// What belongs to the library as a whole: its version and its allocator.
#include <cstdlib>

#include "storyloom/storyloom.h"

extern "C" {

SL_API const char* sl_version(void) { return SL_VERSION_STRING; }

// Every buffer handed out comes from std::malloc (see copy_out in args.cc).
SL_API void sl_free(void* buffer) { std::free(buffer); }

}  // extern "C"
